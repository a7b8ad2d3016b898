package app

import (
	"bytes"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/marbelle/marbelle/app/internal/ratelimit"
	"github.com/marbelle/marbelle/ui"
)

// ---------------------------------------------------------------------------
// E. Browser boundary

func TestSEC43CrossOriginStateChangesRefused(t *testing.T) {
	const email = "sec43@example.test"
	const newPW = "fresh mango pavilion 7"
	ts := newServerWithUser(t, email)
	c := ts.login(email, testPassword)
	attacks := [][]secOpt{
		{secHeader("Sec-Fetch-Site", "cross-site")},
		{secHeader("Sec-Fetch-Site", "same-site")},
		{secHeader("Origin", "https://evil.example")},
		{secHeader("Sec-Fetch-Site", "cross-site"), secHeader("Origin", "https://evil.example")},
	}
	for i, opts := range attacks {
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/api/v1/auth/password/change", map[string]string{"current_password": testPassword, "new_password": newPW}},
			{"PATCH", "/api/v1/auth/profile", map[string]string{"first_name": "Mallory"}},
			{"DELETE", "/api/v1/auth/account", map[string]string{"password": testPassword}},
			{"POST", "/api/v1/auth/logout", nil},
			{"POST", "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword}},
		} {
			r := c.secSend(t, req.method, req.path, req.body, opts...)
			if r.Status != 403 || r.Env.Code != CodeForbidden || r.Env.Success {
				t.Fatalf("attack %d: %s %s: got %d %s, want 403 forbidden in the envelope", i, req.method, req.path, r.Status, r.Body)
			}
		}
	}
	// Nothing changed, and the session is still there.
	var p profile
	c.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "").data(t, &p)
	if p.FirstName != "Ann" {
		t.Fatalf("first name: got %q, want Ann", p.FirstName)
	}
	secLogin(t, ts.client(), email, testPassword).want(t, 200, "")
	secLogin(t, ts.client(), email, newPW).want(t, 401, CodeUnauthenticated)
	// Same-origin browser requests pass.
	c.secSend(t, "PATCH", "/api/v1/auth/profile", map[string]string{"first_name": "Bea"}, secHeader("Sec-Fetch-Site", "same-origin")).want(t, 200, "")
	c.secSend(t, "PATCH", "/api/v1/auth/profile", map[string]string{"first_name": "Bea"}, secHeader("Origin", ts.URL)).want(t, 200, "")

	// A trusted origin passes; others still do not.
	tt := newTestServer(t, func(c *Config) { c.CSRFTrustedOrigins = []string{"https://shop.example"} })
	tt.mustUser(email, testPassword)
	secLogin(t, tt.client(), email, testPassword, secHeader("Sec-Fetch-Site", "cross-site"), secHeader("Origin", "https://shop.example")).want(t, 200, "")
	secLogin(t, tt.client(), email, testPassword, secHeader("Sec-Fetch-Site", "cross-site"), secHeader("Origin", "https://evil.example")).want(t, 403, CodeForbidden)
	secLogin(t, tt.client(), email, testPassword, secHeader("Sec-Fetch-Site", "cross-site"), secHeader("Origin", "https://shop.example.evil.example")).want(t, 403, CodeForbidden)
}

func TestSEC45SafeMethodsChangeNothing(t *testing.T) {
	const email = "sec45@example.test"
	ts := newServerWithUser(t, email)
	c := ts.login(email, testPassword)
	for _, p := range []string{
		"/api/v1/auth/logout", "/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/auth/verify-email",
		"/api/v1/auth/resend-verification", "/api/v1/auth/password/change", "/api/v1/auth/password-reset/request",
		"/api/v1/auth/password-reset/confirm", "/api/v1/auth/email-change/request", "/api/v1/auth/email-change/confirm",
		"/api/v1/auth/account",
	} {
		c.do("GET", p, nil).want(t, 405, CodeMethodNotAllowed)
	}
	var a addressView
	c.do("POST", "/api/v1/auth/addresses", secAddressBody("Home")).want(t, 201, "").data(t, &a)
	c.do("GET", "/api/v1/auth/addresses/"+a.ID.String()+"/set-primary", nil).want(t, 405, CodeMethodNotAllowed)
	c.do("TRACE", "/api/v1/auth/addresses/"+a.ID.String(), nil).want(t, 405, CodeMethodNotAllowed)
	c.do("TRACE", "/api/v1/auth/profile", nil).want(t, 405, CodeMethodNotAllowed)
	c.do("TRACE", "/api/v1/auth/login", nil).want(t, 405, CodeMethodNotAllowed)
	// GET /logout did not log out.
	c.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "")
}

func TestSEC46OnlyJSONBodies(t *testing.T) {
	const email = "sec46@example.test"
	ts := newServerWithUser(t, email)
	c := ts.client()
	login := fmt.Sprintf(`{"email":%q,"password":%q}`, email, testPassword)
	for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		r := c.secSend(t, "POST", "/api/v1/auth/login", login, secContentType(ct))
		r.want(t, 415, CodeUnsupportedMedia)
		if c.secCookie("marbelle_session") != "" {
			t.Fatalf("login with %q set a session", ct)
		}
	}
	c.secSend(t, "POST", "/api/v1/auth/register", `{"email":"sec46-new@example.test","password":"tangerine walrus umbrella 42","first_name":"A","last_name":"B"}`, secContentType("text/plain")).want(t, 415, CodeUnsupportedMedia)
	s := ts.login(email, testPassword)
	s.secSend(t, "PATCH", "/api/v1/auth/profile", `{"first_name":"Mallory"}`, secContentType("text/plain")).want(t, 415, CodeUnsupportedMedia)
	// JSON with parameters is JSON.
	c.secSend(t, "POST", "/api/v1/auth/login", login, secContentType("application/json; charset=utf-8")).want(t, 200, "")

	secFlushMail(t, ts)
	if got := ts.mailsTo("sec46-new@example.test"); len(got) != 0 {
		t.Fatalf("text/plain registration sent %d mails", len(got))
	}
	if u := secUser(t, ts, email); u.FirstName != "Ann" {
		t.Fatalf("text/plain PATCH changed the profile to %q", u.FirstName)
	}
}

func TestSEC47CORSOnlyForListedOrigins(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.client()
	preflight := func(origin string) *response {
		return c.secSend(t, "OPTIONS", "/api/v1/auth/login", nil,
			secHeader("Origin", origin),
			secHeader("Access-Control-Request-Method", "POST"),
			secHeader("Access-Control-Request-Headers", "content-type"))
	}
	const good = "http://localhost:5173"
	r := preflight(good)
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != good {
		t.Fatalf("allowed origin: Access-Control-Allow-Origin %q, want %q", got, good)
	}
	if got := r.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Fatalf("allowed origin: Access-Control-Allow-Credentials %q, want true", got)
	}
	if !slices.ContainsFunc(r.Header.Values("Vary"), func(v string) bool { return strings.Contains(v, "Origin") }) {
		t.Fatalf("allowed origin: Vary %q, want Origin", r.Header.Values("Vary"))
	}
	for _, origin := range []string{
		"https://evil.example", "null", "http://localhost:5173.evil.example", "http://evillocalhost:5173",
		"http://localhost:51730", "https://localhost:5173", "http://localhost", "*",
	} {
		for _, r := range []*response{
			preflight(origin),
			c.secSend(t, "GET", "/api/v1/auth/profile", nil, secHeader("Origin", origin)),
		} {
			for k := range r.Header {
				if strings.HasPrefix(k, "Access-Control-Allow-") {
					t.Fatalf("origin %q: got %s: %q, want no Access-Control-Allow-* header", origin, k, r.Header[k])
				}
			}
		}
	}
}

func TestSEC48SecurityHeadersOnEveryAnswer(t *testing.T) {
	cfg := testConfig(t)
	cfg.RateLimits = ratelimit.Defaults()
	ts := startTestServer(t, cfg, ui.Handler(ui.Config{SiteName: "Marbelle", DevMail: true}))
	c := ts.client()
	answers := map[string]*response{
		"/ (UI)":     c.do("GET", "/", nil),
		"healthz":    c.do("GET", "/healthz", nil),
		"401":        c.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated),
		"404":        c.do("GET", "/api/v1/nothing-here", nil).want(t, 404, CodeNotFound),
		"405":        c.do("GET", "/api/v1/auth/login", nil).want(t, 405, CodeMethodNotAllowed),
		"413":        c.do("POST", "/api/v1/auth/login", bytes.Repeat([]byte("a"), maxBodyBytes+1)).want(t, 413, CodeTooLarge),
		"400 (host)": c.secSend(t, "GET", "/healthz", nil, secHost("evil.example")),
	}
	for range 3 {
		c.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": "junk"}).want(t, 400, CodeInvalidToken)
	}
	answers["429"] = c.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": "junk"}).want(t, 429, CodeRateLimited)
	if r := answers["/ (UI)"]; r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/: got %d %q, want the UI page", r.Status, r.Header.Get("Content-Type"))
	}
	for what, r := range answers {
		h := r.Header
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: X-Content-Type-Options %q, want nosniff", what, h.Get("X-Content-Type-Options"))
		}
		csp := map[string]string{}
		for _, d := range strings.Split(h.Get("Content-Security-Policy"), ";") {
			if f := strings.Fields(d); len(f) > 0 {
				csp[strings.ToLower(f[0])] = strings.Join(f[1:], " ")
			}
		}
		for _, d := range []string{"object-src", "base-uri", "frame-ancestors"} {
			if csp[d] != "'none'" {
				t.Fatalf("%s: CSP %s %q, want 'none' (CSP %q)", what, d, csp[d], h.Get("Content-Security-Policy"))
			}
		}
		script, ok := csp["script-src"]
		if !ok {
			script, ok = csp["default-src"]
		}
		if !ok || strings.Contains(script, "'unsafe-inline'") || strings.Contains(script, "'unsafe-eval'") || strings.Contains(script, "*") {
			t.Fatalf("%s: script sources %q, want a list without unsafe-inline, unsafe-eval or *", what, script)
		}
		if h.Get("Referrer-Policy") == "" {
			t.Fatalf("%s: no Referrer-Policy", what)
		}
		if ct := h.Get("Content-Type"); !strings.Contains(strings.ToLower(ct), "charset=utf-8") {
			t.Fatalf("%s: Content-Type %q, want charset=utf-8", what, ct)
		}
		if sv := h.Get("Server"); strings.Contains(strings.ToLower(sv), "go") || regexp.MustCompile(`[0-9]+\.[0-9]+`).MatchString(sv) {
			t.Fatalf("%s: Server %q names the software", what, sv)
		}
	}

	// Pages carry the UI's policy and the document-only headers; JSON
	// answers a policy that allows nothing, without those.
	for what, r := range answers {
		h, page := r.Header, what == "/ (UI)"
		if csp := h.Get("Content-Security-Policy"); page != (csp == pageCSP) || !page && csp != jsonCSP {
			t.Fatalf("%s: CSP %q", what, csp)
		}
		if page != (h.Get("Permissions-Policy") != "") || page != (h.Get("Cross-Origin-Opener-Policy") == "same-origin") {
			t.Fatalf("%s: Permissions-Policy %q, Cross-Origin-Opener-Policy %q; want them on pages only", what, h.Get("Permissions-Policy"), h.Get("Cross-Origin-Opener-Policy"))
		}
	}

	// Behind https: HSTS for at least a year, with subdomains.
	hs := startTestServer(t, secHTTPSConfig(t), nil)
	hc := hs.client()
	for _, r := range []*response{
		hc.secSend(t, "GET", "/healthz", nil, secHost("shop.example")),
		hc.secSend(t, "GET", "/api/v1/auth/profile", nil, secHost("shop.example")),
		hc.secSend(t, "GET", "/healthz", nil, secHost("evil.example")),
	} {
		hsts := r.Header.Get("Strict-Transport-Security")
		m := regexp.MustCompile(`max-age=([0-9]+)`).FindStringSubmatch(hsts)
		if m == nil || !strings.Contains(strings.ToLower(hsts), "includesubdomains") {
			t.Fatalf("HSTS %q, want max-age ≥ 31536000 and includeSubDomains", hsts)
		}
		if n, _ := strconv.Atoi(m[1]); n < 31536000 {
			t.Fatalf("HSTS max-age %d, want ≥ 31536000", n)
		}
	}
}

func TestSEC51HostAllowlist(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.client()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL, "http://"))
	login := map[string]string{"email": "nobody@example.test", "password": "wrong password guess"}
	for _, h := range []string{"evil.example", "evil.example:" + port, "localhost.evil.example", "127.0.0.1.nip.io", "evil.example.", "localhos"} {
		for _, r := range []*response{
			c.secSend(t, "GET", "/healthz", nil, secHost(h)),
			c.secSend(t, "POST", "/api/v1/auth/login", login, secHost(h)),
		} {
			if r.Status != 400 {
				t.Fatalf("Host %q: got %d %s, want 400", h, r.Status, r.Body)
			}
		}
	}
	for _, h := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "localhost"} {
		c.secSend(t, "GET", "/healthz", nil, secHost(h)).want(t, 200, "")
		c.secSend(t, "POST", "/api/v1/auth/login", login, secHost(h)).want(t, 401, CodeUnauthenticated)
	}
}
