package app

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marbelle/marbelle/store"
)

// Session tokens for apps (issue 16): a login with "session": "token"
// answers the session's secret instead of setting the cookie, and every
// session route takes it as Authorization: Bearer.

// tokenLogin logs in with "session": "token" and returns the answer.
func (ts *testServer) tokenLogin(t testing.TB, email, password string) *response {
	t.Helper()
	return ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password, "session": "token"})
}

// sessionToken logs in with "session": "token" and returns the token.
func (ts *testServer) sessionToken(t testing.TB, email, password string) string {
	t.Helper()
	var out struct {
		SessionToken string `json:"session_token"`
	}
	ts.tokenLogin(t, email, password).want(t, 200, "").data(t, &out)
	return out.SessionToken
}

// bearerClient is a client (with no cookies) that sends token on every request.
func (ts *testServer) bearerClient(token string) *testClient {
	c := ts.client()
	c.header.Set("Authorization", "Bearer "+token)
	return c
}

// sessionsOf lists the sessions c sees.
func (c *testClient) sessionsOf(t testing.TB) []sessionView {
	t.Helper()
	var list []sessionView
	c.do("GET", "/api/v1/auth/sessions", nil).want(t, 200, "").data(t, &list)
	return list
}

// currentSession is the session c is calling with, from its list.
func currentSession(t testing.TB, c *testClient) sessionView {
	t.Helper()
	for _, s := range c.sessionsOf(t) {
		if s.Current {
			return s
		}
	}
	t.Fatal("no current session in the list")
	return sessionView{}
}

func TestSessionTokenLoginAndUse(t *testing.T) {
	const email = "app@example.test"
	ts := newServerWithUser(t, email)

	r := ts.tokenLogin(t, email, testPassword).want(t, 200, "")
	if sc := r.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Fatalf("token login set cookies: %q", sc)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("token login Cache-Control: got %q, want no-store", cc)
	}
	var got struct {
		profile
		SessionToken string `json:"session_token"`
	}
	r.data(t, &got)
	if got.Email != email || got.ID.String() != ts.userID(email) || len(got.SessionToken) < 43 || !wellFormedToken(got.SessionToken) {
		t.Fatalf("token login data: %s", r.Env.Data)
	}
	checkGolden(t, "login_token", r.Body)
	token := got.SessionToken

	app := ts.bearerClient(token)
	var p profile
	app.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "").data(t, &p)
	if p.Email != email {
		t.Fatalf("bearer profile: got %q", p.Email)
	}
	app.do("PATCH", "/api/v1/auth/profile", map[string]string{"first_name": "Appy"}).want(t, 200, "")
	var addr addressView
	app.do("POST", "/api/v1/auth/addresses", addressBody("Home")).want(t, 201, "").data(t, &addr)
	if list := app.addresses(t); len(list) != 1 || list[0].ID != addr.ID || !list[0].IsPrimary {
		t.Fatalf("bearer address list: %+v", list)
	}
	app.do("GET", "/api/v1/auth/addresses/"+addr.ID.String(), nil).want(t, 200, "")

	// Beside a browser's cookie session: both listed, each with its kind,
	// and each is "current" to its own caller only.
	browser := ts.login(email, testPassword)
	list := app.sessionsOf(t)
	if len(list) != 2 || list[0].Kind != "cookie" || list[0].Current || list[1].Kind != "token" || !list[1].Current {
		t.Fatalf("sessions seen by the app: %+v", list)
	}
	if bl := browser.sessionsOf(t); len(bl) != 2 || !bl[0].Current || bl[1].Current {
		t.Fatalf("sessions seen by the browser: %+v", bl)
	}

	// Logout with the bearer token ends that session only, and leaves the
	// browser's cookie alone (no Set-Cookie, no Clear-Site-Data).
	r = app.do("POST", "/api/v1/auth/logout", nil).want(t, 200, "")
	if sc, csd := r.Header.Values("Set-Cookie"), r.Header.Get("Clear-Site-Data"); len(sc) != 0 || csd != "" {
		t.Fatalf("bearer logout: Set-Cookie %q, Clear-Site-Data %q; want neither", sc, csd)
	}
	app.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	if bl := browser.sessionsOf(t); len(bl) != 1 || bl[0].Kind != "cookie" {
		t.Fatalf("after the app's logout the browser sees %+v", bl)
	}

	// The browser can end an app's session from its list.
	token2 := ts.sessionToken(t, email, testPassword)
	app2 := ts.bearerClient(token2)
	id := currentSession(t, app2).ID
	browser.do("DELETE", "/api/v1/auth/sessions/"+id.String(), nil).want(t, 200, "")
	app2.do("GET", "/api/v1/auth/addresses", nil).want(t, 401, CodeUnauthenticated)

	// The login audit says which kind of session it opened.
	var tokenLogins int
	for _, e := range ts.auditEvents(email) {
		if e.Event == "login" && e.Detail["session"] == "token" {
			tokenLogins++
		}
	}
	if tokenLogins != 2 {
		t.Fatalf("got %d login events with session=token, want 2", tokenLogins)
	}

	// No token reaches the log.
	if logs := ts.logBuf.String(); strings.Contains(logs, token) || strings.Contains(logs, token2) {
		t.Fatal("the log holds a session token")
	}
	ts.checkStore()
}

func TestSessionTokenLoginRefusesAnUnknownSessionKind(t *testing.T) {
	ts := newServerWithUser(t, "kind@example.test")
	r := ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "kind@example.test", "password": testPassword, "session": "jwt"}).want(t, 400, CodeValidation)
	if len(r.Env.Errors["session"]) == 0 {
		t.Fatalf("want an error on session: %s", r.Body)
	}
	// "cookie" is the default spelled out.
	r = ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "kind@example.test", "password": testPassword, "session": "cookie"}).want(t, 200, "")
	if len(r.Header.Values("Set-Cookie")) != 1 || strings.Contains(string(r.Body), "session_token") {
		t.Fatalf("cookie login: Set-Cookie %q, body %s", r.Header.Values("Set-Cookie"), r.Body)
	}
}

// TestSessionCheck: GET /session answers who is signed in and how, for a
// cookie and for a bearer token alike, and 401 without a session.
func TestSessionCheck(t *testing.T) {
	const email = "check@example.test"
	ts := newServerWithUser(t, email)
	login := ts.clock.Now()
	ts.client().do("GET", "/api/v1/auth/session", nil).want(t, 401, CodeUnauthenticated)

	type check struct {
		User    profile       `json:"user"`
		Session sessionDetail `json:"session"`
	}
	browser := ts.login(email, testPassword)
	app := ts.bearerClient(ts.sessionToken(t, email, testPassword))
	for name, c := range map[string]*testClient{"cookie": browser, "bearer": app} {
		r := c.do("GET", "/api/v1/auth/session", nil).want(t, 200, "")
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: Cache-Control %q", name, r.Header.Get("Cache-Control"))
		}
		var got check
		r.data(t, &got)
		// Customers: idle 7 days ends before the absolute 28.
		if got.User.Email != email || len(got.Session.Methods) != 1 || got.Session.Methods[0] != "password" || got.Session.AAL != 1 ||
			!got.Session.CreatedAt.Equal(login) || !got.Session.LastSeenAt.Equal(login) || !got.Session.ExpiresAt.Equal(login.Add(7*24*time.Hour)) {
			t.Fatalf("%s: %s", name, r.Env.Data)
		}
		if cur := currentSession(t, c); cur.ID != got.Session.ID || cur.Kind != map[string]string{"cookie": "cookie", "bearer": "token"}[name] {
			t.Fatalf("%s: session %s, the list's current one %+v", name, got.Session.ID, cur)
		}
		if name == "bearer" {
			checkGolden(t, "session_check", r.Body)
		}
	}

	// A day on, the request that touches the session shows the moved idle
	// end; the absolute end stays.
	ts.clock.Advance(24 * time.Hour)
	var got check
	app.do("GET", "/api/v1/auth/session", nil).want(t, 200, "").data(t, &got)
	now := ts.clock.Now()
	if !got.Session.LastSeenAt.Equal(now) || !got.Session.ExpiresAt.Equal(now.Add(7*24*time.Hour)) {
		t.Fatalf("after a day: last seen %v, expires %v; want %v and 7 days on", got.Session.LastSeenAt, got.Session.ExpiresAt, now)
	}

	// When the idle timeout is longer than the absolute one, the absolute end shows.
	ls := newTestServer(t, func(c *Config) { c.SessionTTL.Idle = 60 * 24 * time.Hour })
	ls.mustUser(email, testPassword)
	ls.bearerClient(ls.sessionToken(t, email, testPassword)).do("GET", "/api/v1/auth/session", nil).want(t, 200, "").data(t, &got)
	if want := ls.clock.Now().Add(28 * 24 * time.Hour); !got.Session.ExpiresAt.Equal(want) {
		t.Fatalf("expires_at: got %v, want the absolute end %v", got.Session.ExpiresAt, want)
	}
}

// TestSessionTokenIgnoresCookieBesideAuthorization: with an Authorization
// header the cookie is not looked at, whatever the header holds.
func TestSessionTokenIgnoresCookieBesideAuthorization(t *testing.T) {
	ts := newServerWithUser(t, "ann@example.test")
	ts.mustUser("bob@example.test", testPassword)
	browser := ts.login("ann@example.test", testPassword) // holds Ann's cookie
	bobToken := ts.sessionToken(t, "bob@example.test", testPassword)

	var p profile
	browser.send(t, "GET", "/api/v1/auth/profile", nil, secHeader("Authorization", "Bearer "+bobToken)).want(t, 200, "").data(t, &p)
	if p.Email != "bob@example.test" {
		t.Fatalf("cookie of Ann and Bob's token: got %s's profile, want Bob's", p.Email)
	}
	for _, h := range []string{"Bearer " + strings.Repeat("x", 43), "Bearer", "Basic YW5uOnB3", "mbk_" + strings.Repeat("k", 43)} {
		browser.send(t, "GET", "/api/v1/auth/profile", nil, secHeader("Authorization", h)).want(t, 401, CodeUnauthenticated)
	}
	// Bob's logout, sent with Ann's cookie, ends Bob's session and leaves
	// Ann's, and her cookie, alone.
	r := browser.send(t, "POST", "/api/v1/auth/logout", nil, secHeader("Authorization", "Bearer "+bobToken)).want(t, 200, "")
	if len(r.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("bearer logout touched the cookie: %q", r.Header.Values("Set-Cookie"))
	}
	ts.bearerClient(bobToken).do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	browser.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "").data(t, &p)
	if p.Email != "ann@example.test" {
		t.Fatalf("after Bob's logout the cookie is %s's", p.Email)
	}
}

// TestSessionTokenSkipsCrossOriginCheck: a state change from another site
// passes with a bearer token (nothing ambient to abuse) and is refused
// with the cookie; an Authorization scheme a browser attaches by itself
// (Basic) does not open the way for the cookie.
func TestSessionTokenSkipsCrossOriginCheck(t *testing.T) {
	const email = "xo@example.test"
	ts := newServerWithUser(t, email)
	browser := ts.login(email, testPassword)
	app := ts.bearerClient(ts.sessionToken(t, email, testPassword))
	crossSite := []secOpt{secHeader("Origin", "https://evil.example"), secHeader("Sec-Fetch-Site", "cross-site")}

	app.send(t, "PATCH", "/api/v1/auth/profile", map[string]string{"first_name": "Bearer"}, crossSite...).want(t, 200, "")
	app.send(t, "POST", "/api/v1/auth/addresses", addressBody("Home"), crossSite...).want(t, 201, "")

	browser.send(t, "PATCH", "/api/v1/auth/profile", map[string]string{"first_name": "Cookie"}, crossSite...).want(t, 403, CodeForbidden)
	withBasic := append([]secOpt{secHeader("Authorization", "Basic eG86cHc=")}, crossSite...)
	browser.send(t, "PATCH", "/api/v1/auth/profile", map[string]string{"first_name": "Basic"}, withBasic...).want(t, 403, CodeForbidden)
	browser.send(t, "POST", "/api/v1/auth/logout", nil, crossSite...).want(t, 403, CodeForbidden)

	var p profile
	browser.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "").data(t, &p)
	if p.FirstName != "Bearer" {
		t.Fatalf("first name %q, want the bearer request's", p.FirstName)
	}
	// A listed origin may send the header on its preflighted requests.
	r := ts.client().send(t, "OPTIONS", "/api/v1/auth/profile", nil, secHeader("Origin", "http://localhost:5173"), secHeader("Access-Control-Request-Method", "PATCH"), secHeader("Access-Control-Request-Headers", "authorization,content-type"))
	if allowed := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(allowed, "authorization") {
		t.Fatalf("preflight Access-Control-Allow-Headers %q does not allow Authorization", allowed)
	}
}

// TestSessionTokenBadTokens: whatever is wrong with a token, a session
// route answers 401 in the envelope, never 500, and never takes it from
// the query string.
func TestSessionTokenBadTokens(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("staff@example.test")
	for _, e := range []string{"ann@example.test", "bob@example.test", "gone@example.test", "off@example.test"} {
		ts.mustUser(e, testPassword)
	}
	good := ts.sessionToken(t, "ann@example.test", testPassword)

	revoked := ts.sessionToken(t, "bob@example.test", testPassword)
	rc := ts.bearerClient(revoked)
	rc.do("DELETE", "/api/v1/auth/sessions/"+currentSession(t, rc).ID.String(), nil).want(t, 200, "")

	deleted := ts.sessionToken(t, "gone@example.test", testPassword)
	ts.bearerClient(deleted).do("DELETE", "/api/v1/auth/account", map[string]string{"password": testPassword}).want(t, 200, "")

	deactivated := ts.sessionToken(t, "off@example.test", testPassword)
	admin.do("PATCH", "/api/v1/admin/users/"+ts.userID("off@example.test"), map[string]any{"is_active": false}).want(t, 200, "")

	otherID := currentSession(t, admin).ID.String() // a session id is public, never a secret
	cookieValue := admin.secCookie(ts.srv.cookieName)

	cases := []struct{ name, header, query string }{
		{"no credential", "", ""},
		{"malformed", "Bearer " + strings.Repeat("!", 43), ""},
		{"truncated", "Bearer " + good[:42], ""},
		{"one character longer", "Bearer " + good + "A", ""},
		{"one character changed", "Bearer " + flipLast(good), ""},
		{"too long", "Bearer " + strings.Repeat("A", 4096), ""},
		{"Bearer without value", "Bearer", ""},
		{"Bearer and blanks", "Bearer    ", ""},
		{"empty header", " ", ""},
		{"token without scheme", good, ""},
		{"Basic", "Basic YW5uQGV4YW1wbGUudGVzdDpwdw==", ""},
		{"an API key", "Bearer mbk_" + strings.Repeat("a", 43), ""},
		{"revoked", "Bearer " + revoked, ""},
		{"deleted user", "Bearer " + deleted, ""},
		{"deactivated user", "Bearer " + deactivated, ""},
		{"another user's session id", "Bearer " + otherID, ""},
		{"a cookie value as the token", "Bearer " + cookieValue, ""},
		{"token in the query string", "", "?session_token=" + good},
		{"token in the query string, access_token", "", "?access_token=" + good},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, route := range []struct{ method, path string }{{"GET", "/api/v1/auth/profile"}, {"GET", "/api/v1/auth/session"}, {"PATCH", "/api/v1/auth/profile"}} {
				var body any
				if route.method == "PATCH" {
					body = map[string]string{"first_name": "X"}
				}
				r := ts.client().send(t, route.method, route.path+c.query, body, func(r *http.Request) {
					if c.header != "" {
						r.Header.Set("Authorization", c.header)
					}
				}).want(t, 401, CodeUnauthenticated)
				if r.Env.Success || r.Env.Message == "" {
					t.Fatalf("%s %s: not the failure envelope: %s", route.method, route.path, r.Body)
				}
			}
		})
	}
	// Two Authorization headers are no credential, even if one is good.
	ts.client().send(t, "GET", "/api/v1/auth/profile", nil, func(r *http.Request) {
		r.Header.Add("Authorization", "Bearer "+good)
		r.Header.Add("Authorization", "Bearer "+good)
	}).want(t, 401, CodeUnauthenticated)
	// The raw token is not a cookie either: cookies are minted by the server.
	ts.client().send(t, "GET", "/api/v1/auth/profile", nil, secHeader("Cookie", ts.srv.cookieName+"="+good)).want(t, 401, CodeUnauthenticated)

	// The scheme is case-insensitive; the good token works until the
	// clock passes its idle end.
	ts.client().send(t, "GET", "/api/v1/auth/profile", nil, secHeader("Authorization", "bearer "+good)).want(t, 200, "")
	ts.clock.Advance(7*24*time.Hour + time.Second)
	ts.bearerClient(good).do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)

	if logs := ts.logBuf.String(); strings.Contains(logs, good) || strings.Contains(logs, revoked) || strings.Contains(logs, `"level":"ERROR"`) {
		t.Fatalf("the log holds a token or an internal error:\n%s", logs)
	}
}

func flipLast(s string) string {
	last := byte('A')
	if s[len(s)-1] == 'A' {
		last = 'B'
	}
	return s[:len(s)-1] + string(last)
}

// TestSessionTokenConcurrentLogins: token logins at once, of one account
// and of several, each get a session of their own that works, and the
// store's invariants hold. Run under -race.
func TestSessionTokenConcurrentLogins(t *testing.T) {
	ts := newTestServer(t, nil)
	const perUser, users = 8, 3
	for u := range users {
		ts.mustUser(fmt.Sprintf("c%d@example.test", u), testPassword)
	}
	tokens := make([]string, perUser*users)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() {
			tokens[i] = ts.sessionToken(t, fmt.Sprintf("c%d@example.test", i%users), testPassword)
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, tok := range tokens {
		if seen[tok] {
			t.Fatalf("token %d was handed out twice", i)
		}
		seen[tok] = true
	}
	for i := range tokens {
		wg.Go(func() {
			var p profile
			ts.bearerClient(tokens[i]).do("GET", "/api/v1/auth/profile", nil).want(t, 200, "").data(t, &p)
			if want := fmt.Sprintf("c%d@example.test", i%users); p.Email != want {
				t.Errorf("token %d is %s's, want %s's", i, p.Email, want)
			}
		})
	}
	wg.Wait()
	for u := range users {
		if list := ts.bearerClient(tokens[u]).sessionsOf(t); len(list) != perUser {
			t.Fatalf("user %d has %d sessions, want %d", u, len(list), perUser)
		}
	}
	ts.checkStore()
}

// TestCookieDomainOverHTTPS: with MARBELLE_COOKIE_DOMAIN behind https the
// cookie covers the domain, is named __Secure- (a __Host- cookie may not
// have a Domain), is read back, and is cleared with the same Domain.
func TestCookieDomainOverHTTPS(t *testing.T) {
	cfg := testConfig(t)
	cfg.BaseURL = "https://account.shop.example"
	cfg.CookieDomain = "shop.example"
	cfg.AllowedHosts = append(cfg.AllowedHosts, "account.shop.example")
	ts := startTestServer(t, cfg, nil)
	const email = "domain@example.test"
	ts.mustUser(email, testPassword)
	host := secHost("account.shop.example")

	r := secLogin(t, ts.client(), email, testPassword, host).want(t, 200, "")
	cookies := secSetCookies(t, r)
	if len(cookies) != 1 {
		t.Fatalf("got %d Set-Cookie headers, want 1", len(cookies))
	}
	ck, raw := cookies[0], r.Header.Get("Set-Cookie")
	if ck.Name != "__Secure-marbelle_session" || ck.Domain != "shop.example" || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
		t.Fatalf("cookie: got %q, want __Secure-marbelle_session; Domain=shop.example; Secure; HttpOnly; SameSite=Lax; Path=/", raw)
	}
	withCookie := secHeader("Cookie", ck.Name+"="+ck.Value)
	ts.client().send(t, "GET", "/api/v1/auth/profile", nil, host, withCookie).want(t, 200, "")
	r = ts.client().send(t, "POST", "/api/v1/auth/logout", nil, host, withCookie).want(t, 200, "")
	cleared := secSetCookies(t, r)
	if len(cleared) != 1 || cleared[0].Name != ck.Name || cleared[0].Domain != "shop.example" || cleared[0].MaxAge >= 0 || !cleared[0].Secure {
		t.Fatalf("logout: got %q, want the cookie cleared with the same name and Domain", r.Header.Values("Set-Cookie"))
	}
	ts.client().send(t, "GET", "/api/v1/auth/profile", nil, host, withCookie).want(t, 401, CodeUnauthenticated)

	// Tokens are the same whatever the cookie's domain.
	tok := ts.client().send(t, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword, "session": "token"}, host).want(t, 200, "")
	if len(tok.Header.Values("Set-Cookie")) != 0 {
		t.Fatal("token login set a cookie")
	}

	// Over http (development) the name has no prefix and the Domain stays.
	dev := newTestServer(t, func(c *Config) { c.CookieDomain = "shop.example" })
	dev.mustUser(email, testPassword)
	r = secLogin(t, dev.client(), email, testPassword).want(t, 200, "")
	if c := secSetCookies(t, r); len(c) != 1 || c[0].Name != "marbelle_session" || c[0].Domain != "shop.example" || c[0].Secure {
		t.Fatalf("http cookie: got %q", r.Header.Values("Set-Cookie"))
	}
}

func TestConfigCookieDomain(t *testing.T) {
	base := func(url, domain string) map[string]string {
		env := validProduction()
		env["MARBELLE_BASE_URL"] = url
		if domain != "" {
			env["MARBELLE_COOKIE_DOMAIN"] = domain
		}
		return env
	}
	for _, c := range []struct{ url, domain, want string }{
		{"https://account.shop.example", "shop.example", "shop.example"},
		{"https://account.shop.example", ".Shop.Example", "shop.example"},
		{"https://shop.example", "shop.example", "shop.example"},
		{"https://a.b.shop.co.uk", "shop.co.uk", "shop.co.uk"},
		{"https://account.shop.example", "", ""},
	} {
		cfg, err := LoadConfig(nil, envOf(base(c.url, c.domain)), &strings.Builder{})
		if err != nil || cfg.CookieDomain != c.want {
			t.Fatalf("%s with %q: got %q, %v; want %q", c.url, c.domain, cfg.CookieDomain, err, c.want)
		}
	}
	for _, c := range []struct{ name, url, domain string }{
		{"IPv4", "https://192.0.2.1", "192.0.2.1"},
		{"IPv6", "https://[2001:db8::1]", "[2001:db8::1]"},
		{"single label", "https://shop", "shop"},
		{"localhost", "https://localhost", "localhost"},
		{"a top-level domain", "https://shop.com", "com"},
		{"a public suffix of two labels", "https://shop.co.uk", "co.uk"},
		{"a private public suffix", "https://shop.github.io", "github.io"},
		{"with a port", "https://shop.example", "shop.example:443"},
		{"with a path", "https://shop.example", "shop.example/x"},
		{"not a host name", "https://shop.example", "sh op.example"},
		{"a label starting with a hyphen", "https://shop.example", "-shop.example"},
		{"an empty label", "https://shop.example", "shop..example"},
		{"not the base URL's domain", "https://account.shop.example", "other.example"},
		{"a suffix of the host that is not a domain of it", "https://myshop.example", "shop.example"},
		{"a subdomain of the host", "https://shop.example", "account.shop.example"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadConfig(nil, envOf(base(c.url, c.domain)), &strings.Builder{})
			if err == nil || !strings.Contains(err.Error(), "MARBELLE_COOKIE_DOMAIN") {
				t.Fatalf("got %v, want an error naming MARBELLE_COOKIE_DOMAIN", err)
			}
		})
	}
	// Development without a base URL has no host to check the domain against.
	_, err := LoadConfig(nil, envOf(map[string]string{"MARBELLE_COOKIE_DOMAIN": "shop.example"}), &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "MARBELLE_BASE_URL") {
		t.Fatalf("development without a base URL: got %v, want an error asking for MARBELLE_BASE_URL", err)
	}
}

// Store records of token sessions say so, with their methods and AAL.
func TestSessionTokenStoredKindMethodsAAL(t *testing.T) {
	ts := newServerWithUser(t, "rec@example.test")
	ts.sessionToken(t, "rec@example.test", testPassword)
	ts.login("rec@example.test", testPassword)
	ts.db.View(func(tx *store.Tx) error {
		u, _ := tx.UserByEmail("rec@example.test")
		list, err := tx.UserSessions(u.ID)
		if err != nil || len(list) != 2 {
			t.Fatalf("sessions: %v, %v", list, err)
		}
		for i, s := range list {
			if s.Token != (i == 0) || len(s.Methods) != 1 || s.Methods[0] != "password" || s.AAL != 1 {
				t.Fatalf("session %d: %+v", i, s)
			}
		}
		return nil
	})
}
