package e2e

// The mail of every kind, sent by the production binary to a real mail
// server (Mailpit v1.33.1) over STARTTLS with AUTH, or over implicit TLS
// (smtps://), and checked through Mailpit's API (#21): it arrived, it is
// marked Auto-Submitted (RFC 3834), its links all point at BASE_URL, and
// Mailpit's html-check rates each HTML part at least 95 % supported.
//
// Runs when MARBELLE_MAIL_TESTS=1 (CI sets it; .ci/run installs Mailpit):
//
//	GOBIN=~/.cache/marbelle-mailpit go install github.com/axllent/mailpit@v1.33.1
//	MARBELLE_MAIL_TESTS=1 go test ./e2e -run Mailpit -v

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marbelle/marbelle/internal/testutil"
)

const (
	mailpitVersion = "v1.33.1"
	smtpUser       = "shop"
	smtpPassword   = "right-password"
	mailPassword   = "Correct-horse-9-battery"
)

// findMailpit looks on PATH, then in $GOBIN, $(go env GOPATH)/bin and the
// cache directory .ci/run installs into.
func findMailpit(t *testing.T) string {
	t.Helper()
	if os.Getenv("MARBELLE_MAIL_TESTS") == "" {
		t.Skip("set MARBELLE_MAIL_TESTS=1 to send every mail kind to a real Mailpit " + mailpitVersion + " (go install github.com/axllent/mailpit@" + mailpitVersion + ")")
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	home, _ := os.UserHomeDir()
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	for _, dir := range []string{os.Getenv("GOBIN"), filepath.Join(strings.TrimSpace(string(gopath)), "bin"),
		filepath.Join(home, ".cache", "marbelle-mailpit"), filepath.Join(home, ".cache", "mailpit-bin")} {
		if p := filepath.Join(dir, "mailpit"); dir != "" && fileExists(p) {
			return p
		}
	}
	t.Fatalf("MARBELLE_MAIL_TESTS is set but no mailpit binary was found: GOBIN=~/.cache/marbelle-mailpit go install github.com/axllent/mailpit@%s", mailpitVersion)
	return ""
}

// mailpit is one running Mailpit: its SMTP address and its API base URL.
type mailpit struct {
	SMTP, API string
	CertFile  string
}

// startMailpit starts Mailpit with a self-signed certificate, AUTH required
// (one user) and STARTTLS required, or implicit TLS when implicitTLS.
func startMailpit(t *testing.T, implicitTLS bool) mailpit {
	bin := findMailpit(t)
	dir := t.TempDir()
	cert := testutil.NewSelfSigned(t)
	mp := mailpit{SMTP: testutil.FreePort(t), API: "http://" + testutil.FreePort(t), CertFile: filepath.Join(dir, "cert.pem")}
	keyFile, authFile := filepath.Join(dir, "key.pem"), filepath.Join(dir, "auth")
	for name, data := range map[string][]byte{mp.CertFile: cert.CertPEM, keyFile: cert.KeyPEM, authFile: []byte(smtpUser + ":" + smtpPassword + "\n")} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--smtp", mp.SMTP, "--listen", strings.TrimPrefix(mp.API, "http://"), "--database", filepath.Join(dir, "mailpit.db"),
		"--smtp-tls-cert", mp.CertFile, "--smtp-tls-key", keyFile, "--smtp-auth-file", authFile, "--smtp-disable-rdns"}
	if implicitTLS {
		args = append(args, "--smtp-require-tls")
	} else {
		args = append(args, "--smtp-require-starttls")
	}
	cmd := exec.Command(bin, args...)
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	testutil.WaitFor(t, 15*time.Second, func() error {
		res, err := http.Get(mp.API + "/api/v1/info")
		if err != nil {
			return fmt.Errorf("mailpit not up: %v\n%s", err, out.String())
		}
		res.Body.Close()
		return nil
	})
	return mp
}

// startProduction runs the binary in production mode against mp.
func startProduction(t *testing.T, bin, dataDir string, mp mailpit, smtpURL string) *child {
	return startProductionAt(t, bin, dataDir, testutil.FreePort(t), mp, smtpURL)
}

func startProductionAt(t *testing.T, bin, dataDir, addr string, mp mailpit, smtpURL string) *child {
	return startChild(t, bin, dataDir, map[string]string{
		"MARBELLE_ENV":              "production",
		"MARBELLE_ADDR":             addr,
		"MARBELLE_BASE_URL":         "http://" + addr,
		"MARBELLE_ALLOWED_HOSTS":    "127.0.0.1",
		"MARBELLE_SECRET_KEY":       "an-e2e-secret-key-of-more-than-32-bytes",
		"MARBELLE_SMTP_URL":         smtpURL,
		"MARBELLE_MAIL_FROM":        "Shop <no-reply@shop.example>",
		"MARBELLE_MAIL_REPLY_TO":    "Shop support <support@shop.example>",
		"MARBELLE_RATE_LIMITS":      "login=1000/1m,register=1000/1m,token=1000/1m,email_change=1000/1m,mail_recipient=1000/1m",
		"MARBELLE_PASSWORD_HASH":    "m=19456,t=2,p=1",
		"MARBELLE_DEV_SMTP_ADDR":    "",
		"MARBELLE_LOG_LEVEL":        "warn",
		"SSL_CERT_FILE":             mp.CertFile, // the relay's self-signed certificate
		"MARBELLE_DEV_ALLOW_PUBLIC": "",
		// The mail test's staff work with a password only; the staff
		// second-factor policy has tests of its own (app/mfa_test.go).
		"MARBELLE_STAFF_MFA": "optional",
	})
}

func createStaff(t *testing.T, bin, dataDir, email string) {
	cmd := exec.Command(bin, "admin", "create", "--email", email, "--password-stdin")
	cmd.Env = childEnv(dataDir, map[string]string{"MARBELLE_PASSWORD_HASH": "m=19456,t=2,p=1"})
	cmd.Stdin = strings.NewReader(mailPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("admin create: %v\n%s", err, out)
	}
}

// api is a cookie-keeping client of the marbelle child.
type api struct {
	t    *testing.T
	base string
	c    *http.Client
	ua   string
}

func newAPI(t *testing.T, base, ua string) *api {
	jar, _ := cookiejar.New(nil)
	return &api{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 60 * time.Second}, ua: ua}
}

// do sends a JSON request and fails unless the status is want.
func (a *api) do(method, path string, body any, want int) json.RawMessage {
	a.t.Helper()
	res := testutil.SendJSON(a.t, a.c, method, a.base+path, body, http.Header{"User-Agent": {a.ua}})
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		a.t.Fatalf("%s %s: got %d %s, want %d", method, path, res.StatusCode, raw, want)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	json.Unmarshal(raw, &env)
	return env.Data
}

// mpMessage is a message as Mailpit's API lists it.
type mpMessage struct {
	ID      string
	Subject string
	To      []struct{ Address string }
}

func (mp mailpit) get(t *testing.T, path string, v any) {
	t.Helper()
	res, err := http.Get(mp.API + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("mailpit %s: %d %s", path, res.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("mailpit %s: %v: %s", path, err, raw)
	}
}

func (mp mailpit) messages(t *testing.T) []mpMessage {
	var list struct{ Messages []mpMessage }
	mp.get(t, "/api/v1/messages?limit=500", &list)
	return list.Messages
}

// waitFor waits for the n-th mail to addr whose subject contains subject
// and returns the newest one.
func (mp mailpit) waitFor(t *testing.T, addr, subject string, n int) mpMessage {
	t.Helper()
	var found []mpMessage
	testutil.WaitFor(t, 60*time.Second, func() error {
		found = found[:0]
		for _, m := range mp.messages(t) {
			if len(m.To) == 1 && strings.EqualFold(m.To[0].Address, addr) && strings.Contains(m.Subject, subject) {
				found = append(found, m)
			}
		}
		if len(found) < n {
			return fmt.Errorf("%d mail(s) to %s about %q, want %d", len(found), addr, subject, n)
		}
		return nil
	})
	return found[0] // Mailpit lists newest first
}

var (
	hrefRE    = regexp.MustCompile(`href="([^"]*)"`)
	textURLRE = regexp.MustCompile(`https?://[^\s<>"]+`)
	srcRE     = regexp.MustCompile(`(?i)\bsrc=|url\(`)
)

// checkMessage checks one arrived mail and returns its html-check score.
func (mp mailpit) checkMessage(t *testing.T, m mpMessage, baseURL string) float64 {
	t.Helper()
	var headers map[string][]string
	mp.get(t, "/api/v1/message/"+m.ID+"/headers", &headers)
	if got := headers["Auto-Submitted"]; len(got) != 1 || got[0] != "auto-generated" {
		t.Errorf("%q: Auto-Submitted: got %q, want auto-generated", m.Subject, got)
	}
	if id := strings.Join(headers["Message-Id"], ""); !strings.HasSuffix(id, "@shop.example>") {
		t.Errorf("%q: Message-ID %q, want one on the shop's domain", m.Subject, id)
	}
	if got := strings.Join(headers["Reply-To"], ""); !strings.Contains(got, "support@shop.example") {
		t.Errorf("%q: Reply-To %q, want MARBELLE_MAIL_REPLY_TO", m.Subject, got)
	}
	var body struct{ Text, HTML string }
	mp.get(t, "/api/v1/message/"+m.ID, &body)
	var links []string
	for _, l := range textURLRE.FindAllString(body.Text, -1) {
		links = append(links, strings.TrimRight(l, ").,:;")) // as clients linkify "(https://…)."
	}
	for _, h := range hrefRE.FindAllStringSubmatch(body.HTML, -1) {
		links = append(links, strings.ReplaceAll(h[1], "&amp;", "&"))
	}
	if len(links) == 0 {
		t.Errorf("%q: no links at all", m.Subject)
	}
	for _, l := range links {
		if l != baseURL && !strings.HasPrefix(l, baseURL+"/") {
			t.Errorf("%q: link %q does not point at BASE_URL %s", m.Subject, l, baseURL)
		}
	}
	if srcRE.MatchString(body.HTML) {
		t.Errorf("%q: the HTML loads something (src= or url()), want no remote resources", m.Subject)
	}
	var check struct {
		Warnings []struct {
			Slug  string
			Score struct{ Found, Supported, Partial, Unsupported float64 }
		}
		Total struct{ Supported, Partial, Unsupported float64 }
	}
	mp.get(t, "/api/v1/message/"+m.ID+"/html-check", &check)
	if check.Total.Supported < 95 {
		var why []string
		for _, w := range check.Warnings {
			why = append(why, fmt.Sprintf("%s (%v found: %.1f/%.1f/%.1f)", w.Slug, w.Score.Found, w.Score.Supported, w.Score.Partial, w.Score.Unsupported))
		}
		t.Errorf("%q: html-check %.2f %% supported (%.2f partial, %.2f unsupported), want >= 95 %%; warnings: %s",
			m.Subject, check.Total.Supported, check.Total.Partial, check.Total.Unsupported, strings.Join(why, ", "))
	}
	return check.Total.Supported
}

// kindScore is one mail kind's html-check figure, for the log.
type kindScore struct {
	kind  string
	score float64
}

// TestMailpitEveryKindOverSTARTTLS (#21): every mail kind, sent by the
// production binary through STARTTLS and AUTH to Mailpit.
func TestMailpitEveryKindOverSTARTTLS(t *testing.T) {
	mp := startMailpit(t, false)
	runEveryKind(t, mp, fmt.Sprintf("smtp://%s:%s@%s", smtpUser, smtpPassword, mp.SMTP))
}

// TestMailpitImplicitTLS (#21): smtps:// (implicit TLS) delivers too.
func TestMailpitImplicitTLS(t *testing.T) {
	mp := startMailpit(t, true)
	bin := buildBinary(t, "")
	dataDir := t.TempDir()
	createStaff(t, bin, dataDir, "boss@shop.test")
	c := startProduction(t, bin, dataDir, mp, fmt.Sprintf("smtps://%s:%s@%s", smtpUser, smtpPassword, mp.SMTP))
	boss := newAPI(t, c.URL, "Boss browser")
	boss.do("POST", "/api/v1/auth/login", map[string]string{"email": "boss@shop.test", "password": mailPassword}, 200)
	boss.do("POST", "/api/v1/admin/mail/test", map[string]string{"to": "owner@shop.test"}, 200)
	mp.checkMessage(t, mp.waitFor(t, "owner@shop.test", "Test email", 1), c.URL)
	newAPI(t, c.URL, "Ann's browser").do("POST", "/api/v1/auth/register", registerBody("ann@shop.test"), 201)
	mp.checkMessage(t, mp.waitFor(t, "ann@shop.test", "Confirm your email", 1), c.URL)
}

// TestMailpitWrongPassword (#21): with a wrong SMTP password the mail stays
// queued, the outbox shows the server's error, the test mail answers 502
// smtp_error; after a restart with the right password it is delivered.
func TestMailpitWrongPassword(t *testing.T) {
	mp := startMailpit(t, false)
	bin := buildBinary(t, "")
	dataDir := t.TempDir()
	createStaff(t, bin, dataDir, "boss@shop.test")
	addr := testutil.FreePort(t)
	c := startProductionAt(t, bin, dataDir, addr, mp, fmt.Sprintf("smtp://%s:wrong@%s", smtpUser, mp.SMTP))
	boss := newAPI(t, c.URL, "Boss browser")
	boss.do("POST", "/api/v1/auth/login", map[string]string{"email": "boss@shop.test", "password": mailPassword}, 200)
	newAPI(t, c.URL, "Ann's browser").do("POST", "/api/v1/auth/register", registerBody("ann@shop.test"), 201)
	var lastErr string
	testutil.WaitFor(t, 30*time.Second, func() error {
		var list []struct {
			To, Status string
			LastError  string `json:"last_error"`
		}
		json.Unmarshal(boss.do("GET", "/api/v1/admin/outbox", nil, 200), &list)
		for _, m := range list {
			if m.To == "ann@shop.test" && m.Status == "queued" && m.LastError != "" {
				lastErr = m.LastError
				return nil
			}
		}
		return fmt.Errorf("outbox: %+v, want ann's mail queued with an error", list)
	})
	if !strings.Contains(lastErr, "535") && !strings.Contains(strings.ToLower(lastErr), "auth") {
		t.Fatalf("outbox error %q, want the server's authentication failure", lastErr)
	}
	res := boss.do2("POST", "/api/v1/admin/mail/test", map[string]string{"to": "owner@shop.test"})
	if res.status != 502 || res.Code != "smtp_error" || !strings.Contains(res.Message, "535") {
		t.Fatalf("test mail with a wrong password: got %d %+v, want 502 smtp_error with the server's 535", res.status, res)
	}
	if n := len(mp.messages(t)); n != 0 {
		t.Fatalf("mailpit holds %d messages, want none with a wrong password", n)
	}
	t.Logf("outbox error: %s; test mail: %s", lastErr, res.Message)

	c.term(30 * time.Second)
	c = startProductionAt(t, bin, dataDir, addr, mp, fmt.Sprintf("smtp://%s:%s@%s", smtpUser, smtpPassword, mp.SMTP))
	mp.checkMessage(t, mp.waitFor(t, "ann@shop.test", "Confirm your email", 1), c.URL)
}

type envelope struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

// do2 is do for a request whose failure is the point: the status and the
// envelope's code and message.
func (a *api) do2(method, path string, body any) envelope {
	a.t.Helper()
	res := testutil.SendJSON(a.t, a.c, method, a.base+path, body, nil)
	defer res.Body.Close()
	var e envelope
	json.NewDecoder(res.Body).Decode(&e)
	e.status = res.StatusCode
	return e
}

func registerBody(email string) map[string]string {
	return map[string]string{"email": email, "password": mailPassword, "first_name": "Ann", "last_name": "Lee"}
}

func token(t *testing.T, mp mailpit, m mpMessage, re *regexp.Regexp) string {
	t.Helper()
	var body struct{ Text string }
	mp.get(t, "/api/v1/message/"+m.ID, &body)
	got := re.FindStringSubmatch(body.Text)
	if got == nil {
		t.Fatalf("%q: no %s link in %q", m.Subject, re, body.Text)
	}
	return got[1]
}

// runEveryKind triggers every mail kind and checks each arrived mail.
func runEveryKind(t *testing.T, mp mailpit, smtpURL string) {
	bin := buildBinary(t, "")
	dataDir := t.TempDir()
	createStaff(t, bin, dataDir, "boss@shop.test")
	createStaff(t, bin, dataDir, "clerk@shop.test")
	c := startProduction(t, bin, dataDir, mp, smtpURL)
	base := c.URL
	var scores []kindScore
	check := func(kind, addr, subject string, n int) mpMessage {
		t.Helper()
		m := mp.waitFor(t, addr, subject, n)
		scores = append(scores, kindScore{kind, mp.checkMessage(t, m, base)})
		return m
	}
	verifyRE, resetRE := testutil.TokenRE["verify-email"], testutil.TokenRE["reset-password"]
	changeRE := testutil.TokenRE["confirm-email-change"]

	ann := newAPI(t, base, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
	ann.do("POST", "/api/v1/auth/register", registerBody("ann@shop.test"), 201)
	check("verify_email", "ann@shop.test", "Confirm your email", 1)
	ann.do("POST", "/api/v1/auth/resend-verification", map[string]string{"email": "ann@shop.test"}, 200)
	m := check("verify_email (resend)", "ann@shop.test", "Confirm your email", 2)
	ann.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": token(t, mp, m, verifyRE)}, 200)
	ann.do("POST", "/api/v1/auth/register", registerBody("ann@shop.test"), 201)
	check("already_registered", "ann@shop.test", "already have", 1)

	ann.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": "ann@shop.test"}, 200)
	m = check("password_reset", "ann@shop.test", "Reset your", 1)
	ann.do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": token(t, mp, m, resetRE), "password": mailPassword + "x"}, 200)
	check("password_reset_done", "ann@shop.test", "password was reset", 1)

	ann.do("POST", "/api/v1/auth/login", map[string]string{"email": "ann@shop.test", "password": mailPassword + "x"}, 200)
	other := newAPI(t, base, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
	other.do("POST", "/api/v1/auth/login", map[string]string{"email": "ann@shop.test", "password": mailPassword + "x"}, 200)
	check("new_device", "ann@shop.test", "New sign-in", 1)
	ann.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": mailPassword + "x", "new_password": mailPassword}, 200)
	check("password_changed", "ann@shop.test", "password was changed", 1)

	// Bob exists; Ann tries to move to his address, then to a free one.
	bob := newAPI(t, base, "Bob's Safari")
	bob.do("POST", "/api/v1/auth/register", registerBody("bob@shop.test"), 201)
	m = mp.waitFor(t, "bob@shop.test", "Confirm your email", 1)
	bob.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": token(t, mp, m, verifyRE)}, 200)
	ann.do("POST", "/api/v1/auth/login", map[string]string{"email": "ann@shop.test", "password": mailPassword}, 200)
	ann.do("POST", "/api/v1/auth/email-change/request", map[string]string{"new_email": "bob@shop.test", "password": mailPassword}, 200)
	check("email_taken", "bob@shop.test", "Email change attempt", 1)
	ann.do("POST", "/api/v1/auth/email-change/request", map[string]string{"new_email": "ann.new@shop.test", "password": mailPassword}, 200)
	m = check("email_change_confirm", "ann.new@shop.test", "Confirm your new email", 1)
	ann.do("POST", "/api/v1/auth/email-change/confirm", map[string]string{"token": token(t, mp, m, changeRE)}, 200)
	m = check("email_changed", "ann@shop.test", "email address was changed", 1)
	ann.do("POST", "/api/v1/auth/security/undo", map[string]string{"token": token(t, mp, m, testutil.UndoRE)}, 200)
	check("account_frozen", "ann@shop.test", "locked", 1)

	boss := newAPI(t, base, "Boss browser")
	boss.do("POST", "/api/v1/auth/login", map[string]string{"email": "boss@shop.test", "password": mailPassword}, 200)
	var users []struct{ ID, Email string }
	json.Unmarshal(boss.do("GET", "/api/v1/admin/users?limit=100", nil, 200), &users)
	ids := map[string]string{}
	for _, u := range users {
		ids[u.Email] = u.ID
	}
	boss.do("POST", "/api/v1/admin/users/"+ids["ann.new@shop.test"]+"/restore", map[string]string{"email": "ann@shop.test"}, 200)
	check("account_restored", "ann@shop.test", "restored", 1)
	boss.do("PATCH", "/api/v1/admin/users/"+ids["clerk@shop.test"], map[string]string{"first_name": "Clerk"}, 200)
	check("staff_account_changed", "clerk@shop.test", "staff account was changed", 1)
	boss.do("POST", "/api/v1/admin/mail/test", map[string]string{"to": "owner@shop.test"}, 200)
	check("smtp_test", "owner@shop.test", "Test email", 1)

	bob.do("POST", "/api/v1/auth/login", map[string]string{"email": "bob@shop.test", "password": mailPassword}, 200)
	bob.do("DELETE", "/api/v1/auth/account", map[string]string{"password": mailPassword}, 200)
	check("account_deleted", "bob@shop.test", "was deleted", 1)

	// Greta reads German (#20): the same pieces (button, links, undo,
	// request details, footer) with the German catalogue's words.
	greta := newAPI(t, base, "Gretas Firefox")
	body := registerBody("greta@shop.test")
	body["language"] = "de"
	greta.do("POST", "/api/v1/auth/register", body, 201)
	m = check("verify_email (de)", "greta@shop.test", "Bitte bestätigen Sie", 1)
	greta.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": token(t, mp, m, verifyRE)}, 200)
	greta.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": "greta@shop.test"}, 200)
	m = check("password_reset (de)", "greta@shop.test", "Setzen Sie Ihr Passwort", 1)
	greta.do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": token(t, mp, m, resetRE), "password": mailPassword + "x"}, 200)
	check("password_reset_done (de)", "greta@shop.test", "wurde zurückgesetzt", 1)
	greta.do("POST", "/api/v1/auth/login", map[string]string{"email": "greta@shop.test", "password": mailPassword + "x"}, 200)
	greta.do("DELETE", "/api/v1/auth/account", map[string]string{"password": mailPassword + "x"}, 200)
	check("account_deleted (de)", "greta@shop.test", "wurde gelöscht", 1)

	for _, s := range scores {
		t.Logf("html-check %-24s %.2f %% supported", s.kind, s.score)
	}
}
