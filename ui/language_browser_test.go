package ui_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/marbelle/marbelle/i18n"
)

// englishSentences are the texts of the English catalogue (UI strings and
// API messages) that a German page must never show: every fragment
// between placeholders of at least two words, where German says it
// differently.
func englishSentences(t *testing.T) []string {
	t.Helper()
	cat, err := i18n.Load("")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, key := range cat.Keys(i18n.English) {
		if !strings.HasPrefix(key, "ui.") && !strings.HasPrefix(key, "api.") {
			continue
		}
		german := strings.Join(cat.Sources("de", key), "\n")
		for _, text := range cat.Sources(i18n.English, key) {
			for _, f := range i18n.Fragments(text) {
				f = strings.TrimSpace(strings.Trim(f, " .,:;?!()“”"))
				if len(strings.Fields(f)) >= 2 && len(f) >= 10 && !strings.Contains(german, f) {
					out = append(out, f)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// noEnglish fails when the page shows an English sentence of the catalogue.
func (b *browser) noEnglish(sentences []string) {
	b.t.Helper()
	text := b.pageText()
	for _, s := range sentences {
		if strings.Contains(text, s) {
			b.t.Errorf("%s: the German page shows the English %q:\n%s", eval[string](b, `location.pathname`), s, text)
		}
	}
	if lang := eval[string](b, `document.documentElement.lang`); lang != "de" {
		b.t.Errorf("<html lang=%q>, want de", lang)
	}
}

// switchToGerman uses the header's switcher, which also sets a signed-in
// account's language, and waits for the reload it starts (choose would
// read the select back, but the page is already on its way to
// /i18n/choose).
func (b *browser) switchToGerman() {
	b.t.Helper()
	b.do("switch to German", chromedp.Evaluate[chromedp.Void](`(e => { e.value = "de"; e.dispatchEvent(new Event("change", { bubbles: true })); })(document.querySelector("#language-select"))`))
	time.Sleep(time.Second) // the switcher reloads the page: let that navigation end
}

// TestBrowserGermanJourney: a visitor switches the page to German and
// walks register → verify → login → addresses; every page is German (no
// English sentence of the catalogue on it), the API's messages too, the
// account is made in German, and addresses show the postal code first.
func TestBrowserGermanJourney(t *testing.T) {
	chromiumPath(t)
	english := englishSentences(t)
	if len(english) < 150 {
		t.Fatalf("only %d English sentences to look for: the catalogue scan is broken", len(english))
	}
	base := startServer(t)
	b := newBrowser(t, base)

	b.open("/")
	b.see("Welcome to " + siteName)
	b.switchToGerman()
	b.open("/")
	b.waitFor(`document.documentElement.lang === "de"`, "the page in German")
	b.see("Willkommen bei " + siteName)
	b.noEnglish(english)

	b.press("main", "Konto anlegen")
	b.see("Speichern Sie Ihre Lieferadressen")
	b.noEnglish(english)
	b.fill("#register [name=first_name]", "Jürgen")
	b.fill("#register [name=last_name]", "Weiß")
	b.fill("#register [name=email]", "juergen@example.test")
	b.fill("#register [name=password]", "x")
	b.press("#register", "Konto anlegen")
	b.see("Bitte korrigieren Sie die markierten Felder.") // the API's message, in German
	b.see("Bitte verwenden Sie mindestens 8 Zeichen.")
	b.noEnglish(english)
	b.fill("#register [name=password]", password)
	b.press("#register", "Konto anlegen")
	b.see("Sehen Sie in Ihr Postfach")
	b.see("Vielen Dank für Ihre Registrierung.")
	b.noEnglish(english)

	// The verification link, from the captured mail.
	body := eval[string](b, `fetch("/api/v1/dev/mail").then(r => r.json()).then(e => e.data[0].text)`)
	link := regexp.MustCompile(`/verify-email\?token=[\w-]+`).FindString(body)
	if link == "" {
		t.Fatalf("no verification link in the mail:\n%s", body)
	}
	b.open(link)
	b.see("Ihre E-Mail-Adresse ist bestätigt. Sie können sich jetzt anmelden.")
	b.noEnglish(english)

	b.open("/login")
	b.see("Willkommen zurück bei " + siteName + ".")
	b.waitFor(`document.querySelector("#passkey-login")`, "the passkey button")
	b.see("Mit einem Passkey anmelden")
	b.noEnglish(english)
	b.fill("#login [name=email]", "juergen@example.test")
	b.fill("#login [name=password]", "wrong password 123")
	b.press("#login", "Anmelden")
	b.see("E-Mail-Adresse oder Passwort ist nicht korrekt.")
	b.fill("#login [name=password]", password)
	b.press("#login", "Anmelden")
	b.see("Sie sind angemeldet.")
	b.see("Hallo Jürgen.")
	b.noEnglish(english)
	if lang := eval[string](b, `fetch("/api/v1/auth/profile").then(r => r.json()).then(e => e.data.language)`); lang != "de" {
		t.Errorf("the account's language: %q, want de (from the page at registration)", lang)
	}

	b.press("#nav", "Adressen")
	b.see("0 von 10 Adressen")
	b.noEnglish(english)
	b.press("main", "Adresse hinzufügen")
	b.fill("#address-form [name=label]", "Zuhause")
	b.fill("#address-form [name=street_address]", "Unter den Linden 1")
	b.fill("#address-form [name=postal_code]", "10117")
	b.fill("#address-form [name=city]", "Berlin")
	b.fill("#address-form [name=phone]", "+49 30 1234567")
	b.choose("#address-form [name=country]", "DE")
	b.press("#address-form", "Adresse speichern")
	b.see("Die Adresse wurde gespeichert.")
	b.see("10117 Berlin") // the postal code first, as in Germany
	b.see("Deutschland")
	b.see("0301234567") // national: the default region is DE
	b.noEnglish(english)

	// The security page's sign-in methods (#18) and providers (#19).
	b.press("#nav", "Sicherheit")
	b.see("Anmeldemethoden")
	b.see("Authenticator-App einrichten")
	b.see("Passkey hinzufügen")
	b.noEnglish(english)
}
