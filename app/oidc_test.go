package app

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/store"
)

// The OpenID provider in these tests is a real one (mockoidc) on
// 127.0.0.1: discovery, JWKS, authorization and token endpoints over HTTP,
// PKCE checked by it; nothing inside Marbelle is stubbed.

func startMockOP(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

func oidcServer(t *testing.T, providers ...OIDCProvider) *testServer {
	t.Helper()
	return newTestServer(t, func(c *Config) { c.OIDCProviders = providers })
}

func mockProvider(m *mockoidc.MockOIDC) OIDCProvider {
	return OIDCProvider{Name: "test", Label: "Test ID", ClientID: m.ClientID, ClientSecret: m.ClientSecret, Issuer: m.Issuer()}
}

// mockOPServer starts a mock provider and a server whose one provider,
// "test", is that mock.
func mockOPServer(t *testing.T) (*mockoidc.MockOIDC, *testServer) {
	t.Helper()
	m := startMockOP(t)
	return m, oidcServer(t, mockProvider(m))
}

// opBrowser follows the provider's redirects as a browser would (the
// provider signs in at once) and returns where it sends the browser back.
func opBrowser(t *testing.T, location string) string {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	res, err := hc.Get(location)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("provider answered %d", res.StatusCode)
	}
	return res.Header.Get("Location")
}

// oidcRoundTrip starts a sign-in for c, lets the provider answer and
// returns the callback's answer (a redirect).
func oidcRoundTrip(t *testing.T, c *testClient, provider, next string) *response {
	t.Helper()
	r := c.do("GET", "/api/v1/auth/oidc/"+provider+"/start?next="+url.QueryEscape(next), nil)
	if r.Status != http.StatusFound {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	back := opBrowser(t, r.Header.Get("Location"))
	return callbackOf(t, c, back)
}

func callbackOf(t *testing.T, c *testClient, back string) *response {
	t.Helper()
	u := mustURL(t, back)
	return c.do("GET", u.RequestURI(), nil)
}

// oidcLink links the provider "test" identity subject (with a verified
// email) to the account c is signed in to, through the link flow.
func oidcLink(t *testing.T, m *mockoidc.MockOIDC, c *testClient, subject, email string) {
	t.Helper()
	var start struct {
		URL string `json:"url"`
	}
	c.do("POST", "/api/v1/auth/oidc/test/link/start", nil).want(t, 200, "").data(t, &start)
	m.QueueUser(&mockoidc.MockUser{Subject: subject, Email: email, EmailVerified: true})
	wantRedirect(t, callbackOf(t, c, opBrowser(t, start.URL)), "/account/security?oidc_linked=test")
}

func wantRedirect(t *testing.T, r *response, want string) {
	t.Helper()
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != want {
		t.Fatalf("got %d to %q, want 303 to %q: %s", r.Status, r.Header.Get("Location"), want, r.Body)
	}
}

func TestOIDCSignUpLogoutSignIn(t *testing.T) {
	m, ts := mockOPServer(t)
	var list []oidcProviderView
	ts.client().do("GET", "/api/v1/auth/sign-in-providers", nil).want(t, 200, "").data(t, &list)
	if len(list) != 1 || list[0].Name != "test" || list[0].Label != "Test ID" {
		t.Fatalf("providers: %+v", list)
	}
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-ann", Email: "Ann@Example.com", EmailVerified: true})
	c := ts.client()
	wantRedirect(t, oidcRoundTrip(t, c, "test", "/account/addresses"), "/account/addresses")
	var p profile
	c.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "").data(t, &p)
	if p.Email != "ann@example.com" || !p.EmailVerified {
		t.Fatalf("profile: %+v", p)
	}
	sess := sessionsOf(t, ts, p.ID.String())
	if len(sess) != 1 || len(sess[0].Methods) != 1 || sess[0].Methods[0] != "oidc:test" || sess[0].AAL != 1 {
		t.Fatalf("session: %+v", sess)
	}
	c.do("POST", "/api/v1/auth/logout", nil).want(t, 200, "")
	c.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)

	m.QueueUser(&mockoidc.MockUser{Subject: "sub-ann", Email: "changed@example.com", EmailVerified: true})
	wantRedirect(t, oidcRoundTrip(t, c, "test", ""), "/account")
	c.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "")
	ts.checkStore()
	if n := len(secStoredUsers(t, ts)); n != 1 {
		t.Fatalf("%d users, want 1: the same (issuer, subject) signs in to the same account", n)
	}
	// No password: changing one says how to set one, and so does every
	// change that asks for the password again; a reset works.
	r := c.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": "anything at all", "new_password": testPassword}).want(t, 400, CodeValidation)
	if got := r.Env.Errors["current_password"]; len(got) != 1 || got[0] != msgNoPasswordYet {
		t.Fatalf("password change without a password: %s", r.Body)
	}
	for _, call := range []struct{ method, path string }{
		{"POST", "/api/v1/auth/mfa/totp/setup"},
		{"POST", "/api/v1/auth/mfa/recovery-codes"},
		{"POST", "/api/v1/auth/email-change/request"},
		{"DELETE", "/api/v1/auth/account"},
	} {
		r := c.do(call.method, call.path, map[string]string{"password": "anything at all", "new_email": "ann2@example.com"}).want(t, 400, CodeValidation)
		if got := r.Env.Errors["password"]; len(got) != 1 || got[0] != msgNoPasswordYet {
			t.Fatalf("%s %s without a password: %s", call.method, call.path, r.Body)
		}
	}
	c.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": "ann@example.com"}).want(t, 200, "")
	tok := ts.waitToken("ann@example.com", "reset-password", 1)
	c.do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": tok, "password": testPassword}).want(t, 200, "")
	ts.login("ann@example.com", testPassword)
}

func sessionsOf(t *testing.T, ts *testServer, id string) []store.Session {
	t.Helper()
	var out []store.Session
	err := ts.db.View(func(tx *store.Tx) error {
		var err error
		out, err = tx.UserSessions(uuid.MustParse(id))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOIDCUnverifiedEmailCreatesNoAccount(t *testing.T) {
	m, ts := mockOPServer(t)
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-x", Email: "x@example.com", EmailVerified: false})
	c := ts.client()
	wantRedirect(t, oidcRoundTrip(t, c, "test", ""), "/login?oidc_error=email_unverified")
	if n := len(secStoredUsers(t, ts)); n != 0 {
		t.Fatalf("%d users created from an unverified address", n)
	}
	c.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	ts.checkStore()
}

// SEC: pre-hijacking. An address that has an account is never linked by
// signing in at a provider; the owner links it after signing in.
func TestOIDCExistingEmailRefusedThenLinkedAfterLogin(t *testing.T) {
	m, ts := mockOPServer(t)
	ts.mustUser("bob@example.com", testPassword)
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-bob", Email: "bob@example.com", EmailVerified: true})
	anon := ts.client()
	wantRedirect(t, oidcRoundTrip(t, anon, "test", ""), "/login?oidc_error=email_taken")
	anon.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	if n := len(secBucket(t, ts, "identities")); n != 0 {
		t.Fatalf("%d identities linked", n)
	}

	bob := ts.login("bob@example.com", testPassword)
	oidcLink(t, m, bob, "sub-bob", "bob@elsewhere.example")
	var ids []identityView
	bob.do("GET", "/api/v1/auth/identities", nil).want(t, 200, "").data(t, &ids)
	if len(ids) != 1 || ids[0].Provider != "test" {
		t.Fatalf("identities: %+v", ids)
	}
	ts.waitMail("bob@example.com", 2) // verification, then the link notice

	// The identity now signs in to bob's account.
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-bob", Email: "whatever@example.com", EmailVerified: false})
	other := ts.client()
	wantRedirect(t, oidcRoundTrip(t, other, "test", ""), "/account")
	var p profile
	other.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "").data(t, &p)
	if p.Email != "bob@example.com" {
		t.Fatalf("signed in as %s", p.Email)
	}
	var doc exportDocument
	bob.do("GET", "/api/v1/auth/export", nil).want(t, 200, "").data(t, &doc)
	if len(doc.SignInProviders) != 1 || doc.SignInProviders[0] != (exportedIdentity{Issuer: m.Issuer(), Subject: "sub-bob"}) {
		t.Fatalf("export: %+v", doc.SignInProviders)
	}
	// Bob has a password: unlinking leaves a way in.
	bob.do("DELETE", "/api/v1/auth/identities/"+ids[0].ID.String(), nil).want(t, 200, "")
	bob.do("DELETE", "/api/v1/auth/identities/"+ids[0].ID.String(), nil).want(t, 404, CodeNotFound)
	ts.checkStore()
}

func TestOIDCUnlinkRefusedWhenLastWayIn(t *testing.T) {
	m, ts := mockOPServer(t)
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-c", Email: "c@example.com", EmailVerified: true})
	c := ts.client()
	oidcRoundTrip(t, c, "test", "")
	var ids []identityView
	c.do("GET", "/api/v1/auth/identities", nil).want(t, 200, "").data(t, &ids)
	c.do("DELETE", "/api/v1/auth/identities/"+ids[0].ID.String(), nil).want(t, 403, CodeForbidden)
}

func TestOIDCDeactivatedAccountCannotSignIn(t *testing.T) {
	m, ts := mockOPServer(t)
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-d", Email: "d@example.com", EmailVerified: true})
	oidcRoundTrip(t, ts.client(), "test", "")
	secSetActive(t, ts, "d@example.com", false)
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-d", Email: "d@example.com", EmailVerified: true})
	wantRedirect(t, oidcRoundTrip(t, ts.client(), "test", ""), "/login?oidc_error=account_locked")
	secSetActive(t, ts, "d@example.com", true)
	secChangeUser(t, ts, "d@example.com", func(u *store.User) { u.MustResetPassword = true })
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-d", Email: "d@example.com", EmailVerified: true})
	wantRedirect(t, oidcRoundTrip(t, ts.client(), "test", ""), "/login?oidc_error=password_reset_required")
}

// SEC: the state is single use and bound to the browser that began it.
func TestOIDCStateReplayAndForeignBrowserFail(t *testing.T) {
	_, ts := mockOPServer(t)
	c := ts.client()
	r := c.do("GET", "/api/v1/auth/oidc/test/start", nil)
	back := opBrowser(t, r.Header.Get("Location"))
	// Another browser (an attacker's page posting the victim's callback,
	// or the reverse) lacks the state cookie.
	wantRedirect(t, callbackOf(t, ts.client(), back), "/login?oidc_error=state")
	// The state cookie's holder may use it once.
	state := mustURL(t, back).Query().Get("state")
	cookie := c.oidcStateCookie()
	wantRedirect(t, callbackOf(t, c, back), "/account")
	c.secSetCookie(oidcCookieName, cookie)
	_ = state
	wantRedirect(t, callbackOf(t, c, back), "/login?oidc_error=state")
}

func TestOIDCProviderErrorsEndOnLoginPage(t *testing.T) {
	m := startMockOP(t)
	ts := oidcServer(t, mockProvider(m), OIDCProvider{Name: "down", Label: "Down", ClientID: "x", ClientSecret: "y", Issuer: "http://127.0.0.1:1/nothing"})
	c := ts.client()
	c.do("GET", "/api/v1/auth/oidc/test/start", nil)
	state := url.QueryEscape(c.secCookieState(t, ts))
	wantRedirect(t, c.do("GET", "/api/v1/auth/oidc/test/callback?error=access_denied&state="+state, nil), "/login?oidc_error=access_denied")
	c.do("GET", "/api/v1/auth/oidc/test/start", nil)
	state = url.QueryEscape(c.secCookieState(t, ts))
	wantRedirect(t, c.do("GET", "/api/v1/auth/oidc/test/callback?state="+state, nil), "/login?oidc_error=missing_code")
	c.do("GET", "/api/v1/auth/oidc/test/start", nil)
	state = url.QueryEscape(c.secCookieState(t, ts))
	wantRedirect(t, c.do("GET", "/api/v1/auth/oidc/test/callback?code=forged&state="+state, nil), "/login?oidc_error=provider_unavailable")
	r := c.do("GET", "/api/v1/auth/oidc/down/start", nil)
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login?oidc_error=provider_unavailable" {
		t.Fatalf("provider down: %d %s", r.Status, r.Header.Get("Location"))
	}
	c.do("GET", "/api/v1/auth/oidc/nobody/start", nil).want(t, 404, CodeNotFound)
	n := 0
	for _, e := range secAudit(t, ts) {
		if e.Event == "oidc_failed" {
			n++
		}
	}
	if n != 4 {
		t.Fatalf("%d oidc_failed events, want 4", n)
	}
}

// oidcStateCookie is the value of c's state cookie ("" if none).
func (c *testClient) oidcStateCookie() string {
	u, _ := url.Parse(c.ts.URL + "/api/v1/auth/oidc/")
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == oidcCookieName {
			return ck.Value
		}
	}
	return ""
}

// secCookieState is the state inside c's state cookie.
func (c *testClient) secCookieState(t *testing.T, ts *testServer) string {
	t.Helper()
	var state []byte
	if err := ts.srv.oidc.cookie.Decode(oidcCookieName, c.oidcStateCookie(), &state); err != nil {
		t.Fatal(err)
	}
	return string(state)
}

func TestOIDCNextElsewhereFallsBack(t *testing.T) {
	m, ts := mockOPServer(t)
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "/api/v1/auth/account", "javascript:alert(1)", "/login"} {
		m.QueueUser(&mockoidc.MockUser{Subject: "sub-n", Email: "n@example.com", EmailVerified: true})
		wantRedirect(t, oidcRoundTrip(t, ts.client(), "test", next), "/account")
	}
}

// handOP is a small signing OpenID provider made here, outside Marbelle,
// for what a real one does not do on demand: a wrong nonce or audience,
// an expired token, a key rotation.
type handOP struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	published []jose.JSONWebKey // in the JWKS
	signWith  jose.JSONWebKey   // what the token endpoint signs with
	nonces    map[string]string // code → nonce of its authorization
	change    func(claims map[string]any)
	jwksHits  int
}

func newHandOP(t *testing.T) *handOP {
	op := &handOP{t: t, nonces: map[string]string{}}
	op.signWith = op.newKey("k1")
	op.published = []jose.JSONWebKey{op.signWith}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": op.srv.URL, "authorization_endpoint": op.srv.URL + "/authorize", "token_endpoint": op.srv.URL + "/token",
			"jwks_uri": op.srv.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		defer op.mu.Unlock()
		op.jwksHits++
		var set jose.JSONWebKeySet
		for _, k := range op.published {
			set.Keys = append(set.Keys, k.Public())
		}
		_ = json.NewEncoder(w).Encode(set)
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := rand.Text()
		op.mu.Lock()
		op.nonces[code] = q.Get("nonce")
		op.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /token", op.token)
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

func (op *handOP) newKey(kid string) jose.JSONWebKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		op.t.Fatal(err)
	}
	return jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: "RS256", Use: "sig"}
}

func (op *handOP) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	op.mu.Lock()
	defer op.mu.Unlock()
	now := time.Now()
	claims := map[string]any{
		"iss": op.srv.URL, "aud": "hand-client", "sub": "hand-sub", "email": "hand@example.com", "email_verified": "true", // as Apple sends it
		"given_name": "Hanna", "family_name": "Hand",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "nonce": op.nonces[r.Form.Get("code")],
	}
	if op.change != nil {
		op.change(claims)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: op.signWith}, nil)
	if err != nil {
		op.t.Error(err)
		return
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		op.t.Error(err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": raw})
}

func (op *handOP) set(change func(claims map[string]any)) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.change = change
}

// SEC: the ID token is verified: nonce, audience, expiry, signature.
func TestOIDCTokenChecks(t *testing.T) {
	op := newHandOP(t)
	ts := oidcServer(t, OIDCProvider{Name: "hand", Label: "Hand", ClientID: "hand-client", ClientSecret: "s", Issuer: op.srv.URL})
	first := ts.client()
	wantRedirect(t, oidcRoundTrip(t, first, "hand", ""), "/account") // the provider works as is
	var p profile
	first.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "").data(t, &p)
	if p.FirstName != "Hanna" || p.LastName != "Hand" || !p.EmailVerified {
		t.Fatalf("names from the token: %+v", p)
	}
	bad := map[string]func(map[string]any){
		"nonce mismatch": func(c map[string]any) { c["nonce"] = "another" },
		"no nonce":       func(c map[string]any) { delete(c, "nonce") },
		"wrong audience": func(c map[string]any) { c["aud"] = "another-client" },
		"expired":        func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() },
		"wrong issuer":   func(c map[string]any) { c["iss"] = "https://evil.example" },
	}
	for name, change := range bad {
		op.set(change)
		if r := oidcRoundTrip(t, ts.client(), "hand", ""); r.Header.Get("Location") != "/login?oidc_error=bad_token" {
			t.Errorf("%s: got %d to %q", name, r.Status, r.Header.Get("Location"))
		}
	}
	op.set(nil)

	// Key rotation: the provider publishes a new key and signs with it;
	// go-oidc meets an unknown kid and fetches the JWKS again.
	op.mu.Lock()
	op.signWith = op.newKey("k2")
	op.published = []jose.JSONWebKey{op.signWith}
	op.mu.Unlock()
	wantRedirect(t, oidcRoundTrip(t, ts.client(), "hand", ""), "/account")
	// A key the provider does not publish signs nothing that is believed.
	op.mu.Lock()
	op.signWith = op.newKey("k3")
	op.mu.Unlock()
	if r := oidcRoundTrip(t, ts.client(), "hand", ""); r.Header.Get("Location") != "/login?oidc_error=bad_token" {
		t.Fatalf("unpublished key: got %q", r.Header.Get("Location"))
	}
	// Same kid, another key (a forged token naming a published kid).
	op.mu.Lock()
	forged := op.newKey("k2")
	op.signWith = forged
	op.mu.Unlock()
	if r := oidcRoundTrip(t, ts.client(), "hand", ""); r.Header.Get("Location") != "/login?oidc_error=bad_token" {
		t.Fatalf("forged key: got %q", r.Header.Get("Location"))
	}
	if !strings.Contains(ts.logBuf.String(), "oidc sign-in failed") {
		t.Fatal("failures not logged")
	}
}

// Apple posts its answer as a cross-site form: the callback takes it past
// the form and cross-origin guards, and the state cookie still decides.
func TestOIDCFormPostCallback(t *testing.T) {
	_, ts := mockOPServer(t)
	c := ts.client()
	r := c.do("GET", "/api/v1/auth/oidc/test/start", nil)
	back := mustURL(t, opBrowser(t, r.Header.Get("Location")))
	form := back.Query().Encode()
	cross := func(req *http.Request) {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://appleid.apple.com")
	}
	// Without the browser's state cookie: refused, on the login page.
	wantRedirect(t, ts.client().send(t, "POST", back.Path, form, cross), "/login?oidc_error=state")
	// The browser that began it signs in; a foreign post did not spend its state.
	wantRedirect(t, c.send(t, "POST", back.Path, form, cross), "/account")
}

// The link notice's "This wasn't me" removes the linked providers and
// signs every device out.
func TestOIDCUndoLinkRemovesIdentities(t *testing.T) {
	m, ts := mockOPServer(t)
	ts.mustUser("eve@example.com", testPassword)
	c := ts.login("eve@example.com", testPassword)
	oidcLink(t, m, c, "sub-intruder", "i@example.com")
	notice := ts.waitMail("eve@example.com", 2)[0]
	if !strings.Contains(notice.Text, "Test ID was linked") {
		t.Fatalf("notice: %s", notice.Text)
	}
	tok := testutil.UndoRE.FindStringSubmatch(notice.Text)
	if tok == nil {
		t.Fatalf("no undo link: %s", notice.Text)
	}
	ts.client().do("POST", "/api/v1/auth/security/undo", map[string]string{"token": tok[1]}).want(t, 200, "")
	if n := len(secBucket(t, ts, "identities")); n != 0 {
		t.Fatalf("%d identities after the undo", n)
	}
	c.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	ts.checkStore()
}

// TestOIDCSignInAsksForTheSecondFactor: a provider stands in for the
// password only. On an account with an authenticator app the callback
// opens no session; it sends the browser to the login page with an mfa
// token in the fragment, and the code finishes the login at AAL2 with
// the methods oidc:<provider> and totp.
func TestOIDCSignInAsksForTheSecondFactor(t *testing.T) {
	m, ts := mockOPServer(t)
	ts.mustUser(mfaEmail, testPassword)
	c := ts.login(mfaEmail, testPassword)
	oidcLink(t, m, c, "sub-mfa", mfaEmail)
	secret, _ := enrolTOTP(t, ts, c)
	tick(ts, 1)

	b := ts.client()
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-mfa", Email: mfaEmail, EmailVerified: true})
	r := oidcRoundTrip(t, b, "test", "/account/addresses")
	loc := r.Header.Get("Location")
	prefix := "/login?next=" + url.QueryEscape("/account/addresses") + "#mfa="
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, prefix) {
		t.Fatalf("callback: got %d to %q, want 303 to %s…", r.Status, loc, prefix)
	}
	b.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	tok := strings.TrimPrefix(loc, prefix)
	b.do("POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": tok, "code": libCode(t, secret, ts.clock.Now())}).want(t, 200, "")
	var check sessionCheck
	b.do("GET", "/api/v1/auth/session", nil).want(t, 200, "").data(t, &check)
	if check.Session.AAL != 2 || strings.Join(check.Session.Methods, ",") != "oidc:test,totp" {
		t.Fatalf("session after the provider and the code: %+v", check.Session)
	}
}

// TestOIDCNewAccountTakesThePageLanguage: an account a provider sign-in
// makes gets the language chosen with the page's switcher (#20), else
// the browser's.
func TestOIDCNewAccountTakesThePageLanguage(t *testing.T) {
	m, ts := mockOPServer(t)
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-greta", Email: "greta@example.com", EmailVerified: true})
	c := ts.client()
	c.http.Jar.SetCookies(mustURL(t, ts.URL), []*http.Cookie{{Name: "marbelle_language", Value: "de", Path: "/"}})
	oidcRoundTrip(t, c, "test", "")
	var p profile
	r := c.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "")
	if r.data(t, &p); p.Language != "de" || r.Env.Message != "Ihr Profil." {
		t.Fatalf("profile: %s", r.Body)
	}
}
