package app

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestForwardAuth drives GET /api/v1/auth/forward as Caddy, nginx and
// Traefik call it: the session decides, ?staff=1 narrows, and without a
// session a browser navigation is sent to the login page (with next= only
// for a forward-auth host) while anything else gets 401.
func TestForwardAuth(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.ForwardAuthHosts = []string{"shop.example", "app.shop.example:8443"} })
	ts.mustUser("ann@example.test", testPassword)
	customer := ts.login("ann@example.test", testPassword)
	staff := ts.staff("staff@example.test")
	anon := ts.client()
	login := ts.URL + "/login"
	html := "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

	type hdr = map[string]string
	cases := []struct {
		name       string
		c          *testClient
		query      string
		header     hdr
		wantStatus int
		wantCode   string
		wantLoc    string // Location of a 302
	}{
		{"customer", customer, "", nil, 200, "", ""},
		{"customer, explicit aal=1 and staff=0", customer, "?aal=1&staff=0", nil, 200, "", ""},
		{"customer on a staff page", customer, "?staff=1", nil, 403, CodeForbidden, ""},
		{"customer where AAL2 is asked", customer, "?aal=2", nil, 403, CodeForbidden, ""},
		{"staff on a staff page", staff, "?staff=1", nil, 200, "", ""},
		{"unknown staff value fails closed", customer, "?staff=true", nil, 400, CodeValidation, ""},
		{"unknown aal value fails closed", staff, "?aal=3", nil, 400, CodeValidation, ""},
		{"anonymous API client", anon, "", hdr{"Accept": "application/json"}, 401, CodeUnauthenticated, ""},
		{"anonymous, no Accept", anon, "", nil, 401, CodeUnauthenticated, ""},
		{"anonymous on a staff page, API client", anon, "?staff=1", nil, 401, CodeUnauthenticated, ""},
		{"anonymous browser, Caddy/Traefik headers", anon, "", hdr{"Accept": html, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example", "X-Forwarded-Uri": "/orders?id=7&x=1"},
			302, "", login + "?next=" + url.QueryEscape("https://shop.example/orders?id=7&x=1")},
		{"anonymous browser, nginx X-Original-URL", anon, "?staff=1", hdr{"Accept": html, "X-Original-URL": "https://app.shop.example:8443/admin/"},
			302, "", login + "?next=" + url.QueryEscape("https://app.shop.example:8443/admin/")},
		{"host in upper case", anon, "", hdr{"Accept": html, "X-Original-URL": "https://SHOP.example/a"},
			302, "", login + "?next=" + url.QueryEscape("https://shop.example/a")},
		{"http is fine in development", anon, "", hdr{"Accept": html, "X-Original-URL": "http://shop.example/a"},
			302, "", login + "?next=" + url.QueryEscape("http://shop.example/a")},
		{"default port", anon, "", hdr{"Accept": html, "X-Original-URL": "https://shop.example:443/a"},
			302, "", login + "?next=" + url.QueryEscape("https://shop.example:443/a")},
		{"no original URL", anon, "", hdr{"Accept": html}, 302, "", login},
		{"a host not listed", anon, "", hdr{"Accept": html, "X-Original-URL": "https://evil.example/"}, 302, "", login},
		{"a listed host on another port", anon, "", hdr{"Accept": html, "X-Original-URL": "https://shop.example:8443/"}, 302, "", login},
		{"a subdomain of a listed host", anon, "", hdr{"Accept": html, "X-Original-URL": "https://evil.shop.example/"}, 302, "", login},
		{"userinfo", anon, "", hdr{"Accept": html, "X-Original-URL": "https://shop.example@evil.example/"}, 302, "", login},
		{"userinfo on a listed host", anon, "", hdr{"Accept": html, "X-Original-URL": "https://evil@shop.example/"}, 302, "", login},
		{"forwarded host with userinfo", anon, "", hdr{"Accept": html, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example@evil.example", "X-Forwarded-Uri": "/"}, 302, "", login},
		{"forwarded host list", anon, "", hdr{"Accept": html, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example, evil.example", "X-Forwarded-Uri": "/"}, 302, "", login},
		{"javascript scheme", anon, "", hdr{"Accept": html, "X-Original-URL": "javascript://shop.example/%0aalert(1)"}, 302, "", login},
		{"relative original URL", anon, "", hdr{"Accept": html, "X-Original-URL": "//shop.example/a"}, 302, "", login},
		{"forwarded headers win over X-Original-URL", anon, "", hdr{"Accept": html, "X-Original-URL": "https://shop.example/b", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example", "X-Forwarded-Uri": "/"}, 302, "", login},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.send(t, "GET", "/api/v1/auth/forward"+tc.query, nil, func(req *http.Request) {
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
			}).want(t, tc.wantStatus, tc.wantCode)
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control: got %q, want no-store", got)
			}
			if got := r.Header.Get("Location"); got != tc.wantLoc {
				t.Errorf("Location: got %q, want %q", got, tc.wantLoc)
			}
			if tc.wantStatus != 200 && r.Header.Get("X-Marbelle-User-Id") != "" {
				t.Errorf("a %d answer carries X-Marbelle-User-Id", tc.wantStatus)
			}
		})
	}

	// The answer that lets a request through: the user in four headers and
	// no body.
	for _, who := range []struct {
		c            *testClient
		email, staff string
	}{{customer, "ann@example.test", "false"}, {staff, "staff@example.test", "true"}} {
		r := who.c.do("GET", "/api/v1/auth/forward", nil).want(t, 200, "")
		want := map[string]string{"X-Marbelle-User-Id": ts.userID(who.email), "X-Marbelle-Email": who.email, "X-Marbelle-Staff": who.staff, "X-Marbelle-AAL": "1"}
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %s: got %q, want %q", who.email, k, got, v)
			}
		}
		if len(r.Body) != 0 {
			t.Errorf("%s: 200 with a body: %q", who.email, r.Body)
		}
	}

	// The request log names the route, never the session.
	cookie := customer.secCookie(ts.srv.cookieName)
	if cookie == "" || strings.Contains(ts.logBuf.String(), cookie) || strings.Contains(ts.logBuf.String(), secSecret(t, ts, cookie)) {
		t.Errorf("the log holds the session cookie or its secret")
	}
}

// TestForwardAuthProductionHTTPSOnly: in production a forward-auth host is
// an https origin only, so an http original URL gets no next.
func TestForwardAuthProductionHTTPSOnly(t *testing.T) {
	env := secProductionEnv(t)
	env["MARBELLE_FORWARD_AUTH_HOSTS"] = "shop.example"
	env["MARBELLE_BASE_URL"] = "https://account.shop.example"
	cfg, err := LoadConfig(nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.ForwardAuthOrigins(), []string{"https://shop.example"}; !slices.Equal(got, want) {
		t.Fatalf("ForwardAuthOrigins: got %v, want %v", got, want)
	}
	ts := startTestServer(t, cfg, nil)
	c := ts.client()
	for original, want := range map[string]string{
		"https://shop.example/a": "https://account.shop.example/login?next=" + url.QueryEscape("https://shop.example/a"),
		"http://shop.example/a":  "https://account.shop.example/login",
	} {
		r := c.send(t, "GET", "/api/v1/auth/forward", nil, secHost("shop.example"), secHeader("Accept", "text/html"), secHeader("X-Original-URL", original)).want(t, 302, "")
		if got := r.Header.Get("Location"); got != want {
			t.Errorf("%s: Location %q, want %q", original, got, want)
		}
	}
}

// TestConfigForwardAuthHosts: hosts with or without a port; anything that
// is not a host is refused, each named.
func TestConfigForwardAuthHosts(t *testing.T) {
	cfg, err := parseConfig(map[string]string{"MARBELLE_FORWARD_AUTH_HOSTS": " Shop.Example , app.shop.example:8443,[::1]:8080,shop.example:80"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"shop.example", "app.shop.example:8443", "[::1]:8080", "shop.example:80"}; !slices.Equal(cfg.ForwardAuthHosts, want) {
		t.Errorf("hosts: got %v, want %v", cfg.ForwardAuthHosts, want)
	}
	want := []string{"https://shop.example", "http://shop.example", "https://app.shop.example:8443", "http://app.shop.example:8443", "https://[::1]:8080", "http://[::1]:8080", "https://shop.example:80", "http://shop.example"}
	if got := cfg.ForwardAuthOrigins(); !slices.Equal(got, want) {
		t.Errorf("development origins: got %v, want %v", got, want)
	}
	for _, bad := range []string{"https://shop.example", "shop.example/path", "*.shop.example", "user@shop.example", "shop.example:0", "shop.example:http", "shop example", "shop.example?x"} {
		_, err := parseConfig(map[string]string{"MARBELLE_FORWARD_AUTH_HOSTS": "ok.example," + bad})
		if err == nil || !strings.Contains(err.Error(), "MARBELLE_FORWARD_AUTH_HOSTS") {
			t.Errorf("%q: got %v, want a MARBELLE_FORWARD_AUTH_HOSTS problem", bad, err)
		}
	}
}
