package i18n

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func load(t testing.TB, dir string) *Catalogue {
	t.Helper()
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCataloguesHaveTheSameKeys: every key of one built-in catalogue is in
// every other, so no language falls back to English anywhere.
func TestCataloguesHaveTheSameKeys(t *testing.T) {
	c := load(t, "")
	en := c.Keys(English)
	if len(en) == 0 {
		t.Fatal("English catalogue is empty")
	}
	for _, lang := range c.Languages() {
		have := map[string]bool{}
		for _, k := range c.Keys(lang) {
			have[k] = true
		}
		for _, k := range en {
			if !have[k] {
				t.Errorf("%s.json lacks %q", lang, k)
			}
			delete(have, k)
		}
		for k := range have {
			t.Errorf("%s.json has %q, which en.json lacks", lang, k)
		}
	}
}

// TestPlaceholdersMatch: a translation uses the placeholders its English
// text has, no more and no fewer (in any order).
func TestPlaceholdersMatch(t *testing.T) {
	c := load(t, "")
	for _, lang := range c.Languages() {
		for key, m := range c.messages[lang] {
			want := names(c.messages[English][key].Other)
			for _, s := range []string{m.Other, m.One} {
				if s != "" && names(s) != want {
					t.Errorf("%s %s: placeholders %q, English has %q", lang, key, names(s), want)
				}
			}
		}
	}
}

func names(s string) string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out) // a translation may put them in another order
	return strings.Join(slices.Compact(out), ",")
}

func TestTranslate(t *testing.T) {
	c := load(t, "")
	for _, tc := range []struct{ lang, in, want string }{
		{"de", "Please log in.", "Bitte melden Sie sich an."},
		{"en", "Please log in.", "Please log in."},
		{"de", "No catalogue has this.", "No catalogue has this."},
		{"de", "1 session ended.", "1 Sitzung beendet."},
		{"de", "3 sessions ended.", "3 Sitzungen beendet."},
		{"de", "Too many requests. Please try again in 1 seconds.", "Zu viele Anfragen. Bitte versuchen Sie es in 1 Sekunde erneut."},
		{"de", "Use at most 150 characters.", "Bitte verwenden Sie höchstens 150 Zeichen."},
		{"xx", "Please log in.", "Please log in."},
	} {
		if got := c.Translate(tc.lang, tc.in); got != tc.want {
			t.Errorf("Translate(%s, %q) = %q, want %q", tc.lang, tc.in, got, tc.want)
		}
	}
}

func TestMatchAcceptLanguage(t *testing.T) {
	c := load(t, "")
	for _, tc := range []struct {
		header string
		want   string
		ok     bool
	}{
		{"de-DE,de;q=0.9,en;q=0.8", "de", true},
		{"fr-FR, en;q=0.5, de;q=0.7", "de", true},
		{"en-GB", "en", true},
		{"fr", "", false},
		{"", "", false},
		{"de;q=nonsense,,;;", "", false},
		{strings.Repeat("x", 5000), "", false},
		{"*", "", false},
	} {
		got, ok := c.Match(tc.header)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Match(%.30q) = %q %v, want %q %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}

// TestThirdLanguageIsOneFile: a shop adds a language by putting one file
// in a directory (docs/languages.md); nothing else changes.
func TestThirdLanguageIsOneFile(t *testing.T) {
	dir := t.TempDir()
	fr := `{"api.error.unauthenticated": "Veuillez vous connecter.",
	"api.admin.sessions_ended": {"one": "{{.Count}} session terminée.", "other": "{{.Count}} sessions terminées."},
	"ui.nav.login": "Connexion"}`
	if err := os.WriteFile(filepath.Join(dir, "fr.json"), []byte(fr), 0o600); err != nil {
		t.Fatal(err)
	}
	c := load(t, dir)
	if !c.Has("fr") || c.Languages()[0] != English {
		t.Fatalf("languages %v", c.Languages())
	}
	if got := c.Translate("fr", "Please log in."); got != "Veuillez vous connecter." {
		t.Errorf("fr: %q", got)
	}
	// French plural rules: 0 and 1 are "one".
	if got := c.Translate("fr", "0 sessions ended."); got != "0 session terminée." {
		t.Errorf("fr plural: %q", got)
	}
	// A key the new file lacks falls back to English.
	if got := c.Translate("fr", "Your profile."); got != "Your profile." {
		t.Errorf("fr fallback: %q", got)
	}
	// T and N fall back to English for keys the file lacks, plain or with
	// placeholders, and for a language no file has.
	for _, tc := range []struct{ lang, key, want string }{
		{"fr", "ui.nav.login", "Connexion"},
		{"fr", "ui.page.nav", "Account"},
		{"fr", "api.notice.passkey_added", "A passkey (Yubi) was added."},
		{"xx", "ui.page.nav", "Account"},
		{"xx", "api.notice.passkey_added", "A passkey (Yubi) was added."},
	} {
		if got := c.T(tc.lang, tc.key, map[string]any{"Name": "Yubi"}); got != tc.want {
			t.Errorf("T(%s, %s) = %q, want %q", tc.lang, tc.key, got, tc.want)
		}
	}
	if got := c.N("fr", "api.admin.sessions_ended", 3, nil); got != "3 sessions terminées." {
		t.Errorf("N(fr): %q", got)
	}
	if got, ok := c.Match("fr-CH, de;q=0.5"); got != "fr" || !ok {
		t.Errorf("Match: %q", got)
	}
	if !strings.Contains(string(c.UI("fr")), `"nav.login":"Connexion"`) {
		t.Errorf("UI(fr) = %s", c.UI("fr"))
	}
}

func TestBadFileIsRefused(t *testing.T) {
	for name, body := range map[string]string{"fr.json": "{", "french.json": `{"a": "b"}`} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600)
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err %v, want one naming the file", name, err)
		}
	}
}

// BenchmarkChooseAndTranslate is one answer's language work: an
// Accept-Language header matched, and a message translated.
func BenchmarkChooseAndTranslate(b *testing.B) {
	c := load(b, "")
	b.ReportAllocs()
	for b.Loop() {
		lang, _ := c.Match("de-DE,de;q=0.9,en;q=0.8")
		if c.Translate(lang, "Your addresses.") != "Ihre Adressen." {
			b.Fatal("not translated")
		}
	}
}

// BenchmarkTranslatePattern is a formatted message found by its pattern.
func BenchmarkTranslatePattern(b *testing.B) {
	c := load(b, "")
	b.ReportAllocs()
	for b.Loop() {
		c.Translate("de", "Too many requests. Please try again in 30 seconds.")
	}
}
