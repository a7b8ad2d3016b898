package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// ---------------------------------------------------------------------------
// F. Input, errors, logging, configuration

func TestSEC52MalformedInputIsClean4xx(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.client()
	const login = "/api/v1/auth/login"

	c.do("POST", login, bytes.Repeat([]byte("a"), maxBodyBytes+1)).want(t, 413, CodeTooLarge)
	var r *response
	// Exactly 1 MiB is read (and then judged on its content).
	body := []byte(`{"email":"nobody@example.test","password":"wrong password guess"}`)
	body = append(body, bytes.Repeat([]byte(" "), maxBodyBytes-len(body))...)
	c.do("POST", login, body).want(t, 401, CodeUnauthenticated)

	for name, b := range map[string]string{
		"truncated":     `{"email":`,
		"trailing data": `{"email":"a@b.test"}{"x":1}`,
		"trailing junk": `{"email":"a@b.test"} x`,
		"invalid UTF-8": "{\"email\":\"\xff\",\"password\":\"x\"}",
		"wrong type":    `{"email":5,"password":"x"}`,
		"array":         `[]`,
		"string":        `"hello"`,
		"empty":         ``,
		"deep nesting":  strings.Repeat("[", 20000),
	} {
		r = c.do("POST", login, []byte(b))
		if r.Status != 400 || r.Env.Code != CodeValidation || r.Env.Message == "" {
			t.Fatalf("%s: got %d %s, want 400 validation_error with a message", name, r.Status, r.Body)
		}
	}

	local := strings.Repeat("a", 64)
	domain := func(n int) string { // a valid domain of n characters
		var labels []string
		for n > 0 {
			l := min(n, 40)
			if n-l == 1 { // never leave a lone dot
				l--
			}
			labels = append(labels, strings.Repeat("b", l))
			n -= l + 1
		}
		return strings.Join(labels, ".")
	}
	e255 := local + "@" + domain(255-65-5) + ".test"
	e254 := local + "@" + domain(254-65-5) + ".test"
	if len(e255) != 255 || len(e254) != 254 {
		t.Fatalf("test emails: lengths %d and %d", len(e255), len(e254))
	}
	r = c.do("POST", "/api/v1/auth/register", registerBody(e255, testPassword)).want(t, 400, CodeValidation)
	if len(r.Env.Errors["email"]) == 0 {
		t.Fatalf("255-character email: got %v, want a message on email", r.Env.Errors)
	}
	c.do("POST", "/api/v1/auth/register", registerBody(e254, testPassword)).want(t, 201, "")

	ts.mustUser("sec52@example.test", testPassword)
	s := ts.login("sec52@example.test", testPassword)
	for field, values := range map[string][]string{"country": {"XX", "usa", "D", ""}, "phone": {"12"}} {
		for _, v := range values {
			b := secAddressBody("Home")
			b[field] = v
			r = s.do("POST", "/api/v1/auth/addresses", b).want(t, 400, CodeValidation)
			if len(r.Env.Errors[field]) == 0 {
				t.Fatalf("address %s %q: got %v, want a message on %s", field, v, r.Env.Errors, field)
			}
		}
	}
	for _, phone := range []string{"12", "not a phone", "+49 30 1234567890123456789"} {
		b := registerBody("sec52-phone@example.test", testPassword)
		b["phone"] = phone
		r = c.do("POST", "/api/v1/auth/register", b).want(t, 400, CodeValidation)
		if len(r.Env.Errors["phone"]) == 0 {
			t.Fatalf("phone %q: got %v, want a message on phone", phone, r.Env.Errors)
		}
	}
}

func TestSEC53ErrorsLeakNothing(t *testing.T) {
	const email = "sec53@example.test"
	ts := newServerWithUser(t, email)
	s := ts.login(email, testPassword)
	c := ts.client()
	var answers []*response
	add := func(r *response) { answers = append(answers, r) }

	add(c.do("GET", "/api/v1/nothing", nil))
	add(c.do("GET", "/nothing", nil))
	add(c.do("GET", "/api/v1/auth/login", nil))
	add(c.do("TRACE", "/api/v1/auth/profile", nil))
	add(c.do("GET", "/api/v1/auth/profile", nil))
	add(c.do("POST", "/api/v1/auth/login", bytes.Repeat([]byte("a"), maxBodyBytes+1)))
	add(c.secSend(t, "POST", "/api/v1/auth/login", `{"email":"a@b.test"}`, secContentType("text/plain")))
	for _, b := range []string{`{"email":`, `{"email":5}`, "{\"email\":\"\xff\"}", `[1,2]`, `{"email":"a@b.test"}x`, strings.Repeat("{\"a\":", 20000)} {
		add(c.do("POST", "/api/v1/auth/register", []byte(b)))
		add(c.do("POST", "/api/v1/auth/login", []byte(b)))
	}
	add(c.do("POST", "/api/v1/auth/register", map[string]string{"email": "x"}))
	add(c.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": "junk"}))
	add(c.do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": strings.Repeat("A", 43), "password": testPassword}))
	add(c.do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": "wrong"}))
	add(s.do("DELETE", "/api/v1/auth/sessions/"+uuid.New().String(), nil))
	add(s.do("DELETE", "/api/v1/auth/sessions/%00%ff", nil))
	add(s.do("PATCH", "/api/v1/auth/profile", map[string]any{"phone": 12}))
	add(s.do("POST", "/api/v1/auth/addresses", map[string]any{"country": 12}))
	add(s.do("POST", "/api/v1/auth/addresses", map[string]any{"label": strings.Repeat("x", 1000)}))
	add(s.do("GET", "/api/v1/auth/addresses/not-a-uuid", nil))
	add(s.do("PATCH", "/api/v1/auth/addresses/"+uuid.New().String()+"/set-primary", nil))
	add(s.secSend(t, "POST", "/api/v1/auth/password/change", map[string]string{}, secHeader("Sec-Fetch-Site", "cross-site")))
	add(c.secSend(t, "GET", "/healthz", nil, secHost("evil.example")))

	// Internal failures: the store goes away under the server.
	if err := ts.db.Close(); err != nil {
		t.Fatalf("close store: %v", err)
	}
	internal := []*response{
		c.do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword}),
		c.do("POST", "/api/v1/auth/register", registerBody("sec53-new@example.test", testPassword)),
		s.do("GET", "/api/v1/auth/profile", nil),
		c.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": strings.Repeat("A", 43)}),
	}
	for _, r := range internal {
		if r.Status != 500 || r.Env.Code != CodeInternal {
			t.Fatalf("with the store closed: got %d %s, want 500 internal", r.Status, r.Body)
		}
		if regexp.MustCompile(`(?i)database|bucket|not open|tx |errno|syscall|/tmp/|\.db\b`).Match(r.Body) {
			t.Fatalf("with the store closed: the answer names the cause: %s", r.Body)
		}
	}
	answers = append(answers, internal...)
	add(c.do("GET", "/readyz", nil))

	for _, r := range answers {
		if secLeakRE.Match(r.Body) {
			t.Fatalf("answer %d leaks internals: %s", r.Status, r.Body)
		}
		for k, vs := range r.Header {
			for _, v := range vs {
				if secLeakRE.MatchString(v) {
					t.Fatalf("header %s: %q leaks internals", k, v)
				}
			}
		}
		if r.Status >= 400 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") && r.Env.Code == "" {
			if !(r.Status == 503 && bytes.Contains(r.Body, []byte(`"status"`))) { // /readyz is outside the envelope
				t.Fatalf("error answer %d is not the envelope: %s", r.Status, r.Body)
			}
		}
	}
}

func TestSEC54EventsLoggedAndAuditedWithoutSecrets(t *testing.T) {
	ts := newTestServer(t, nil)
	const ua = "marbelle-sec54/1.0"
	client := func() *testClient {
		c := ts.client()
		c.header.Set("User-Agent", ua)
		return c
	}
	const email, next = "sec54@example.test", "sec54-new@example.test"
	const pw1, pw2, pw3 = "tangerine walrus umbrella 42", "fresh mango pavilion 7", "new pale lantern 88"
	const wrong = "wrong guess quokka 5"
	secrets := map[string]string{"pw1": pw1, "pw2": pw2, "pw3": pw3, "wrong": wrong}

	c := client()
	c.do("POST", "/api/v1/auth/register", registerBody(email, pw1)).want(t, 201, "")
	secrets["verify token"] = secWaitToken(t, ts, email, "verify-email", 1)
	c.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": secrets["verify token"]}).want(t, 200, "")
	secLogin(t, c, email, wrong).want(t, 401, CodeUnauthenticated)
	s1, s2 := client(), client()
	secLogin(t, s1, email, pw1).want(t, 200, "")
	secLogin(t, s2, email, pw1).want(t, 200, "")
	var list []sessionView
	s1.do("GET", "/api/v1/auth/sessions", nil).want(t, 200, "").data(t, &list)
	for _, s := range list {
		if !s.Current {
			s1.do("DELETE", "/api/v1/auth/sessions/"+s.ID.String(), nil).want(t, 200, "")
		}
	}
	s1.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": pw1, "new_password": pw2}).want(t, 200, "")
	secrets["cookie 1"] = s1.secCookie("marbelle_session")
	secrets["cookie 2"] = s2.secCookie("marbelle_session")
	secrets["secret 1"] = secSecret(t, ts, secrets["cookie 1"])
	secrets["secret 2"] = secSecret(t, ts, secrets["cookie 2"])
	s1.do("POST", "/api/v1/auth/logout", nil).want(t, 200, "")
	c.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": email}).want(t, 200, "")
	secrets["reset token"] = secWaitToken(t, ts, email, "reset-password", 1)
	c.do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": secrets["reset token"], "password": pw3}).want(t, 200, "")
	s3 := client()
	secLogin(t, s3, email, pw3).want(t, 200, "")
	secrets["cookie 3"] = s3.secCookie("marbelle_session")
	secrets["secret 3"] = secSecret(t, ts, secrets["cookie 3"])
	s3.do("POST", "/api/v1/auth/email-change/request", map[string]string{"new_email": next, "password": pw3}).want(t, 200, "")
	secrets["change token"] = secWaitToken(t, ts, next, "confirm-email-change", 1)
	c.do("POST", "/api/v1/auth/email-change/confirm", map[string]string{"token": secrets["change token"]}).want(t, 200, "")
	s3.do("DELETE", "/api/v1/auth/account", map[string]string{"password": pw3}).want(t, 200, "")
	// Log injection through a field that is logged or audited.
	c.do("POST", "/api/v1/auth/login", map[string]string{"email": "x\n{\"level\":\"INFO\",\"msg\":\"forged\"}", "password": "y\n{\"msg\":\"forged\"}"})
	secFlushMail(t, ts)
	// Every token mailed (links and "This wasn't me" links) is a secret too.
	for _, addr := range []string{email, next} {
		for i, m := range ts.mailsTo(addr) {
			for j, match := range secTokenLinkRE.FindAllStringSubmatch(m.Text, -1) {
				secrets[fmt.Sprintf("token %d.%d in mail to %s (%s)", i, j, addr, match[1])] = match[2]
			}
		}
	}

	// The audit trail.
	events := secAudit(t, ts)
	seen := map[string]bool{}
	for _, e := range events {
		if e.Event == "" || e.IP == "" || e.UserAgent == "" || e.At.IsZero() || e.At.Location() != time.UTC {
			t.Fatalf("audit event %+v: want event, ip, user_agent and a UTC time", e)
		}
		if strings.HasPrefix(e.Email, "flush-") {
			continue
		}
		if e.IP != "127.0.0.1" || e.UserAgent != ua {
			t.Fatalf("audit event %s: ip %q, user agent %q; want 127.0.0.1 and %q", e.Event, e.IP, e.UserAgent, ua)
		}
		seen[e.Event] = true
	}
	for _, want := range []string{"register", "email_verified", "login", "login_failed", "logout", "password_changed",
		"password_reset_requested", "password_reset", "email_change_requested", "email_changed", "session_revoked", "account_deleted"} {
		if !seen[want] {
			t.Fatalf("audit: no %q event; got %v", want, seen)
		}
	}
	auditJSON, err := json.Marshal(events)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if !bytes.Contains(auditJSON, []byte(`Z"`)) {
		t.Fatalf("audit times are not written in UTC: %s", auditJSON[:min(len(auditJSON), 300)])
	}

	// The log: one JSON object per line, no forged line.
	logText := ts.logBuf.String()
	lines := strings.Split(strings.TrimRight(logText, "\n"), "\n")
	if len(lines) < 20 {
		t.Fatalf("log: got %d lines, want a line per request and event", len(lines))
	}
	for i, line := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("log line %d is not one JSON object: %v: %q", i+1, err, line)
		}
		if obj["msg"] == "forged" {
			t.Fatalf("log line %d was forged: %q", i+1, line)
		}
	}
	if !strings.Contains(logText, `"msg":"audit"`) {
		t.Fatalf("log: no audit lines")
	}

	// No secret in the log, the audit, or the store file.
	file, err := os.ReadFile(ts.db.Path())
	if err != nil {
		t.Fatalf("read store: %v", err)
	}
	for name, v := range secrets {
		if len(v) < 8 {
			t.Fatalf("secret %s is too short to search for: %q", name, v)
		}
		if strings.Contains(logText, v) {
			t.Fatalf("the log holds the %s", name)
		}
		if bytes.Contains(auditJSON, []byte(v)) {
			t.Fatalf("the audit holds the %s", name)
		}
		if bytes.Contains(file, []byte(v)) {
			t.Fatalf("the store file holds the %s", name)
		}
	}
}

func TestSEC55ProductionRefusesUnsafeConfiguration(t *testing.T) {
	names := []string{"MARBELLE_SECRET_KEY", "MARBELLE_BASE_URL", "MARBELLE_SMTP_URL", "MARBELLE_MAIL_FROM", "MARBELLE_ALLOWED_HOSTS"}
	problems := func(err error) []string {
		t.Helper()
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("got %v (%T), want a *ConfigError", err, err)
		}
		return ce.Problems
	}
	named := func(ps []string, name string) bool {
		return slices.ContainsFunc(ps, func(p string) bool { return strings.HasPrefix(p, name) })
	}

	// Nothing set: one error naming every missing setting.
	_, err := parseConfig(map[string]string{"MARBELLE_ENV": "production"})
	ps := problems(err)
	for _, n := range names {
		if !named(ps, n) || !strings.Contains(err.Error(), n) {
			t.Fatalf("production with nothing set: %v; want a problem naming %s", ps, n)
		}
	}
	env := map[string]string{"MARBELLE_ENV": "production"}
	_, err = LoadConfig(nil, func(k string) string { return env[k] }, io.Discard)
	ps = problems(err)
	for _, n := range names {
		if !named(ps, n) {
			t.Fatalf("LoadConfig in production with nothing set: %v; want a problem naming %s", ps, n)
		}
	}

	// A 31-byte secret is refused; 32 bytes pass.
	full := secProductionEnv(t)
	if _, err := parseConfig(full); err != nil {
		t.Fatalf("valid production config: %v", err)
	}
	full["MARBELLE_SECRET_KEY"] = strings.Repeat("k", 31)
	ps = problems(func() error { _, err := parseConfig(full); return err }())
	if len(ps) != 1 || !named(ps, "MARBELLE_SECRET_KEY") {
		t.Fatalf("31-byte secret: got %v, want one problem naming MARBELLE_SECRET_KEY", ps)
	}
	full["MARBELLE_SECRET_KEY"] = strings.Repeat("k", 32)
	if _, err := parseConfig(full); err != nil {
		t.Fatalf("32-byte secret: %v", err)
	}
	full["MARBELLE_ALLOWED_HOSTS"] = "*"
	if ps := problems(func() error { _, err := parseConfig(full); return err }()); !named(ps, "MARBELLE_ALLOWED_HOSTS") {
		t.Fatalf("ALLOWED_HOSTS=* in production: got %v, want a problem naming MARBELLE_ALLOWED_HOSTS", ps)
	}
	full["MARBELLE_ALLOWED_HOSTS"] = "shop.example"
	// Rate limits cannot be switched off in production.
	full["MARBELLE_RATE_LIMITS"] = "off"
	if ps := problems(func() error { _, err := parseConfig(full); return err }()); !named(ps, "MARBELLE_RATE_LIMITS") {
		t.Fatalf("rate limits off in production: got %v, want a problem naming MARBELLE_RATE_LIMITS", ps)
	}

	// A valid production server has no development mail API.
	cfg, err := parseConfig(secProductionEnv(t))
	if err != nil {
		t.Fatalf("production config: %v", err)
	}
	ts := startTestServer(t, cfg, nil)
	c := ts.client()
	c.secSend(t, "GET", "/healthz", nil, secHost("shop.example")).want(t, 200, "")
	for _, req := range [][2]string{{"GET", "/api/v1/dev/mail"}, {"GET", "/api/v1/dev/mail/x"}, {"DELETE", "/api/v1/dev/mail"}, {"GET", "/metrics"}} {
		c.secSend(t, req[0], req[1], nil, secHost("shop.example")).want(t, 404, CodeNotFound)
	}
}
