package app

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marbelle/marbelle/mail"
)

// writeTemplate puts a shop's override file under dataDir/templates.
func writeTemplate(t *testing.T, dataDir, name, body string) {
	t.Helper()
	p := filepath.Join(dataDir, "templates", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBrokenOverrideFailsStartNamingIt: an override with a placeholder
// mail.Data lacks, bad syntax, a file that is no language, or a bad
// site.json stops the start with a TemplateError naming the file and the
// fault (main turns it into exit status 2).
func TestBrokenOverrideFailsStartNamingIt(t *testing.T) {
	for _, tc := range []struct {
		name, file, body string
		want             []string
	}{
		{"unknown placeholder", "mail/verify_email.txt", `{{define "subject"}}Hi{{end}}Your code: {{.Coupon}}`, []string{"verify_email.txt", "Coupon"}},
		{"unknown placeholder in HTML", "mail/password_reset.html", `{{template "top" .}}{{.ResetCode}}{{template "bottom" .}}`, []string{"password_reset.html", "ResetCode"}},
		{"syntax", "mail/layout.txt", `{{define "greeting"}}Hi {{.FirstName}`, []string{"layout.txt"}},
		{"catalogue", "i18n/fr.json", `{"api.error.unauthenticated": `, []string{"fr.json"}},
		{"site colour", "site.json", `{"colors": {"accent": "red; background: url(x)"}}`, []string{"site.json", "accent"}},
		{"site field", "site.json", `{"colours": {}}`, []string{"site.json", "colours"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			writeTemplate(t, cfg.DataDir, tc.file, tc.body)
			_, err := loadShop(cfg)
			var te *TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("got %v, want a TemplateError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v does not name %q", err, w)
				}
			}
		})
	}
}

// TestOverridesApply: a shop's mail template, reworded German message and
// site name, logo and colours are used without a rebuild.
func TestOverridesApply(t *testing.T) {
	cfg := testConfig(t)
	writeTemplate(t, cfg.DataDir, "mail/verify_email.txt", `{{define "subject"}}Willkommen bei {{.SiteName}}{{end}}Bitte bestätigen: {{.Link}}`)
	writeTemplate(t, cfg.DataDir, "i18n/de.json", `{"api.error.unauthenticated": "Bitte loggen Sie sich ein."}`)
	writeTemplate(t, cfg.DataDir, "site.json", `{"site_name": "Birke & Brombeere", "logo": "logo.svg", "colors": {"accent": "#8a3b00", "bg": "rgb(250, 250, 245)"}}`)
	writeTemplate(t, cfg.DataDir, "logo.svg", `<svg xmlns="http://www.w3.org/2000/svg"/>`)
	sh, err := loadShop(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := mail.SampleData()
	m, err := sh.composer.Compose(mail.KindVerifyEmail, "shop@example.test", "ann@example.test", d)
	if err != nil || m.Subject != "Willkommen bei "+d.SiteName || !strings.Contains(m.Text, "Bitte bestätigen: "+d.Link) {
		t.Errorf("mail override: %+v, %v", m, err)
	}
	if got := sh.catalogue.Translate("de", "Please log in."); got != "Bitte loggen Sie sich ein." {
		t.Errorf("reworded message: %q", got)
	}
	if got := sh.catalogue.Translate("de", "Your profile."); got != "Ihr Profil." {
		t.Errorf("the rest of German stays: %q", got)
	}
	ui := sh.uiConfig(cfg, false)
	if ui.SiteName != "Birke & Brombeere" || string(ui.Theme.CSS) != ":root{--accent:#8a3b00;--bg:rgb(250, 250, 245);}\n" || ui.Theme.LogoType != "image/svg+xml" {
		t.Errorf("site: %q %q %q", ui.SiteName, ui.Theme.CSS, ui.Theme.LogoType)
	}
	if ui.PhoneCC != "49" || ui.PhoneTrunk != "0" {
		t.Errorf("phone of the default region: %q %q", ui.PhoneCC, ui.PhoneTrunk)
	}
}
