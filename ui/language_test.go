package ui

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/marbelle/marbelle/i18n"
)

func languageConfig() Config {
	strs := map[string]string{"en": `{"k":"Hello"}`, "de": `{"k":"Hallo"}`}
	return Config{SiteName: "Shop", Languages: []string{"en", "de"}, DefaultLanguage: "en",
		Strings: func(l string) []byte {
			if s, ok := strs[l]; ok {
				return []byte(s)
			}
			return nil
		},
		Match: func(h string) (string, bool) {
			if strings.HasPrefix(h, "de") {
				return "de", true
			}
			return "", false
		}}
}

// TestPageLanguage: /i18n/page.json answers the switcher's cookie, else
// Accept-Language, else the default, with that language's strings.
func TestPageLanguage(t *testing.T) {
	h := Handler(languageConfig())
	for _, tc := range []struct {
		header []string
		want   string
	}{
		{nil, "en"},
		{[]string{"Accept-Language", "de-DE"}, "de"},
		{[]string{"Accept-Language", "de-DE", "Cookie", languageCookie + "=en"}, "en"},
		{[]string{"Cookie", languageCookie + "=xx"}, "en"},
	} {
		res := get(t, h, "GET", "/i18n/page.json", tc.header...)
		var page struct {
			Language  string            `json:"language"`
			Languages []string          `json:"languages"`
			Strings   map[string]string `json:"strings"`
		}
		if err := json.Unmarshal([]byte(body(t, res)), &page); err != nil || page.Language != tc.want || len(page.Languages) != 2 {
			t.Fatalf("%v: %+v, %v", tc.header, page, err)
		}
		if want := map[string]string{"en": "Hello", "de": "Hallo"}[tc.want]; page.Strings["k"] != want {
			t.Errorf("%v: strings %v", tc.header, page.Strings)
		}
	}
}

// TestLanguageSwitcherStaysOnSite: /i18n/choose keeps a known language in
// a cookie and returns only to a path of this site (no open redirect).
func TestLanguageSwitcherStaysOnSite(t *testing.T) {
	h := Handler(languageConfig())
	for next, want := range map[string]string{
		"/account/addresses?x=1": "/account/addresses?x=1", "//evil.example/": "/", "https://evil.example/": "/",
		`/\evil.example`: "/", "": "/", "javascript:alert(1)": "/",
	} {
		res := get(t, h, "GET", "/i18n/choose?language=de&next="+strings.ReplaceAll(next, "&", "%26"))
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
			t.Errorf("next %q: %d to %q, want %q", next, res.StatusCode, res.Header.Get("Location"), want)
		}
	}
	res := get(t, h, "GET", "/i18n/choose?language=de&next=/")
	if c := res.Cookies(); len(c) != 1 || c[0].Value != "de" || !c[0].HttpOnly || c[0].SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie: %v", c)
	}
	if c := get(t, h, "GET", "/i18n/choose?language=xx&next=/").Cookies(); len(c) != 0 {
		t.Errorf("an unknown language set a cookie: %v", c)
	}
}

// TestEveryUIKeyIsInTheCatalogues: every t("key") of the scripts, every
// data-i18n(-label) of the page and every audit event name has a "ui." string in
// every built-in catalogue, so no page shows a bare key.
func TestEveryUIKeyIsInTheCatalogues(t *testing.T) {
	cat, err := i18n.Load("")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	scripts, _ := fs.Glob(files, "embed/assets/*.js")
	for _, p := range append(scripts, "embed/index.html") {
		src, _ := fs.ReadFile(files, p)
		for _, m := range regexp.MustCompile(`\bt\("([\w.]+)"|data-i18n(?:-label)?="([\w.]+)"`).FindAllStringSubmatch(string(src), -1) {
			if k := m[1] + m[2]; !strings.HasSuffix(k, ".") { // t("event." + e): the event names, below
				keys[k] = p
			}
		}
		if m := regexp.MustCompile(`EVENTS = Object\.fromEntries\(\("([\w ]+)"\)`).FindStringSubmatch(string(src)); m != nil {
			for _, e := range strings.Fields(m[1]) {
				keys["event."+e] = p
			}
		}
		if m := regexp.MustCompile(`reasons = new Set\("([\w ]+)"`).FindStringSubmatch(string(src)); m != nil {
			for _, e := range strings.Fields(m[1]) { // t("providers.error." + reason)
				keys["providers.error."+e] = p
			}
		}
	}
	if len(keys) < 200 {
		t.Fatalf("found only %d keys: the scan is broken", len(keys))
	}
	for _, lang := range cat.Languages() {
		have := map[string]bool{}
		for _, k := range cat.Keys(lang) {
			have[k] = true
		}
		for k, where := range keys {
			if !have["ui."+k] {
				t.Errorf("%s: %s.json has no ui.%s", where, lang, k)
			}
		}
	}
}

// TestScriptsShowNoLiteralEnglish: no script writes an English sentence of
// its own for people to read (the staff pages of admin.js included): a
// quoted text that starts like a word or sentence ("Users", "No mail.") or
// a template whose fixed parts hold two words is a string that missed t().
// Comments are left out; class names, paths and ids are lower case; names
// (of browsers, systems, the site's fallback) are no words to translate.
func TestScriptsShowNoLiteralEnglish(t *testing.T) {
	comment := regexp.MustCompile(`(?m)^\s*//.*$|\s//\s.*$`)
	sentence := regexp.MustCompile(`"[A-Z][a-z]+(?:[ ,.:?!…][^"\n]*)?"`)
	names := map[string]bool{`"Shop"`: true, `"Edge"`: true, `"Opera"`: true, `"Firefox"`: true, `"Chrome"`: true,
		`"Safari"`: true, `"Android"`: true, `"Windows"`: true, `"Linux"`: true}
	template := regexp.MustCompile("`[^`\n]*`")
	hole := regexp.MustCompile(`\$\{[^}]*\}`)
	words := regexp.MustCompile(`[A-Za-z]{2,} [A-Za-z]{2,}`)
	scripts, _ := fs.Glob(files, "embed/assets/*.js")
	if !slices.Contains(scripts, "embed/assets/admin.js") {
		t.Fatalf("admin.js not among %v", scripts)
	}
	for _, p := range scripts {
		src, _ := fs.ReadFile(files, p)
		code := comment.ReplaceAllString(string(src), "")
		for _, s := range sentence.FindAllString(code, -1) {
			if names[s] {
				continue
			}
			t.Errorf("%s: %s is not from the catalogue", p, s)
		}
		for _, s := range template.FindAllString(code, -1) {
			if fixed := hole.ReplaceAllString(s, ""); words.MatchString(fixed) {
				t.Errorf("%s: %s is not from the catalogue", p, s)
			}
		}
	}
}

// TestEveryAdminKeyIsUsed: the catalogues hold no ui.admin.* string that
// admin.js no longer shows (a dead key would still be translated by hand).
func TestEveryAdminKeyIsUsed(t *testing.T) {
	cat, err := i18n.Load("")
	if err != nil {
		t.Fatal(err)
	}
	src, _ := fs.ReadFile(files, "embed/assets/admin.js")
	n := 0
	for _, k := range cat.Keys(i18n.English) {
		if key, ok := strings.CutPrefix(k, "ui."); ok && strings.HasPrefix(key, "admin.") {
			n++
			if !strings.Contains(string(src), `t("`+key+`"`) {
				t.Errorf("%s is in the catalogue, but admin.js does not use it", k)
			}
		}
	}
	if n < 150 {
		t.Errorf("only %d ui.admin.* keys: the staff pages are not translated", n)
	}
}
