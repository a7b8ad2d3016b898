package app

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/store"
)

// oidcSignIn signs in the owner of the identity in claims, or creates a
// verified account for a verified address that has none. An address that
// has an account is never linked here: whoever controls the provider
// account may not be whoever owns that account (the pre-hijack attack).
func (s *Server) oidcSignIn(ctx context.Context, c *oidcClient, claims *oidcClaims, next string) (*oidcOutcome, string, error) {
	cl := clientOf(ctx)
	secret := newSessionSecret()
	mfaToken := newSecret()
	how := signIn{Methods: []string{"oidc:" + c.cfg.Name}, AAL: 1}
	var reason string
	var sess *store.Session
	var secondStep bool
	err := s.update(ctx, func(t *txn) error {
		reason, sess, secondStep = "", nil, false // made afresh by each run: Batch may run this twice
		u, created, why, err := t.oidcAccount(c, claims, cl)
		if err != nil || why != "" {
			reason = why
			return err
		}
		if !created && t.HasSecondFactor(u.ID) {
			// A provider stands in for the password, not for the second
			// factor the owner added: the login page asks for it next.
			secondStep = true
			return t.beginSecondStep(u, mfaToken, "cookie", how.Methods[0], "", cl)
		}
		u.LastLoginAt, u.UpdatedAt = t.now, t.now
		if err := t.PutUser(u); err != nil {
			return err
		}
		if sess, err = s.newSession(t.Tx, u, secret, how, cl, t.now); err != nil {
			return err
		}
		event := "login"
		if created {
			event = "register"
		}
		return t.audit(event, u, "", cl, map[string]string{"method": how.Methods[0]})
	})
	if err != nil || reason != "" {
		return nil, orDefault(reason, "internal"), err
	}
	if secondStep {
		// The token rides in the fragment: never sent to a server, never
		// in a Referer or an access log.
		return &oidcOutcome{next: "/login?next=" + url.QueryEscape(next) + "#mfa=" + mfaToken}, "", nil
	}
	cookie, err := s.sessionCookie(secret, s.absoluteTimeout(sess.Staff))
	if err != nil {
		return nil, "internal", err
	}
	return &oidcOutcome{next: next, cookie: cookie}, "", nil
}

// oidcAccount is the account claims sign in to, inside the caller's
// transaction: the linked one, or a new verified one. why says why there
// is none (audited by the caller's redirect).
func (t *txn) oidcAccount(c *oidcClient, claims *oidcClaims, cl client) (u *store.User, created bool, why string, err error) {
	id, err := t.IdentityBySubject(claims.issuer, claims.Subject)
	if err == nil {
		if u, err = t.User(id.UserID); err != nil {
			return nil, false, "", err
		}
		switch {
		case !u.Active || u.Frozen:
			return nil, false, "account_locked", nil
		case u.MustResetPassword:
			// The owner said "This wasn't me": whoever acted may hold a
			// linked provider too, so the reset comes first.
			return nil, false, "password_reset_required", nil
		}
		return u, false, "", nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, false, "", err
	}
	email, msg := normalizeEmail(claims.Email)
	if claims.Email == "" || msg != "" {
		return nil, false, "no_email", nil
	}
	if !claims.EmailVerified {
		return nil, false, "email_unverified", nil
	}
	if existing, err := t.UserByEmail(email); err == nil {
		// Audited on the account, so its owner sees the attempt.
		return nil, false, "email_taken", t.audit("oidc_refused_existing", existing, "", cl, map[string]string{"provider": c.cfg.Name})
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, false, "", err
	}
	first, last := oidcNames(claims)
	u = &store.User{ID: store.NewID(), Email: email, FirstName: first, LastName: last, EmailVerified: true, Active: true, DateJoined: t.now, UpdatedAt: t.now,
		Language: claims.language}
	if err := t.CreateUser(u); err != nil {
		return nil, false, "", err
	}
	ident := &store.Identity{ID: store.NewID(), UserID: u.ID, Provider: c.cfg.Name, Issuer: claims.issuer, Subject: claims.Subject, Email: email, CreatedAt: t.now}
	return u, true, "", t.LinkIdentity(ident)
}

// oidcNames are the account's names from the token, cut to what a
// profile holds.
func oidcNames(claims *oidcClaims) (first, last string) {
	first, last = claims.GivenName, claims.FamilyName
	if first == "" && last == "" {
		first, last, _ = strings.Cut(strings.TrimSpace(claims.Name), " ")
	}
	errs := fieldErrors{}
	return cleanText(errs, "first_name", first, false, maxNameLength), cleanText(errs, "last_name", last, false, maxNameLength)
}

// linkIdentity links the identity in claims to the user who began the
// linking in this browser (the state cookie matched), unless that user's
// security stamp moved since (a password change, an undo): the session
// cookie is not needed, so that Apple's cross-site form post links too.
func (s *Server) linkIdentity(ctx context.Context, c *oidcClient, st *store.OIDCState, claims *oidcClaims) (string, error) {
	cl := clientOf(ctx)
	var reason string
	err := s.update(ctx, func(t *txn) error {
		reason = ""
		u, err := t.User(st.LinkUserID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (u.SecurityStamp != st.LinkStamp || !u.Active || u.Frozen)) {
			reason = "link_expired"
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := t.IdentityBySubject(claims.issuer, claims.Subject); err == nil {
			reason = "identity_taken"
			return nil
		}
		ident := &store.Identity{ID: store.NewID(), UserID: u.ID, Provider: c.cfg.Name, Issuer: claims.issuer, Subject: claims.Subject, Email: strings.ToLower(claims.Email), CreatedAt: t.now}
		if err := t.LinkIdentity(ident); err != nil {
			return err
		}
		detail := map[string]string{"provider": c.cfg.Name, "identity_id": ident.ID.String()}
		return t.signInMethodsChanged(u, "oidc_linked", c.cfg.Label+" was linked to your account for signing in.", cl, detail)
	})
	if err != nil {
		return "internal", err
	}
	return reason, nil
}

// identityView is one linked provider on the security page.
type identityView struct {
	ID        uuid.UUID `json:"id"`
	Provider  string    `json:"provider"`
	Label     string    `json:"label"`
	Email     string    `json:"email,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Server) identityViewOf(id store.Identity) identityView {
	label := id.Provider
	if c, ok := s.oidc.byName[id.Provider]; ok {
		label = c.cfg.Label
	}
	return identityView{ID: id.ID, Provider: id.Provider, Label: label, Email: id.Email, CreatedAt: id.CreatedAt.UTC()}
}

func (s *Server) handleOIDCIdentities(w http.ResponseWriter, _ *http.Request, _ httprouter.Params, a *auth) error {
	var out []identityView
	err := s.db.View(func(tx *store.Tx) error {
		ids, err := tx.UserIdentities(a.User.ID)
		out = make([]identityView, 0, len(ids))
		for _, id := range ids {
			out = append(out, s.identityViewOf(id))
		}
		return err
	})
	return answer(w, http.StatusOK, "Providers linked to your account.", out, err)
}

const msgNoPasswordYet = "Your account has no password yet. To set one, use \"Forgot your password?\" on the login page: we mail you a link."

var errLastWayIn = &Error{Code: CodeForbidden, Message: "This is your only way to sign in. Set a password or link another provider first."}

func (s *Server) handleOIDCUnlink(w http.ResponseWriter, r *http.Request, p httprouter.Params, a *auth) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	return answer(w, http.StatusOK, "The provider is no longer linked to your account.", nil, s.unlinkIdentity(r.Context(), a, id))
}

// unlinkIdentity removes one of the user's identities, unless it is the
// last way in (no password and no other identity).
func (s *Server) unlinkIdentity(ctx context.Context, a *auth, id uuid.UUID) error {
	return s.updateUser(ctx, a.User.ID, nil, func(t *txn, u *store.User, cl client) error {
		ids, err := t.UserIdentities(u.ID)
		if err != nil {
			return err
		}
		if u.PasswordHash == "" && len(ids) <= 1 {
			for _, x := range ids {
				if x.ID == id {
					return errLastWayIn
				}
			}
		}
		gone, err := t.UnlinkIdentity(u.ID, id)
		if err != nil {
			return err
		}
		label := s.identityViewOf(*gone).Label
		return t.signInMethodsChanged(u, "oidc_unlinked", label+" was unlinked from your account: it no longer signs you in.", cl, map[string]string{"provider": gone.Provider, "identity_id": gone.ID.String()})
	})
}

// safeNext is where a sign-in at a provider ends: a path of this site
// (not an API path), a URL on a forward-auth origin, or /account for
// anything else; the server-side twin of ui/embed/assets/next.js.
func (s *Server) safeNext(next string) string {
	const fallback = "/account"
	if next == "" || strings.ContainsFunc(next, func(r rune) bool { return r <= 0x20 || (r >= 0x7f && r <= 0x9f) || r == '\\' }) {
		return fallback
	}
	if strings.HasPrefix(next, "/") && !strings.HasPrefix(next, "//") {
		u, err := url.Parse(next)
		if err != nil || u.Host != "" || strings.HasPrefix(u.Path, "/api/") || !(u.Path == "/account" || strings.HasPrefix(u.Path, "/account/") || u.Path == "/admin" || strings.HasPrefix(u.Path, "/admin/")) {
			return fallback
		}
		return u.RequestURI() + fragment(u)
	}
	u, err := url.Parse(next)
	if err != nil || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") || !s.forwardOrigins[origin(u.Scheme, u.Host)] {
		return fallback
	}
	return u.String()
}

func fragment(u *url.URL) string {
	if u.Fragment == "" {
		return ""
	}
	return "#" + u.EscapedFragment()
}
