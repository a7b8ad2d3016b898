package app

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"github.com/gorilla/securecookie"
	"github.com/julienschmidt/httprouter"
	"golang.org/x/oauth2"

	"github.com/marbelle/marbelle/store"
)

// Sign-in with an OpenID provider: authorization code flow with PKCE
// (S256), state and nonce bound to the browser by a short-lived signed
// cookie and spent once from the store, the ID token verified by go-oidc
// (issuer, audience, expiry, signature against the provider's JWKS, which
// it caches and fetches again for an unknown key id). Accounts are found
// by (issuer, subject) only: an address at a provider never links to an
// existing account by itself (docs/sign-in-providers.md, docs/security.md).

const (
	oidcStateTTL    = 10 * time.Minute // how long a sign-in at a provider may take
	oidcCallTimeout = 15 * time.Second // discovery and the token exchange
	oidcCookieName  = "marbelle_oidc"
)

// oidcClient is a configured provider with its discovery, done on first
// use (and again after a failure), so that a provider being down at start
// does not keep the server from starting.
type oidcClient struct {
	cfg OIDCProvider

	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

// oidcClients is the server's providers by name.
type oidcClients struct {
	byName map[string]*oidcClient
	order  []*oidcClient
	cookie *securecookie.SecureCookie
	http   *http.Client
}

func newOIDCClients(cfg []OIDCProvider, secret string) *oidcClients {
	o := &oidcClients{byName: map[string]*oidcClient{}, http: &http.Client{Timeout: oidcCallTimeout}}
	for _, p := range cfg {
		c := &oidcClient{cfg: p}
		o.byName[p.Name], o.order = c, append(o.order, c)
	}
	o.cookie = newCookieCodec(deriveKey(secret, "marbelle oidc cookie hmac-sha256 v1", 32), deriveKey(secret, "marbelle oidc cookie aes-256 v1", 32), oidcStateTTL)
	return o
}

// discover returns the provider's discovery and ID token verifier.
func (o *oidcClients) discover(ctx context.Context, c *oidcClient) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider != nil {
		return c.provider, c.verifier, nil
	}
	// The key set outlives this request: it refetches on its own context.
	ctx = oidc.ClientContext(context.WithoutCancel(ctx), o.http)
	issuer := c.cfg.Issuer
	if c.cfg.IssuerTemplate != "" {
		ctx = oidc.InsecureIssuerURLContext(ctx, c.cfg.IssuerTemplate)
	}
	dctx, cancel := context.WithTimeout(ctx, oidcCallTimeout)
	defer cancel()
	p, err := oidc.NewProvider(dctx, issuer)
	if err != nil {
		return nil, nil, err
	}
	// The verifier's key set fetches with ctx, which must not be dctx.
	var claims struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := p.Claims(&claims); err != nil {
		return nil, nil, err
	}
	keys := oidc.NewRemoteKeySet(ctx, claims.JWKS)
	v := oidc.NewVerifier(c.cfg.Issuer, keys, &oidc.Config{ClientID: c.cfg.ClientID, SkipIssuerCheck: true})
	c.provider, c.verifier = p, v
	return p, v, nil
}

// oauthConfig is the code-flow configuration of c at this server.
func (s *Server) oauthConfig(c *oidcClient, p *oidc.Provider) (*oauth2.Config, error) {
	secret := c.cfg.ClientSecret
	if c.cfg.AppleKey != nil {
		var err error
		if secret, err = appleClientSecret(c.cfg, s.now()); err != nil {
			return nil, err
		}
	}
	scopes := []string{oidc.ScopeOpenID, "email", "profile"}
	if c.cfg.FormPost { // Apple knows "name", not "profile"
		scopes[2] = "name"
	}
	return &oauth2.Config{
		ClientID: c.cfg.ClientID, ClientSecret: secret, Endpoint: p.Endpoint(),
		RedirectURL: s.baseURL + "/api/v1/auth/oidc/" + c.cfg.Name + "/callback",
		Scopes:      scopes,
	}, nil
}

// appleClientSecret is the JWT Apple takes as the client secret: signed
// (ES256) with the shop's key, naming the team and the client.
func appleClientSecret(p OIDCProvider, now time.Time) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: p.AppleKey}, (&jose.SignerOptions{}).WithHeader("kid", p.AppleKeyID))
	if err != nil {
		return "", err
	}
	return jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: p.AppleTeamID, Subject: p.ClientID, Audience: jwt.Audience{appleIssuer},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)),
	}).Serialize()
}

// --- routes ---

type oidcProviderView struct {
	Name  string `json:"name"`
	Label string `json:"label"`
}

func (s *Server) handleOIDCProviders(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) error {
	out := make([]oidcProviderView, 0, len(s.oidc.order))
	for _, c := range s.oidc.order {
		out = append(out, oidcProviderView{Name: c.cfg.Name, Label: c.cfg.Label})
	}
	return answer(w, http.StatusOK, "Providers you can sign in with.", out, nil)
}

// handleOIDCStart sends the browser to the provider to sign in.
func (s *Server) handleOIDCStart(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	c, ok := s.oidc.byName[p.ByName("provider")]
	if !ok {
		return errNotFound
	}
	where, err := s.beginOIDC(r.Context(), w, c, &store.OIDCState{Next: s.safeNext(r.URL.Query().Get("next"))})
	if err != nil {
		s.oidcFailed(w, r, c.cfg.Name, "provider_unavailable", err, false)
		return nil
	}
	w.Header().Set("Cache-Control", "no-store")
	redirect(w, where, http.StatusFound)
	return nil
}

// handleOIDCLinkStart begins linking a provider identity to the signed-in
// user: it answers the provider's URL for the page to go to.
func (s *Server) handleOIDCLinkStart(w http.ResponseWriter, r *http.Request, p httprouter.Params, a *auth) error {
	c, ok := s.oidc.byName[p.ByName("provider")]
	if !ok {
		return errNotFound
	}
	where, err := s.beginOIDC(r.Context(), w, c, &store.OIDCState{Next: "/account/security", LinkUserID: a.User.ID, LinkStamp: a.User.SecurityStamp})
	if err != nil {
		return &Error{Code: CodeUnavailable, Message: "The provider cannot be reached right now. Please try again later."}
	}
	return answer(w, http.StatusOK, "Continue at the provider.", map[string]string{"url": where}, nil)
}

// beginOIDC stores a new attempt, sets its cookie and returns the
// provider's authorization URL.
func (s *Server) beginOIDC(ctx context.Context, w http.ResponseWriter, c *oidcClient, st *store.OIDCState) (string, error) {
	p, _, err := s.oidc.discover(ctx, c)
	if err != nil {
		return "", err
	}
	conf, err := s.oauthConfig(c, p)
	if err != nil {
		return "", err
	}
	state := newSecret()
	st.Provider, st.Nonce, st.Verifier, st.ExpiresAt = c.cfg.Name, newSecret(), oauth2.GenerateVerifier(), s.now().Add(oidcStateTTL)
	if err := s.update(ctx, func(t *txn) error { return t.PutOIDCState(state, st) }); err != nil {
		return "", err
	}
	value, err := s.oidc.cookie.Encode(oidcCookieName, []byte(state))
	if err != nil {
		return "", err
	}
	http.SetCookie(w, s.oidcCookie(value, int(oidcStateTTL/time.Second)))
	opts := []oauth2.AuthCodeOption{oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)}
	if c.cfg.FormPost {
		opts = append(opts, oauth2.SetAuthURLParam("response_mode", "form_post"))
	}
	return conf.AuthCodeURL(state, opts...), nil
}

// oidcCookie carries the state of the browser's sign-in at a provider. It
// is SameSite=None over https, so that a provider's form post (Apple)
// brings it back: it holds no credential, only the state that the
// callback's state must equal, which an attacker's page cannot know.
func (s *Server) oidcCookie(value string, maxAge int) *http.Cookie {
	same := http.SameSiteLaxMode
	if s.secureCookies {
		same = http.SameSiteNoneMode
	}
	return &http.Cookie{Name: oidcCookieName, Value: value, Path: "/api/v1/auth/oidc/", MaxAge: maxAge, HttpOnly: true, Secure: s.secureCookies, SameSite: same} // #nosec G124 -- Secure whenever the base URL is https
}

// oidcOutcome is where a finished callback sends the browser.
type oidcOutcome struct {
	next   string
	cookie *http.Cookie
}

// handleOIDCCallback finishes a sign-in (GET, or Apple's form POST).
func (s *Server) handleOIDCCallback(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	w.Header().Set("Cache-Control", "no-store")
	name := p.ByName("provider")
	c, ok := s.oidc.byName[name]
	if !ok {
		return errNotFound
	}
	http.SetCookie(w, s.oidcCookie("", -1)) // spent whatever happens
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.oidcFailed(w, r, name, "bad_request", err, false)
		return nil
	}
	out, reason, link, err := s.finishOIDC(r, c)
	if reason != "" {
		s.oidcFailed(w, r, name, reason, err, link)
		return nil
	}
	if out.cookie != nil {
		http.SetCookie(w, out.cookie)
	}
	redirect(w, out.next, http.StatusSeeOther)
	return nil
}

// oidcFailed audits a failed sign-in at a provider and sends the browser
// to the login page (or, when linking, the security page) with the reason.
func (s *Server) oidcFailed(w http.ResponseWriter, r *http.Request, provider, reason string, cause error, link bool) {
	c := clientOf(r.Context())
	detail := map[string]string{"provider": provider, "reason": reason}
	if cause != nil {
		s.log.InfoContext(r.Context(), "oidc sign-in failed", "provider", provider, "reason", reason, "error", cause.Error(), "request_id", requestID(r.Context()))
	}
	if err := s.update(r.Context(), func(t *txn) error { return t.audit("oidc_failed", nil, "", c, detail) }); err != nil {
		s.log.ErrorContext(r.Context(), "audit oidc_failed", "error", err.Error())
	}
	page := "/login"
	if link {
		page = "/account/security"
	}
	w.Header().Set("Cache-Control", "no-store")
	redirect(w, page+"?oidc_error="+url.QueryEscape(reason), http.StatusSeeOther)
}

// oidcClaims are the ID token claims Marbelle reads.
type oidcClaims struct {
	Subject       string   `json:"sub"`
	Email         string   `json:"email"`
	EmailVerified flexBool `json:"email_verified"`
	GivenName     string   `json:"given_name"`
	FamilyName    string   `json:"family_name"`
	Name          string   `json:"name"`
	TenantID      string   `json:"tid"`
	issuer        string
	language      string // a new account's language: the page's (#20)
}

// flexBool reads true and "true" alike: Apple sends email_verified as a
// string.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	*b = flexBool(string(data) == "true" || string(data) == `"true"`)
	return nil
}

// finishOIDC checks the callback and acts on it. reason is set (with the
// cause, for the log) when the sign-in fails; link says the attempt was
// a linking one.
func (s *Server) finishOIDC(r *http.Request, c *oidcClient) (out *oidcOutcome, reason string, link bool, err error) {
	ctx := r.Context()
	if e := r.Form.Get("error"); e != "" {
		if e == "access_denied" {
			return nil, "access_denied", false, nil
		}
		return nil, "provider_error", false, errors.New("provider answered " + e)
	}
	st, err := s.takeOIDCState(r, c.cfg.Name)
	if err != nil {
		return nil, "state", false, err
	}
	link = st.LinkUserID != uuid.Nil
	code := r.Form.Get("code")
	if code == "" {
		return nil, "missing_code", link, nil
	}
	claims, reason, err := s.exchangeOIDC(ctx, c, st, code)
	if reason != "" {
		return nil, reason, link, err
	}
	if link {
		reason, err = s.linkIdentity(ctx, c, st, claims)
		return &oidcOutcome{next: "/account/security?oidc_linked=" + url.QueryEscape(c.cfg.Name)}, reason, true, err
	}
	claims.language = s.oidcLanguage(r)
	out, reason, err = s.oidcSignIn(ctx, c, claims, st.Next)
	return out, reason, false, err
}

// takeOIDCState spends the attempt whose state the callback names, which
// must be the one this browser's cookie carries.
func (s *Server) takeOIDCState(r *http.Request, provider string) (*store.OIDCState, error) {
	state := r.Form.Get("state")
	ck, err := r.Cookie(oidcCookieName)
	if err != nil {
		return nil, errors.New("no state cookie")
	}
	var inCookie []byte
	if err := s.oidc.cookie.Decode(oidcCookieName, ck.Value, &inCookie); err != nil {
		return nil, errors.New("state cookie not ours")
	}
	if state == "" || subtle.ConstantTimeCompare(inCookie, []byte(state)) != 1 {
		return nil, errors.New("state differs from the cookie's")
	}
	var st *store.OIDCState
	err = s.update(r.Context(), func(t *txn) error {
		var err error
		st, err = t.TakeOIDCState(state, t.now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("state not found: %w", err)
	}
	if st.Provider != provider {
		return nil, errors.New("state of another provider")
	}
	return st, nil
}

// exchangeOIDC redeems code and verifies the ID token it brings.
func (s *Server) exchangeOIDC(ctx context.Context, c *oidcClient, st *store.OIDCState, code string) (*oidcClaims, string, error) {
	p, verifier, err := s.oidc.discover(ctx, c)
	if err != nil {
		return nil, "provider_unavailable", err
	}
	conf, err := s.oauthConfig(c, p)
	if err != nil {
		return nil, "provider_unavailable", err
	}
	xctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, s.oidc.http), oidcCallTimeout)
	defer cancel()
	tok, err := conf.Exchange(xctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return nil, "provider_unavailable", err
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, "bad_token", errors.New("no id_token in the token answer")
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return nil, "bad_token", err
	}
	var claims oidcClaims
	if err := idt.Claims(&claims); err != nil {
		return nil, "bad_token", err
	}
	claims.issuer = idt.Issuer
	if err := checkOIDCIssuer(c.cfg, &claims); err != nil {
		return nil, "bad_token", err
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return nil, "bad_token", errors.New("nonce mismatch")
	}
	if claims.Subject == "" {
		return nil, "bad_token", errors.New("no subject")
	}
	return &claims, "", nil
}

// checkOIDCIssuer is the issuer check go-oidc is told to skip: the
// configured issuer, or for Microsoft's multi-tenant endpoints the
// template with the token's own tenant id.
func checkOIDCIssuer(p OIDCProvider, claims *oidcClaims) error {
	want := p.Issuer
	if p.IssuerTemplate != "" {
		if claims.TenantID == "" || strings.ContainsAny(claims.TenantID, "/?#") {
			return errors.New("no tenant id")
		}
		want = strings.ReplaceAll(p.IssuerTemplate, "{tenantid}", claims.TenantID)
	}
	if claims.issuer != want {
		return fmt.Errorf("issuer %q is not %q", claims.issuer, want)
	}
	return nil
}

// oidcCallbackPath reports whether path is a provider's callback, which
// Apple posts as a cross-site form (response_mode=form_post). It acts on
// no ambient credential alone: the state it carries must equal the one in
// this browser's state cookie, and is spent once, so a forged post fails;
// linking also needs the session that began it.
func oidcCallbackPath(path string) bool {
	rest, ok := strings.CutPrefix(path, "/api/v1/auth/oidc/")
	if !ok {
		return false
	}
	name, tail, _ := strings.Cut(rest, "/")
	return tail == "callback" && oidcNameRE.MatchString(name)
}

// redirect answers a redirect without a body (the description has none).
func redirect(w http.ResponseWriter, where string, code int) {
	w.Header().Set("Location", where)
	w.WriteHeader(code)
}

// oidcLanguage is the language of an account a provider sign-in makes:
// the one chosen with the page's switcher (its cookie, which the
// provider's redirect back carries), else the browser's.
func (s *Server) oidcLanguage(r *http.Request) string {
	if c, err := r.Cookie("marbelle_language"); err == nil && s.catalogue.Has(c.Value) {
		return c.Value
	}
	return s.pageLanguage(r)
}
