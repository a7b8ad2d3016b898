package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
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

// auth is the signed-in user of a request.
type auth struct {
	User    *store.User
	Session *store.Session
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
		MaxAge:   int(maxAge / time.Second),
		HttpOnly: true,
		Secure:   s.secureCookies,
		SameSite: http.SameSiteLaxMode,
	}, nil
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode}) // #nosec G124 -- clears the cookie; Secure as when it was set
}

// cookieSecret returns the session secret carried by the request's cookie,
// or "" when there is none or it was not minted by this server.
func (s *Server) cookieSecret(r *http.Request) string {
	c, err := r.Cookie(s.cookieName)
	if err != nil || c.Value == "" {
		return ""
	}
	var secret []byte
	if err := s.cookies.Decode(s.cookieName, c.Value, &secret); err != nil {
		return ""
	}
	return string(secret)
}

// authenticate returns the request's valid session and its user, or
// errUnauthenticated. A session whose user is gone, deactivated or
// unverified is no session.
func (s *Server) authenticate(r *http.Request) (*auth, error) {
	secret := s.cookieSecret(r)
	if secret == "" {
		return nil, errUnauthenticated
	}
	now := s.now()
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
	if now.Sub(a.Session.LastSeenAt) >= s.touchInterval(a.Session.Staff) {
		s.touchSession(a.Session.Hash, now, now.Add(s.idleTimeout(a.Session.Staff)))
	}
	return &a, nil
}

// touchSession moves a session's last-seen time in the background: it is
// bookkeeping, not a write the client asked for, so the answer does not
// wait for its commit. At most cap(touchSlots) run at once; past that a
// touch is skipped and the session's next request tries again (idle
// timeouts are days or half an hour, touches come every minute).
func (s *Server) touchSession(hash []byte, seen, idleUntil time.Time) {
	select {
	case s.touchSlots <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-s.touchSlots }()
		err := s.db.Batch(func(tx *store.Tx) error { return tx.TouchSession(hash, seen, idleUntil) })
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("session touch failed", "err", err)
		}
	}()
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

// newSession creates a session for u (inside the caller's transaction) and
// returns its cookie secret.
func (s *Server) newSession(tx *store.Tx, u *store.User, secret string, c client, now time.Time) (*store.Session, error) {
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
			out = append(out, sessionView{ID: sess.ID, CreatedAt: sess.CreatedAt.UTC(), LastSeenAt: sess.LastSeenAt.UTC(), IP: sess.IP, UserAgent: sess.UserAgent, Current: sess.ID == a.Session.ID})
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
