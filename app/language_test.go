package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/marbelle/marbelle/app/internal/password"
	"github.com/marbelle/marbelle/i18n"
	"github.com/marbelle/marbelle/mail"
)

func acceptLanguage(v string) secOpt { return secHeader("Accept-Language", v) }

// TestLanguageOfAnswers: the account's language, else Accept-Language
// (q-values honoured), else MARBELLE_DEFAULT_LANGUAGE; a malformed header
// falls back without an error. Codes and field names never change.
func TestLanguageOfAnswers(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.client()
	for _, tc := range []struct{ header, want string }{
		{"", "Please log in."},
		{"de-DE,de;q=0.9,en;q=0.8", "Bitte melden Sie sich an."},
		{"en;q=0.3, de;q=0.7", "Bitte melden Sie sich an."},
		{"fr-FR, de;q=0.1", "Bitte melden Sie sich an."},
		{"de;q=nonsense;;,", "Please log in."},
		{"x" + strings.Repeat("-abcdefgh", 500), "Please log in."},
		{"fr", "Please log in."},
	} {
		r := c.secSend(t, "GET", "/api/v1/auth/profile", nil, acceptLanguage(tc.header)).want(t, 401, CodeUnauthenticated)
		if r.Env.Message != tc.want {
			t.Errorf("Accept-Language %.30q: message %q, want %q", tc.header, r.Env.Message, tc.want)
		}
	}
	// Field errors: German messages, the same field names.
	r := c.secSend(t, "POST", "/api/v1/auth/register", map[string]string{"email": "nope", "password": "x"}, acceptLanguage("de")).want(t, 400, CodeValidation)
	if r.Env.Message != "Bitte korrigieren Sie die markierten Felder." || r.Env.Errors["email"][0] != "Bitte geben Sie eine gültige E-Mail-Adresse ein." ||
		r.Env.Errors["password"][0] != "Bitte verwenden Sie mindestens 8 Zeichen." || r.Header.Get("Content-Language") != "de" {
		t.Errorf("German field errors: %s", r.Body)
	}

	de := newTestServer(t, func(c *Config) { c.DefaultLanguage = "de" })
	r = de.client().secSend(t, "GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	if r.Env.Message != "Bitte melden Sie sich an." {
		t.Errorf("default de: %q", r.Env.Message)
	}
	r = de.client().secSend(t, "GET", "/api/v1/auth/profile", nil, acceptLanguage("en-GB")).want(t, 401, CodeUnauthenticated)
	if r.Env.Message != "Please log in." {
		t.Errorf("default de, Accept-Language en: %q", r.Env.Message)
	}
}

// TestAccountLanguage: registration takes the page's language (else the
// request's); PATCH changes it, and it wins over Accept-Language; an
// unknown language is a 400 on the field language, for customers and staff.
func TestAccountLanguage(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.client()
	c.secSend(t, "POST", "/api/v1/auth/register", registerBody("ann@example.test", testPassword), acceptLanguage("de-AT")).want(t, 201, "")
	tok := ts.waitToken("ann@example.test", "verify-email", 1)
	c.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": tok}).want(t, 200, "")
	if u := secUser(t, ts, "ann@example.test"); u.Language != "de" {
		t.Fatalf("language from Accept-Language at registration: %q", u.Language)
	}
	body := registerBody("bob@example.test", testPassword)
	body["language"] = "en"
	c.secSend(t, "POST", "/api/v1/auth/register", body, acceptLanguage("de")).want(t, 201, "")
	if u := secUser(t, ts, "bob@example.test"); u.Language != "en" {
		t.Fatalf("language from the body: %q", u.Language)
	}
	body = registerBody("cy@example.test", testPassword)
	body["language"] = "klingon"
	if r := c.do("POST", "/api/v1/auth/register", body).want(t, 400, CodeValidation); len(r.Env.Errors["language"]) != 1 {
		t.Fatalf("register with an unknown language: %s", r.Body)
	}

	ann := ts.login("ann@example.test", testPassword)
	var p profile
	r := ann.secSend(t, "GET", "/api/v1/auth/profile", nil, acceptLanguage("en")).want(t, 200, "")
	if r.data(t, &p); p.Language != "de" || r.Env.Message != "Ihr Profil." {
		t.Errorf("the account's language wins over Accept-Language: %s", r.Body)
	}
	for _, bad := range []string{"xx", "", "english", "de_DE"} {
		r := ann.do("PATCH", "/api/v1/auth/profile", map[string]string{"language": bad}).want(t, 400, CodeValidation)
		if len(r.Env.Errors["language"]) != 1 || len(r.Env.Errors) != 1 {
			t.Errorf("PATCH language %q: %s", bad, r.Body)
		}
	}
	r = ann.do("PATCH", "/api/v1/auth/profile", map[string]string{"language": "en"}).want(t, 200, "")
	if r.data(t, &p); p.Language != "en" || r.Env.Message != "Your profile is saved." {
		t.Errorf("PATCH language en: %s", r.Body)
	}
	r = ann.secSend(t, "GET", "/api/v1/auth/profile", nil, acceptLanguage("de")).want(t, 200, "")
	if r.Env.Message != "Your profile." {
		t.Errorf("after the change: %s", r.Body)
	}

	// Staff may set a customer's language too, by the same rule.
	staff := ts.staff("staff@example.test")
	id := secUser(t, ts, "ann@example.test").ID.String()
	staff.do("PATCH", "/api/v1/admin/users/"+id, map[string]string{"language": "fr"}).want(t, 400, CodeValidation)
	staff.do("PATCH", "/api/v1/admin/users/"+id, map[string]string{"language": "DE"}).want(t, 200, "")
	if u := secUser(t, ts, "ann@example.test"); u.Language != "de" {
		t.Errorf("staff PATCH: %q", u.Language)
	}
}

// TestEveryAPIMessageIsInTheCatalogue: every message the code writes in
// English (error messages, field messages, success messages, the email
// and password checks) has a German translation, so no English sentence
// reaches a German client. A message added without a catalogue entry is
// named here.
func TestEveryAPIMessageIsInTheCatalogue(t *testing.T) {
	cat, err := i18n.Load("")
	if err != nil {
		t.Fatal(err)
	}
	msgs := apiMessages(t)
	for _, raw := range []string{"", "a@b", strings.Repeat("a", 300) + "@example.test", "a\u200b@example.test", "a@-bad-.example", "a b@example.test"} {
		if _, m := normalizeEmail(raw); m != "" {
			msgs[m] = "normalizeEmail"
		}
	}
	for _, pw := range []string{"short", strings.Repeat("x", password.MaxLength+1), "password123", "annsmith-secret-x", "annexample-x", "tab\x01control-chars"} {
		for _, m := range password.Check(pw, 8, "annexample@example.test", "Annsmith", "Lee") {
			msgs[m] = "password.Check"
		}
	}
	for _, m := range []string{rateLimited(1).Message, rateLimited(30 * 1e9).Message, errMissingScope("users:read").Message} {
		msgs[m] = "errors.go"
	}
	if len(msgs) < 100 {
		t.Fatalf("found only %d messages: the scan is broken", len(msgs))
	}
	for m, where := range msgs {
		if strings.Contains(m, "%") {
			continue // a format: checked with its values below
		}
		if got := cat.Translate("de", m); got == m {
			t.Errorf("%s: %q has no German translation (add it to i18n/catalogue/*.json)", where, m)
		}
	}
	if got := cat.Translate("de", "The request body is not valid JSON: syntax error at byte 3."); !strings.HasPrefix(got, "Der Anfragetext") {
		t.Errorf("formatted message: %q", got)
	}
	if got := cat.Translate("de", "The SMTP server did not take the test email: 535 5.7.8 bad credentials"); got != "Der SMTP-Server hat die Test-E-Mail nicht angenommen: 535 5.7.8 bad credentials" {
		t.Errorf("formatted message at the end: %q", got)
	}
}

// apiMessages finds the English messages in app's sources: the message of
// every Error, errorf, fieldError, fieldErrors.add, answer, writeJSON and
// writeJSONWith, and the success messages chosen in a variable.
func apiMessages(t *testing.T) map[string]string {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	out := map[string]string{}
	add := func(e ast.Expr) {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			s, _ := strconv.Unquote(lit.Value)
			out[s] = fset.Position(lit.Pos()).String()
		}
	}
	argAt := map[string]int{"errorf": 1, "fieldError": 1, "add": 1, "answer": 2, "writeJSON": 2, "writeJSONWith": 3}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "config.go" || f == "cli.go" || f == "importer.go" {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.KeyValueExpr:
				if k, ok := x.Key.(*ast.Ident); ok && (k.Name == "Message" || k.Name == "message") {
					add(x.Value)
				}
			case *ast.CallExpr:
				name := ""
				switch fn := x.Fun.(type) {
				case *ast.Ident:
					name = fn.Name
				case *ast.SelectorExpr:
					name = fn.Sel.Name
				}
				if i, ok := argAt[name]; ok && i < len(x.Args) {
					add(x.Args[i])
				}
			case *ast.AssignStmt:
				if id, ok := x.Lhs[0].(*ast.Ident); ok && id.Name == "msg" && len(x.Rhs) == 1 {
					add(x.Rhs[0])
				}
			case *ast.ValueSpec:
				for i, name := range x.Names {
					if strings.HasPrefix(name.Name, "msg") && i < len(x.Values) {
						add(x.Values[i])
					}
				}
			}
			return true
		})
	}
	return out
}

// TestMailInTheRecipientsLanguage: mail is written in the recipient
// account's language, durations included; mail queued before a change of
// the language keeps the language it was written in.
func TestMailInTheRecipientsLanguage(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.client()
	body := registerBody("ann@example.test", testPassword)
	body["language"] = "de"
	c.do("POST", "/api/v1/auth/register", body).want(t, 201, "")
	m := ts.waitMail("ann@example.test", 1)[0]
	if !strings.Contains(m.Subject, "Bitte bestätigen Sie Ihre E-Mail-Adresse") || !strings.Contains(m.Text, "Der Link ist 24 Stunden gültig.") || !strings.Contains(m.HTML, `lang="de"`) {
		t.Fatalf("verification mail not in German: %s\n%s", m.Subject, m.Text)
	}
	tok := ts.waitToken("ann@example.test", "verify-email", 1)
	c.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": tok}).want(t, 200, "")
	ann := ts.login("ann@example.test", testPassword)

	// A reset link queued in German, then the account switches to English
	// before the mail goes out: the queued mail stays German, new mail is
	// English.
	ts.client().do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": "ann@example.test"}).want(t, 200, "")
	ann.do("PATCH", "/api/v1/auth/profile", map[string]string{"language": "en"}).want(t, 200, "")
	ts.client().do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": "ann@example.test"}).want(t, 200, "")
	var subjects []string
	for _, m := range ts.waitMail("ann@example.test", 3) {
		subjects = append(subjects, m.Subject)
	}
	joined := strings.Join(subjects, " | ")
	if !strings.Contains(joined, "Setzen Sie Ihr Passwort bei") || !strings.Contains(joined, "Reset your") {
		t.Errorf("subjects: %s", joined)
	}
}

// TestStaffChangeMailInGerman: the notice to a staff member whose account
// another staff member changed says what changed in the recipient's
// language.
func TestStaffChangeMailInGerman(t *testing.T) {
	ts := newTestServer(t, nil)
	boss := ts.staff("boss@example.test")
	ts.staff("sam@example.test")
	sam := secUser(t, ts, "sam@example.test")
	boss.do("PATCH", "/api/v1/admin/users/"+sam.ID.String(), map[string]any{"language": "de", "first_name": "Samuel"}).want(t, 200, "")
	boss.do("PATCH", "/api/v1/admin/users/"+sam.ID.String(), map[string]any{"is_staff": false}).want(t, 200, "")
	secWaitMail(t, ts, "sam@example.test", "in German about the removed staff access", func(m mail.Captured) bool {
		return strings.Contains(m.Text, "Mitarbeiterrechte entzogen")
	})
}

// TestAccountDeletedMailInGerman: the notice of a deletion is written
// after the account is gone from the transaction, and still comes in the
// account's language.
func TestAccountDeletedMailInGerman(t *testing.T) {
	ts := newServerWithUser(t, "greta@example.test")
	greta := ts.login("greta@example.test", testPassword)
	greta.do("PATCH", "/api/v1/auth/profile", map[string]string{"language": "de"}).want(t, 200, "")
	greta.do("DELETE", "/api/v1/auth/account", map[string]string{"password": testPassword}).want(t, 200, "")
	secWaitMail(t, ts, "greta@example.test", "in German about the deleted account", func(m mail.Captured) bool {
		return strings.Contains(m.Subject, "wurde gelöscht") && strings.Contains(m.HTML, `lang="de"`)
	})
}

// TestSignInNoticeInGerman: the sign-in-methods notice, its Changes line
// included, comes in the account's language.
func TestSignInNoticeInGerman(t *testing.T) {
	ts := newServerWithUser(t, "greta@example.test")
	greta := ts.login("greta@example.test", testPassword)
	greta.do("PATCH", "/api/v1/auth/profile", map[string]string{"language": "de"}).want(t, 200, "")
	enrolTOTP(t, ts, greta)
	secWaitMail(t, ts, "greta@example.test", "in German about the sign-in methods", func(m mail.Captured) bool {
		return strings.Contains(m.Subject, "Anmeldemethoden") && strings.Contains(m.Text, "Eine Authenticator-App wurde als zweiter Faktor eingerichtet.")
	})
}
