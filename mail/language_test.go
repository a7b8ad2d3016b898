package mail

import (
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/marbelle/marbelle/i18n"
)

var catalogueKey = regexp.MustCompile(`\bmail\.[a-z_]+\.[a-z_]+`)

// TestEveryMailInEveryLanguage: every kind renders in every built-in
// language with sample data, with no placeholder, catalogue key or
// "<no value>" left; a German mail's text holds no English sentence of the
// catalogue, neither in its text nor in its HTML, which says lang="de".
func TestEveryMailInEveryLanguage(t *testing.T) {
	cat, err := i18n.Load("")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewComposerWith(nil, cat)
	if err != nil {
		t.Fatal(err)
	}
	var english []string
	for _, key := range cat.Keys(i18n.English) {
		if !strings.HasPrefix(key, "mail.") {
			continue
		}
		for _, src := range cat.Sources(i18n.English, key) {
			for _, f := range i18n.Fragments(src) {
				f = strings.TrimSpace(strings.Trim(f, " .,:;?!()"))
				if len(strings.Fields(f)) >= 3 && !strings.Contains(strings.Join(cat.Sources("de", key), " "), f) {
					english = append(english, f)
				}
			}
		}
	}
	if len(english) < 40 {
		t.Fatalf("only %d English mail sentences: the scan is broken", len(english))
	}
	for _, lang := range cat.Languages() {
		for _, spec := range kindSpecs() {
			d := SampleData()
			d.Language = lang
			m, err := c.Compose(spec.kind, "shop@example.test", "ann@example.test", d)
			if err != nil {
				t.Fatalf("%s %s: %v", lang, spec.kind, err)
			}
			for part, body := range map[string]string{"subject": m.Subject, "text": m.Text, "html": m.HTML} {
				for _, bad := range []string{"{{", "}}", "<no value>", "ZgotmplZ"} {
					if strings.Contains(body, bad) {
						t.Errorf("%s %s %s holds %q:\n%s", lang, spec.kind, part, bad, body)
					}
				}
				if key := catalogueKey.FindString(body); key != "" {
					t.Errorf("%s %s %s holds the key %q", lang, spec.kind, part, key)
				}
			}
			if lang != "de" {
				continue
			}
			if !strings.Contains(m.HTML, `<html lang="de">`) {
				t.Errorf("de %s: no <html lang=\"de\">", spec.kind)
			}
			for _, s := range english {
				if strings.Contains(m.Subject+"\n"+m.Text+"\n"+html.UnescapeString(m.HTML), s) {
					t.Errorf("de %s: English %q in:\n%s\n%s\n%s", spec.kind, s, m.Subject, m.Text, m.HTML)
				}
			}
		}
	}
}
