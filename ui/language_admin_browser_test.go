package ui_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// noEnglishHidden is noEnglish for what the visible text leaves out: the
// aria-labels, the chart's bar titles and the table in a closed <details>.
func (b *browser) noEnglishHidden(sentences []string) {
	b.t.Helper()
	text := eval[string](b, `[...document.querySelectorAll("#view [aria-label]")].map(e => e.getAttribute("aria-label")).join("\n") + "\n" + document.querySelector("#view").textContent`)
	for _, s := range sentences {
		if strings.Contains(text, s) {
			b.t.Errorf("%s: the German page hides the English %q in a label or closed part", eval[string](b, `location.pathname`), s)
		}
	}
}

// german checks a staff page both ways: no English sentence of the
// catalogue, shown or hidden.
func (b *browser) german(sentences []string) {
	b.t.Helper()
	b.noEnglish(sentences)
	b.noEnglishHidden(sentences)
}

// column is the text of one column of the first table on the page.
func (b *browser) column(n string) []string {
	b.t.Helper()
	return eval[[]string](b, `[...document.querySelectorAll(".table-wrap tbody tr td:nth-child(`+n+`)")].map(e => e.textContent)`)
}

// TestBrowserGermanAdmin (issue 20): a staff member who chose German walks
// every staff page (dashboard, users, one user with its actions, audit
// log, outbox with the test email, API keys, webhooks); no English
// sentence of the catalogue shows or hides on them, counts take German
// plural forms, status words are German, dates are German.
func TestBrowserGermanAdmin(t *testing.T) {
	english := englishSentences(t)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer receiver.Close()
	base, b := newStaffBrowser(t, "MARBELLE_STAFF_MFA", "optional")
	c := newCustomer(t, base, "karla@example.test", "Karla")
	c.addAddress("Zuhause", "Unter den Linden 1", "10117", "Berlin", "DE")

	b.see("Sign-ups in the last 30 days")
	b.switchToGerman()

	// Dashboard.
	b.open("/admin")
	b.waitFor(`document.documentElement.lang === "de"`, "the page in German")
	b.see("Registrierungen der letzten 30 Tage")
	b.see("2 Registrierungen in den letzten 30 Tagen, die meisten am ")
	b.see("Sicherung herunterladen")
	if got := eval[string](b, `[...document.querySelectorAll(".stats dt, .stats dd")].map(e => e.textContent).join(" ")`); got != "Benutzer 2 Bestätigt 2 Nicht bestätigt 0" {
		t.Errorf("counts: %q", got)
	}
	if got := eval[string](b, `[...document.querySelectorAll(".subnav a")].map(e => e.textContent).join(", ")`); got != "Übersicht, Benutzer, Prüfprotokoll, Postausgang, API-Schlüssel, Webhooks" {
		t.Errorf("admin menu: %q", got)
	}
	b.german(english)

	// Users: German plural, page count and dates.
	b.press(".subnav", "Benutzer")
	b.see("2 Benutzer")
	b.see("Seite 1 von 1")
	if joined := b.column("4"); len(joined) != 2 || !regexp.MustCompile(`^\d{1,2}\. [A-ZÄÖÜ][a-zäöü]+ \d{4}$`).MatchString(joined[0]) {
		t.Errorf("joined dates %q, want German long dates", joined)
	}
	b.german(english)
	b.fill(".filters [name=q]", "karla")
	b.press(".filters", "Benutzer suchen")
	b.see("Suchergebnis für „karla“")
	b.see("1 Benutzer")
	b.german(english)

	// One user: facts, actions and their answers, the delete question.
	b.press(".table-wrap", "karla@example.test")
	b.see("Karla Tester")
	b.see("1 aktive Sitzung")
	b.see("Versendete Links")
	b.see("E-Mail-Bestätigung") // the mailed link's kind
	b.see("10117 Berlin")
	b.german(english)
	b.press("main", "Alle Sitzungen beenden")
	b.see("1 Sitzung beendet.")
	b.see("0 aktive Sitzungen")
	b.press("main", "Angaben bearbeiten")
	b.see("Angaben speichern")
	b.german(english)
	b.press("#user-form", "Abbrechen")
	b.press("main", "Deaktivieren")
	b.see("karla@example.test ist deaktiviert und auf allen Geräten abgemeldet.")
	b.see("Deaktiviert: Anmeldung nicht möglich")
	b.press("main", "Benutzer löschen …")
	b.see("karla@example.test mit allen Adressen, Sitzungen und Links löschen?")
	b.german(english)
	b.press(".confirm", "Abbrechen")

	// Audit log: event names for people, German counts.
	b.press("main", "Prüfprotokoll dieses Benutzers")
	b.see("Konto von Mitarbeitenden deaktiviert")
	b.german(english)
	b.open("/admin/audit?limit=1")
	b.choose(".filters [name=event]", "login")
	b.press(".filters", "Ereignisse anzeigen")
	b.see("1 Ereignis.")
	b.press("main", "Ältere Ereignisse")
	b.see("2 Ereignisse.")
	b.german(english)

	// Outbox: status words, the test email.
	b.press(".subnav", "Postausgang")
	b.waitFor(`document.querySelector(".table-wrap[aria-label='Ausgehende E-Mails'] tbody tr")`, "the mail listed")
	for _, s := range b.column("4") {
		if !regexp.MustCompile(`^(Gesendet|Wartend|Fehlgeschlagen)`).MatchString(s) {
			t.Errorf("outbox status %q, want a German status word", s)
		}
	}
	b.german(english)
	b.fill("#mail-test-form [name=to]", "pruefung@example.test")
	b.press("#mail-test-form", "Test-E-Mail senden")
	b.see("(pruefung@example.test über ")
	b.german(english)

	// API keys: made, shown once, listed, revoked after the question.
	b.press(".subnav", "API-Schlüssel")
	b.see("Noch keine API-Schlüssel.")
	b.fill("#key-form [name=name]", "Kasse")
	b.click(`#key-form [name="scope:users:read"]`)
	b.press("#key-form", "Schlüssel erstellen")
	b.see("Der Schlüssel „Kasse“ ist erstellt.")
	b.german(english)
	b.press("#new-key-box", "Gespeichert: Schlüssel ausblenden")
	b.see("Bis zum Widerruf")
	b.press(".table-wrap", "Widerrufen …")
	b.see("„Kasse“ widerrufen?")
	b.german(english)
	b.press(".confirm", "Schlüssel widerrufen")
	b.waitFor(`document.querySelector(".table-wrap .badge.off")?.textContent === "Widerrufen"`, "the key marked revoked")
	b.german(english)

	// Webhooks: an endpoint, its secret once, a test event's delivery.
	b.press(".subnav", "Webhooks")
	b.see("Noch keine Endpunkte.")
	b.fill("#webhook-form [name=url]", receiver.URL+"/hooks")
	b.click(`#webhook-form [name="event:*"]`)
	b.press("#webhook-form", "Endpunkt hinzufügen")
	b.see("Signaturschlüssel für " + receiver.URL + "/hooks")
	b.see("* · aktiv")
	b.german(english)
	b.press("section[aria-labelledby=hooks]", "Testereignis senden")
	b.see("webhook.test")
	// The answer's message names webhook.test too, before the deliveries
	// table is drawn: wait for its first row.
	b.waitFor(`document.querySelector(".table-wrap tbody tr td:nth-child(3)") !== null`, "the test delivery's row")
	if got := b.column("3"); len(got) == 0 || !regexp.MustCompile(`^(Ausstehend|Zugestellt|Fehlgeschlagen)$`).MatchString(got[0]) {
		t.Errorf("delivery status %q, want a German status word", got)
	}
	b.german(english)
}

// TestBrowserGermanStaffMFANotice (issue 20): with MARBELLE_STAFF_MFA=required
// a German staff member without a second factor reads why admin refuses
// them in German.
func TestBrowserGermanStaffMFANotice(t *testing.T) {
	english := englishSentences(t)
	_, b := newStaffBrowser(t, "MARBELLE_STAFF_MFA", "required")
	b.see("Staff accounts must sign in with a second factor")
	b.switchToGerman()
	b.open("/admin")
	b.see("Mitarbeiterkonten müssen sich mit einem zweiten Faktor anmelden.")
	b.german(english)
}
