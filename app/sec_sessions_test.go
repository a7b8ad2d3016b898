package app

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

// ---------------------------------------------------------------------------
// C. Sessions

func TestSEC29CookieAttributes(t *testing.T) {
	const email = "sec29@example.test"
	ts := newServerWithUser(t, email)
	c := ts.client()
	var bodies [][]byte
	r := secLogin(t, c, email, testPassword).want(t, 200, "")
	bodies = append(bodies, r.Body)
	cookies := secSetCookies(t, r)
	if len(cookies) != 1 {
		t.Fatalf("login: got %d Set-Cookie headers, want 1: %q", len(cookies), r.Header.Values("Set-Cookie"))
	}
	ck, raw := cookies[0], r.Header.Get("Set-Cookie")
	if ck.Name != "marbelle_session" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" || ck.Secure {
		t.Fatalf("cookie over http: got %q, want marbelle_session; HttpOnly; SameSite=Lax; Path=/; no Domain; no Secure", raw)
	}
	if strings.Contains(strings.ToLower(raw), "domain=") {
		t.Fatalf("cookie has a Domain attribute: %q", raw)
	}
	if ck.MaxAge <= 0 || ck.MaxAge > 28*24*3600 {
		t.Fatalf("cookie Max-Age: got %d, want 1..%d", ck.MaxAge, 28*24*3600)
	}
	value, secret := ck.Value, secSecret(t, ts, ck.Value)
	for _, p := range []string{"/api/v1/auth/profile", "/api/v1/auth/sessions"} {
		bodies = append(bodies, c.do("GET", p, nil).want(t, 200, "").Body)
	}
	bodies = append(bodies, c.do("PATCH", "/api/v1/auth/profile", map[string]string{"first_name": "Annie"}).want(t, 200, "").Body)
	bodies = append(bodies, c.do("POST", "/api/v1/auth/logout", nil).want(t, 200, "").Body)
	for _, b := range bodies {
		if bytes.Contains(b, []byte(value)) || bytes.Contains(b, []byte(secret)) {
			t.Fatalf("a response body holds the session cookie: %s", b)
		}
	}

	// Behind https: the __Host- name and Secure.
	hs := startTestServer(t, secHTTPSConfig(t), nil)
	hs.mustUser(email, testPassword)
	r = secLogin(t, hs.client(), email, testPassword, secHost("shop.example")).want(t, 200, "")
	cookies = secSetCookies(t, r)
	if len(cookies) != 1 {
		t.Fatalf("https login: got %d Set-Cookie headers, want 1", len(cookies))
	}
	ck, raw = cookies[0], r.Header.Get("Set-Cookie")
	if ck.Name != "__Host-marbelle_session" || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
		t.Fatalf("cookie over https: got %q, want __Host-marbelle_session; Secure; HttpOnly; SameSite=Lax; Path=/; no Domain", raw)
	}
	// The https server reads it back under that name.
	r = hs.client().secSend(t, "GET", "/api/v1/auth/profile", nil, secHost("shop.example"), secHeader("Cookie", ck.Name+"="+ck.Value)).want(t, 200, "")
	if bytes.Contains(r.Body, []byte(ck.Value)) {
		t.Fatalf("profile body holds the cookie value")
	}
}

func TestSEC30NewSessionIDAtEveryLogin(t *testing.T) {
	const email = "sec30@example.test"
	ts := newServerWithUser(t, email)

	c1 := ts.client()
	c1.secSetCookie("marbelle_session", "attacker")
	secLogin(t, c1, email, testPassword).want(t, 200, "")
	v1 := c1.secCookie("marbelle_session")
	if v1 == "" || v1 == "attacker" {
		t.Fatalf("login with a planted cookie: got cookie %q, want a new one", v1)
	}
	// A planted valid cookie (fixation) is replaced too.
	c2 := ts.client()
	c2.secSetCookie("marbelle_session", v1)
	secLogin(t, c2, email, testPassword).want(t, 200, "")
	v2 := c2.secCookie("marbelle_session")
	if v2 == "" || v2 == v1 || secSecret(t, ts, v2) == secSecret(t, ts, v1) {
		t.Fatalf("second login: got the same session as the first")
	}
	var list []sessionView
	c1.do("GET", "/api/v1/auth/sessions", nil).want(t, 200, "").data(t, &list)
	if len(list) != 2 || list[0].ID == list[1].ID {
		t.Fatalf("sessions after two logins: got %+v, want two distinct", list)
	}
	// A forged value never authenticates.
	f := ts.client()
	f.secSetCookie("marbelle_session", "attacker")
	f.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
}

func TestSEC31LogoutKillsSessionServerSide(t *testing.T) {
	const email = "sec31@example.test"
	ts := newServerWithUser(t, email)
	c := ts.login(email, testPassword)
	saved := c.secCookie("marbelle_session")
	r := c.do("POST", "/api/v1/auth/logout", nil).want(t, 200, "")
	cleared := false
	for _, ck := range secSetCookies(t, r) {
		if ck.Name == "marbelle_session" && ck.Value == "" && ck.MaxAge < 0 {
			cleared = true
		}
	}
	if !cleared {
		t.Fatalf("logout: Set-Cookie %q, want the session cookie cleared", r.Header.Values("Set-Cookie"))
	}
	if csd := r.Header.Get("Clear-Site-Data"); !strings.Contains(csd, `"cookies"`) {
		t.Fatalf("logout: Clear-Site-Data %q, want \"cookies\"", csd)
	}
	replay := ts.client()
	replay.secSetCookie("marbelle_session", saved)
	replay.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	if err := ts.db.View(func(tx *store.Tx) error {
		_, err := tx.SessionBySecret(secSecret(t, ts, saved))
		return err
	}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session after logout: got %v, want ErrNotFound (deleted)", err)
	}
	ts.client().do("POST", "/api/v1/auth/logout", nil).want(t, 200, "")
}

func TestSEC32UsersRevokeOnlyTheirOwnSessions(t *testing.T) {
	ts := newServerWithUser(t, "sec32-a@example.test")
	ts.mustUser("sec32-b@example.test", testPassword)
	a1, a2 := ts.login("sec32-a@example.test", testPassword), ts.login("sec32-a@example.test", testPassword)
	b := ts.login("sec32-b@example.test", testPassword)

	var list []sessionView
	a1.do("GET", "/api/v1/auth/sessions", nil).want(t, 200, "").data(t, &list)
	if len(list) != 2 {
		t.Fatalf("sessions: got %d, want 2", len(list))
	}
	var mine, other uuid.UUID
	for _, s := range list {
		if s.Current {
			if mine != uuid.Nil {
				t.Fatalf("two sessions marked current: %+v", list)
			}
			mine = s.ID
		} else {
			other = s.ID
		}
	}
	if mine == uuid.Nil || other == uuid.Nil {
		t.Fatalf("sessions: got %+v, want exactly one current", list)
	}
	// Another user cannot end A's sessions: 404, and they live on.
	b.do("DELETE", "/api/v1/auth/sessions/"+other.String(), nil).want(t, 404, CodeNotFound)
	b.do("DELETE", "/api/v1/auth/sessions/"+mine.String(), nil).want(t, 404, CodeNotFound)
	b.do("DELETE", "/api/v1/auth/sessions/not-a-uuid", nil).want(t, 404, CodeNotFound)
	a2.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "")

	a1.do("DELETE", "/api/v1/auth/sessions/"+other.String(), nil).want(t, 200, "")
	a2.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	a1.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "")
	b.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "")
}

func TestSEC33IdleAndAbsoluteTimeouts(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.SessionTTL.Idle = 2 * time.Minute
		c.SessionTTL.Absolute = 5 * time.Minute
	})
	const email = "sec33@example.test"
	ts.mustUser(email, testPassword)

	// Idle: used within the idle time it lives; unused past it, it ends.
	fresh := ts.login(email, testPassword)
	idle := ts.login(email, testPassword)
	ts.clock.Advance(110 * time.Second)
	fresh.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "")
	ts.clock.Advance(20 * time.Second) // idle: 130 s without a request
	idle.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)

	// Absolute: kept alive every 30 s, it still ends after 5 minutes.
	busy := ts.login(email, testPassword)
	for range 9 { // up to 270 s
		ts.clock.Advance(30 * time.Second)
		busy.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "")
	}
	ts.clock.Advance(31 * time.Second) // 301 s
	busy.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
}

func TestSEC34CookiesTamperProofAndOpaque(t *testing.T) {
	const email = "sec34@example.test"
	ts := newServerWithUser(t, email)
	c := ts.login(email, testPassword)
	value := c.secCookie("marbelle_session")
	secret := secSecret(t, ts, value)

	try := func(v string) *response {
		x := ts.client()
		x.secSetCookie("marbelle_session", v)
		return x.do("GET", "/api/v1/auth/profile", nil)
	}
	try(value).want(t, 200, "")
	for _, i := range []int{0, len(value) / 2, len(value) - 1} {
		b := []byte(value)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		try(string(b)).want(t, 401, CodeUnauthenticated)
	}
	// The raw secret is not a cookie either.
	try(secret).want(t, 401, CodeUnauthenticated)

	// The same live session, sealed under another key, is refused...
	other := "another-secret-key-0123456789-abcdefghijk"
	codec := newCookieCodec(deriveKey(other, "marbelle cookie hmac-sha256 v1", 32), deriveKey(other, "marbelle cookie aes-256 v1", 32), time.Hour)
	forged, err := codec.Encode(ts.srv.cookieName, []byte(secret))
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	try(forged).want(t, 401, CodeUnauthenticated)
	// ...while sealed under this server's key it is accepted (the check above can fail).
	own, err := ts.srv.cookies.Encode(ts.srv.cookieName, []byte(secret))
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	try(own).want(t, 200, "")
	// And cookies minted by a whole other server with another key: its own
	// login, and this server's live session secret in its encoding.
	ts2 := newTestServer(t, func(c *Config) { c.SecretKey = other })
	ts2.mustUser(email, testPassword)
	try(ts2.login(email, testPassword).secCookie("marbelle_session")).want(t, 401, CodeUnauthenticated)
	minted, err := ts2.srv.sessionCookie(secret, time.Hour)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	try(minted.Value).want(t, 401, CodeUnauthenticated)

	// The store file holds neither the cookie nor the secret.
	file, err := os.ReadFile(ts.db.Path())
	if err != nil {
		t.Fatalf("read store: %v", err)
	}
	rawSecret, _ := base64.RawURLEncoding.DecodeString(secret)
	for name, needle := range map[string][]byte{"cookie value": []byte(value), "session secret": []byte(secret), "secret bytes": rawSecret} {
		if len(needle) < 16 || bytes.Contains(file, needle) {
			t.Fatalf("store file holds the %s (or it is too short to look for)", name)
		}
	}
	if !bytes.Contains(file, []byte(email)) {
		t.Fatalf("store file: the user's email is not in it, so the search above proves nothing")
	}
}

func TestSEC35DeletionAndDeactivationEndSessions(t *testing.T) {
	ts := newServerWithUser(t, "sec35-a@example.test")
	a1, a2 := ts.login("sec35-a@example.test", testPassword), ts.login("sec35-a@example.test", testPassword)
	a1.do("DELETE", "/api/v1/auth/account", map[string]string{"password": testPassword}).want(t, 200, "")
	a1.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	a2.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	secLogin(t, ts.client(), "sec35-a@example.test", testPassword).want(t, 401, CodeUnauthenticated)

	ts.mustUser("sec35-b@example.test", testPassword)
	b1, b2 := ts.login("sec35-b@example.test", testPassword), ts.login("sec35-b@example.test", testPassword)
	b1.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "")
	secSetActive(t, ts, "sec35-b@example.test", false)
	b1.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	b2.do("GET", "/api/v1/auth/sessions", nil).want(t, 401, CodeUnauthenticated)
	b2.do("PATCH", "/api/v1/auth/profile", map[string]string{"first_name": "Zed"}).want(t, 401, CodeUnauthenticated)
	if u := secUser(t, ts, "sec35-b@example.test"); u.FirstName != "Ann" {
		t.Fatalf("deactivated user's profile changed to %q", u.FirstName)
	}
}

func TestSEC36AuthenticatedAnswersNotCached(t *testing.T) {
	const email = "sec36@example.test"
	ts := newServerWithUser(t, email)
	c := ts.client()
	check := func(what string, r *response) {
		t.Helper()
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Fatalf("%s: Cache-Control %q, want no-store", what, cc)
		}
	}
	check("login", secLogin(t, c, email, testPassword).want(t, 200, ""))
	check("GET profile", c.do("GET", "/api/v1/auth/profile", nil).want(t, 200, ""))
	check("PATCH profile", c.do("PATCH", "/api/v1/auth/profile", map[string]string{"last_name": "Lo"}).want(t, 200, ""))
	check("sessions", c.do("GET", "/api/v1/auth/sessions", nil).want(t, 200, ""))
	check("create address", c.do("POST", "/api/v1/auth/addresses", secAddressBody("Home")).want(t, 201, ""))
	check("addresses", c.do("GET", "/api/v1/auth/addresses", nil).want(t, 200, ""))
	check("401", ts.client().do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated))
	check("password change", c.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": testPassword, "new_password": "fresh mango pavilion 7"}).want(t, 200, ""))
	check("logout", c.do("POST", "/api/v1/auth/logout", nil).want(t, 200, ""))
}
