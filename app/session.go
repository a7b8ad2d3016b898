package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/securecookie"
	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/store"
)

// A session's last-seen time is written at most once per hundredth of its
// idle timeout (so the idle end is off by at most 1 %), and never more often
// than once a minute nor less often than every 15 minutes: reads stay reads,
// and a customer's week-long idle timeout does not cost a write a minute.
const (
	minTouchInterval = time.Minute
	maxTouchInterval = 15 * time.Minute
)

// touchInterval is how stale a session's last-seen time may get before a
// request writes it again.
func (s *Server) touchInterval(staff bool) time.Duration {
	return min(max(s.idleTimeout(staff)/100, minTouchInterval), maxTouchInterval)
}

// newSecret returns 32 random bytes, base64url without padding (43 chars):
// the form of session secrets and mailed tokens.
func newSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the OS has no entropy; nothing is safe to do
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// auth is the request's principal, resolved once per request by
// authenticate from the request's one credential (see credential): today
// a user's session, by cookie or bearer token. A service's API key will
// be a principal without a session, which requireUser refuses.
type auth struct {
	User    *store.User
	Session *store.Session
}

// credentialKind is what a request presents to say who it is.
type credentialKind int

const (
	credNone    credentialKind = iota // nothing: an anonymous request
	credCookie                        // the session cookie; its value is the session secret inside it
	credBearer                        // Authorization: Bearer <session token>; the token is the session secret
	credAPIKey                        // Authorization: Bearer mbk_…, a service API key
	credInvalid                       // an Authorization header that is none of these
)

// No session token starts with apiKeyPrefix (newSessionSecret), so the
// two never read as each other.

// Session tokens are what newSecret makes (43 characters); the upper
// bound leaves room for longer ones and keeps a junk header from being
// hashed.
const (
	minTokenLength = 43
	maxTokenLength = 256
)

// credential is the request's one credential and its value. An
// Authorization header, when present, is the only one considered: the
// cookie is then ignored, so that an app's call never borrows a browser's
// ambient cookie (withCrossOriginProtection relies on that). Only the
// header is read, never the query string: a token in a URL ends up in
// logs and Referer headers.
func (s *Server) credential(r *http.Request) (credentialKind, string) {
	if kind, value, sent := headerCredential(r.Header); sent {
		return kind, value
	}
	if secret := s.cookieSecret(r); secret != "" {
		return credCookie, secret
	}
	return credNone, ""
}

// headerCredential is the credential of the Authorization header, and
// whether one was sent. It reads nothing else, so that telling an API key
// from a session costs no cookie decoding.
func headerCredential(h http.Header) (kind credentialKind, value string, sent bool) {
	header, sent := h["Authorization"]
	if !sent {
		return credNone, "", false
	}
	token, ok := bearerToken(header)
	switch {
	case !ok:
		return credInvalid, "", true
	case strings.HasPrefix(token, apiKeyPrefix):
		return credAPIKey, token, true
	case !wellFormedToken(token):
		return credInvalid, "", true
	}
	return credBearer, token, true
}

// bearerToken is the token of a lone "Authorization: Bearer <token>"
// header (RFC 6750 §2.1; the scheme is case-insensitive, RFC 9110 §11.1).
func bearerToken(header []string) (string, bool) {
	if len(header) != 1 {
		return "", false
	}
	scheme, token, _ := strings.Cut(header[0], " ")
	token = strings.TrimLeft(token, " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// wellFormedToken reports whether t could be a session token: base64url
// without padding, of a plausible length.
func wellFormedToken(t string) bool {
	return len(t) >= minTokenLength && len(t) <= maxTokenLength && base64URL(t)
}

// base64URL reports whether s is made of base64url characters only (no
// padding), the alphabet newSecret writes.
func base64URL(s string) bool {
	for i := range len(s) {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// newSessionSecret is newSecret for a session: never one that would read
// as an API key when an app sends it as a bearer token (1 in 64⁴ would).
func newSessionSecret() string {
	for {
		if secret := newSecret(); !strings.HasPrefix(secret, apiKeyPrefix) {
			return secret
		}
	}
}

// sessionCookie encodes secret for the Set-Cookie header.
func (s *Server) sessionCookie(secret string, maxAge time.Duration) (*http.Cookie, error) {
	value, err := s.cookies.Encode(s.cookieName, []byte(secret))
	if err != nil {
		return nil, err
	}
	return &http.Cookie{ // #nosec G124 -- Secure whenever the base URL is https; plain http is development only
		Name:     s.cookieName,
		Value:    value,
		Path:     "/",
		Domain:   s.cfg.CookieDomain,
		MaxAge:   int(maxAge / time.Second),
		HttpOnly: true,
		Secure:   s.secureCookies,
		SameSite: http.SameSiteLaxMode,
	}, nil
}

// clearSessionCookie removes the cookie; a browser replaces a cookie only
// with one of the same name, domain and path.
func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName, Value: "", Path: "/", Domain: s.cfg.CookieDomain, MaxAge: -1, HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode}) // #nosec G124 -- clears the cookie; Secure as when it was set
}

// cookieSecret returns the session secret carried by the request's cookie,
// or "" when there is none or it was not minted by this server.
func (s *Server) cookieSecret(r *http.Request) string {
	c, err := r.Cookie(s.cookieName)
	if err != nil || c.Value == "" {
		return ""
	}
	return s.cookieValueSecret(c.Value)
}

// cookieValueSecret is the session secret inside a session cookie's value,
// or "" when this server did not mint it.
func (s *Server) cookieValueSecret(value string) string {
	var secret []byte
	if err := s.cookies.Decode(s.cookieName, value, &secret); err != nil {
		return ""
	}
	return string(secret)
}

// authenticate resolves the request's principal from its one credential.
// Session routes take a session, by cookie or bearer token; no credential,
// a malformed one and an API key are errUnauthenticated.
func (s *Server) authenticate(r *http.Request) (*auth, error) {
	kind, value := s.credential(r)
	switch kind {
	case credCookie, credBearer:
	default:
		return nil, errUnauthenticated
	}
	now := s.now()
	a, err := s.sessionAuth(value, now)
	if err != nil {
		return nil, err
	}
	s.sessionUsed(a.Session, now)
	return a, nil
}

// sessionUsed records that sess was used at now: its last-seen time and
// idle end move, at most once per touchInterval and in the background.
// sess shows what is being stored.
func (s *Server) sessionUsed(sess *store.Session, now time.Time) {
	if now.Sub(sess.LastSeenAt) < s.touchInterval(sess.Staff) {
		return
	}
	idleUntil := now.Add(s.idleTimeout(sess.Staff))
	if s.touchSession(sess.Hash, now, idleUntil) {
		sess.LastSeenAt, sess.IdleUntil = now, idleUntil
	}
}

// sessionAuth reads the session whose secret is secret, and its user, as
// they stand at now, without touching it. A session that has ended, or
// whose user is gone, deactivated, unverified or frozen, is
// errUnauthenticated.
func (s *Server) sessionAuth(secret string, now time.Time) (*auth, error) {
	var a auth
	err := s.db.View(func(tx *store.Tx) error {
		sess, err := tx.SessionBySecret(secret)
		if err != nil {
			return err
		}
		if !sess.Valid(now) {
			return store.ErrNotFound
		}
		u, err := tx.User(sess.UserID)
		if err != nil {
			return err
		}
		if !u.Active || !u.EmailVerified || u.Frozen {
			return store.ErrNotFound
		}
		a = auth{User: u, Session: sess}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// touchSession moves a session's last-seen time in the background: it is
// bookkeeping, not a write the client asked for, so the answer does not
// wait for its commit. At most cap(touchSlots) run at once; past that a
// touch is skipped and the session's next request tries again (idle
// timeouts are days or half an hour, touches come every minute). It
// reports whether the touch was started.
func (s *Server) touchSession(hash []byte, seen, idleUntil time.Time) bool {
	select {
	case s.touchSlots <- struct{}{}:
	default:
		return false
	}
	go func() {
		defer func() { <-s.touchSlots }()
		err := s.db.Batch(func(tx *store.Tx) error { return tx.TouchSession(hash, seen, idleUntil) })
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("session touch failed", "err", err)
		}
	}()
	return true
}

func (s *Server) idleTimeout(staff bool) time.Duration {
	if staff {
		return s.cfg.SessionTTL.StaffIdle
	}
	return s.cfg.SessionTTL.Idle
}

func (s *Server) absoluteTimeout(staff bool) time.Duration {
	if staff {
		return s.cfg.SessionTTL.StaffAbsolute
	}
	return s.cfg.SessionTTL.Absolute
}

// requireUser adapts a handler for signed-in users: 401 without a valid
// session. Every authenticated answer is marked not to be cached.
// State-changing requests count against the user's write limit, so that
// one session cannot grow the store (and its audit log) without end.
func (s *Server) requireUser(h userHandler) httprouter.Handle {
	return s.public(func(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
		w.Header().Set("Cache-Control", "no-store")
		a, err := s.authenticate(r)
		if err != nil {
			return err
		}
		if a.Session == nil { // a service's principal (an API key) is no user's session
			return errUnauthenticated
		}
		setAccountLanguage(w, a.User.Language)
		if unsafeMethod(r.Method) {
			if ok, retry := s.limits.userWrites.Allow(a.User.ID.String(), s.now()); !ok {
				return rateLimited(retry)
			}
		}
		return h(w, r, p, a)
	})
}

// unsafeMethod reports whether a request with this method may change state.
func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// signIn is how a session is opened: what the user proved, and where
// its secret goes.
type signIn struct {
	Methods []string // store.Session.Methods
	AAL     int
	Token   bool // answered to an app as a bearer token, not set as a cookie
}

// passwordSignIn is a login with a password alone (AAL1).
func passwordSignIn(token bool) signIn {
	return signIn{Methods: []string{"password"}, AAL: 1, Token: token}
}

// newSession creates a session for u under secret, inside the caller's
// transaction.
func (s *Server) newSession(tx *store.Tx, u *store.User, secret string, how signIn, c client, now time.Time) (*store.Session, error) {
	sess := &store.Session{
		ID:         store.NewID(),
		UserID:     u.ID,
		Staff:      u.Staff,
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(s.absoluteTimeout(u.Staff)),
		IdleUntil:  now.Add(s.idleTimeout(u.Staff)),
		IP:         c.IP,
		UserAgent:  c.UserAgent,
		Token:      how.Token,
		Methods:    how.Methods,
		AAL:        how.AAL,
	}
	return sess, tx.CreateSession(secret, sess)
}

// sessionView is one row of GET /sessions.
type sessionView struct {
	ID         uuid.UUID `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
	Kind       string    `json:"kind"` // "cookie" (a browser) or "token" (an app)
	Methods    []string  `json:"methods"`
	AAL        int       `json:"aal"`
}

func sessionViewOf(sess *store.Session, current bool) sessionView {
	kind := "cookie"
	if sess.Token {
		kind = "token"
	}
	return sessionView{ID: sess.ID, Kind: kind, CreatedAt: sess.CreatedAt.UTC(), LastSeenAt: sess.LastSeenAt.UTC(), IP: sess.IP, UserAgent: sess.UserAgent, Current: current,
		Methods: sessionMethods(sess), AAL: sess.AAL}
}

// sessionMethods is how sess was signed in to: a list, never null.
func sessionMethods(sess *store.Session) []string {
	if sess.Methods == nil {
		return []string{}
	}
	return sess.Methods
}

// listSessions returns the user's valid sessions, newest first.
func (s *Server) listSessions(a *auth) ([]sessionView, error) {
	now := s.now()
	var out []sessionView
	err := s.db.View(func(tx *store.Tx) error {
		sessions, err := tx.UserSessions(a.User.ID)
		if err != nil {
			return err
		}
		out = make([]sessionView, 0, len(sessions))
		for i := len(sessions) - 1; i >= 0; i-- {
			sess := sessions[i]
			if !sess.Valid(now) {
				continue
			}
			out = append(out, sessionViewOf(&sess, sess.ID == a.Session.ID))
		}
		return nil
	})
	return out, err
}

// revokeSession ends one of the user's sessions. Errors: errNotFound.
func (s *Server) revokeSession(ctx context.Context, a *auth, id uuid.UUID) error {
	c := clientOf(ctx)
	return s.update(ctx, func(t *txn) error {
		if err := t.DeleteUserSession(a.User.ID, id); err != nil {
			return err
		}
		return t.audit("session_revoked", a.User, "", c, map[string]string{"session_id": id.String()})
	})
}

func newCookieCodec(hashKey, blockKey []byte, maxAge time.Duration) *securecookie.SecureCookie {
	sc := securecookie.New(hashKey, blockKey)
	sc.SetSerializer(securecookie.NopEncoder{})
	sc.MaxAge(int(maxAge / time.Second))
	return sc
}

func (s *Server) handleSessionsList(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	list, err := s.listSessions(a)
	return answer(w, http.StatusOK, "Your sessions.", list, err)
}

func (s *Server) handleSessionRevoke(w http.ResponseWriter, r *http.Request, p httprouter.Params, a *auth) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	return answer(w, http.StatusOK, "The session is ended.", nil, s.revokeSession(r.Context(), a, id))
}

// sessionCheck is the answer of GET /session: who is signed in, and how.
type sessionCheck struct {
	User    *profile      `json:"user"`
	Session sessionDetail `json:"session"`
}

type sessionDetail struct {
	ID         uuid.UUID `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"` // the earlier of the absolute and the idle end
	LastSeenAt time.Time `json:"last_seen_at"`
	Methods    []string  `json:"methods"`
	AAL        int       `json:"aal"`
}

func sessionCheckOf(a *auth) *sessionCheck {
	methods := sessionMethods(a.Session)
	return &sessionCheck{User: profileOf(a.User), Session: sessionDetail{
		ID: a.Session.ID, CreatedAt: a.Session.CreatedAt.UTC(), ExpiresAt: a.Session.EndsAt().UTC(),
		LastSeenAt: a.Session.LastSeenAt.UTC(), Methods: methods, AAL: a.Session.AAL,
	}}
}

func (s *Server) handleSessionCheck(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	writeJSON(w, http.StatusOK, "You are logged in.", sessionCheckOf(a))
	return nil
}
