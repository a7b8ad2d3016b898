package app

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	mailpkg "github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

// profile is the contract's profile object.
type profile struct {
	ID            uuid.UUID `json:"id"`
	Email         string    `json:"email"`
	FirstName     string    `json:"first_name"`
	LastName      string    `json:"last_name"`
	Phone         string    `json:"phone"`
	CompanyName   string    `json:"company_name"`
	EmailVerified bool      `json:"email_verified"`
	IsStaff       bool      `json:"is_staff"`
	DateJoined    time.Time `json:"date_joined"`
}

func profileOf(u *store.User) *profile {
	return &profile{
		ID: u.ID, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, Phone: u.Phone,
		CompanyName: u.CompanyName, EmailVerified: u.EmailVerified, IsStaff: u.Staff, DateJoined: u.DateJoined.UTC(),
	}
}

// --- register ---

type registerInput struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	Phone       string `json:"phone"`
	CompanyName string `json:"company_name"`
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var in registerInput
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if err := s.register(r.Context(), in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, "Thanks for registering. Check your inbox for a link to verify your email address.", nil)
}

// register creates an unverified account and mails its verification link.
// For an email that already has an account it answers the same and mails
// its owner instead: a notice (verified) or a fresh link (not yet verified).
func (s *Server) register(ctx context.Context, in registerInput) error {
	errs := fieldErrors{}
	email, msg := normalizeEmail(in.Email)
	if msg != "" {
		errs.add("email", msg)
	}
	first := cleanText(errs, "first_name", in.FirstName, true, maxNameLength)
	last := cleanText(errs, "last_name", in.LastName, true, maxNameLength)
	company := cleanText(errs, "company_name", in.CompanyName, false, maxCompanyLen)
	phone := normalizePhone(errs, "phone", in.Phone, s.cfg.DefaultRegion)
	for _, m := range checkPassword(in.Password, s.cfg.PasswordMinLength, email, first, last) {
		errs.add("password", m)
	}
	if err := errs.err(); err != nil {
		return err
	}
	// Hash whether or not the email is taken, so both cost the same.
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return err
	}
	token := newSecret()
	c := clientOf(ctx)
	return s.update(ctx, func(t *txn) error {
		existing, err := t.UserByEmail(email)
		switch {
		case err == nil && existing.EmailVerified:
			if err := t.queueMail(mailpkg.KindAlreadyRegistered, existing.Email, existing.ID, mailpkg.Data{FirstName: existing.FirstName, Email: existing.Email, IP: c.IP, UserAgent: c.UserAgent}); err != nil {
				return err
			}
			return t.audit("register_existing", existing, "", c, nil)
		case err == nil:
			if err := t.issueVerification(existing, token, hash); err != nil {
				return err
			}
			return t.audit("register_existing", existing, "", c, map[string]string{"verification": "resent"})
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		u := &store.User{
			ID: store.NewID(), Email: email, FirstName: first, LastName: last, Phone: phone, CompanyName: company,
			PasswordHash: hash, Active: true, DateJoined: t.now, UpdatedAt: t.now,
		}
		if err := t.CreateUser(u); err != nil {
			return err
		}
		if err := t.issueVerification(u, token, hash); err != nil {
			return err
		}
		return t.audit("register", u, "", c, nil)
	})
}

// issueVerification stores a verification token for u (voiding older ones)
// and queues its mail, in this transaction. passwordHash, when set, is the
// password of the registration that asked for it, set when it is verified.
func (t *txn) issueVerification(u *store.User, token, passwordHash string) error {
	ttl := t.s.cfg.TokenTTL.Verify
	if err := t.IssueToken(token, &store.Token{Kind: store.TokenVerifyEmail, UserID: u.ID, PasswordHash: passwordHash, CreatedAt: t.now, ExpiresAt: t.now.Add(ttl)}); err != nil {
		return err
	}
	return t.queueMail(mailpkg.KindVerifyEmail, u.Email, u.ID, mailpkg.Data{FirstName: u.FirstName, Email: u.Email, Link: t.s.link("/verify-email", token), TTL: humanDuration(ttl)})
}

// --- verify and resend ---

type tokenInput struct {
	Token string `json:"token"`
}

func (s *Server) handleVerifyEmail(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var in tokenInput
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	p, err := s.verifyEmail(r.Context(), in.Token)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, "Your email address is verified. You can log in now.", p)
}

// verifyEmail spends a verification token and activates its account.
func (s *Server) verifyEmail(ctx context.Context, token string) (*profile, error) {
	var p *profile
	c := clientOf(ctx)
	err := s.update(ctx, func(t *txn) error {
		tok, err := t.SpendToken(store.TokenVerifyEmail, strings.TrimSpace(token), t.now)
		if err != nil {
			return err
		}
		u, err := t.User(tok.UserID)
		if err != nil {
			return store.ErrTokenInvalid
		}
		u.EmailVerified = true
		if tok.PasswordHash != "" {
			u.PasswordHash = tok.PasswordHash
		}
		u.UpdatedAt = t.now
		if err := t.PutUser(u); err != nil {
			return err
		}
		p = profileOf(u)
		return t.audit("email_verified", u, "", c, nil)
	})
	return p, err
}

type emailInput struct {
	Email string `json:"email"`
}

func (s *Server) handleResendVerification(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var in emailInput
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if err := s.resendVerification(r.Context(), in.Email); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, "If an account with this address is waiting for verification, a new link is on its way.", nil)
}

// resendVerification mails a fresh link to an unverified account; for any
// other address it does the same amount of work and sends nothing.
func (s *Server) resendVerification(ctx context.Context, raw string) error {
	email, msg := normalizeEmail(raw)
	if msg != "" {
		return fieldError("email", msg)
	}
	token := newSecret()
	c := clientOf(ctx)
	return s.update(ctx, func(t *txn) error {
		u, err := t.UserByEmail(email)
		if errors.Is(err, store.ErrNotFound) {
			return t.audit("verification_resend_requested", nil, email, c, map[string]string{"account": "none"})
		}
		if err != nil {
			return err
		}
		if u.EmailVerified || !u.Active {
			return t.audit("verification_resend_requested", u, "", c, map[string]string{"sent": "no"})
		}
		if err := t.issueVerification(u, token, ""); err != nil {
			return err
		}
		return t.audit("verification_resend_requested", u, "", c, map[string]string{"sent": "yes"})
	})
}

// --- login and logout ---

type loginInput struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var in loginInput
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	p, cookie, err := s.login(r.Context(), in)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	http.SetCookie(w, cookie)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, "You are logged in.", p)
}

// login checks a password and opens a new session. Unknown emails, wrong
// passwords and deactivated accounts fail alike, each after one hash.
func (s *Server) login(ctx context.Context, in loginInput) (*profile, *http.Cookie, error) {
	errs := fieldErrors{}
	if strings.TrimSpace(in.Email) == "" {
		errs.add("email", "Enter your email address.")
	} else if len(in.Email) > 4*maxEmailLength {
		// No account has such an address; refusing it here keeps limiter
		// keys and audit entries small.
		errs.add("email", "Enter a valid email address.")
	} else if strings.ContainsFunc(in.Email, invisibleInEmail) {
		// Registration refuses such addresses (normalizeEmail), so saying
		// so tells nothing about which accounts exist.
		errs.add("email", msgEmailInvisible)
	}
	if in.Password == "" {
		errs.add("password", "Enter your password.")
	}
	if err := errs.err(); err != nil {
		return nil, nil, err
	}
	email := store.NormalizeEmail(in.Email)
	c := clientOf(ctx)
	// Every attempt takes a slot of the per-account failure budget before
	// the hash, so parallel guesses cannot all get through; a right
	// password gives it back.
	if ok, retry := s.limits.loginFailures.Allow(email, s.now()); !ok {
		return nil, nil, rateLimited(retry)
	}
	var u *store.User
	err := s.db.View(func(tx *store.Tx) error {
		var err error
		u, err = tx.UserByEmail(email)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	var ok, rehash bool
	if u == nil {
		err = s.hasher.VerifyDummy(ctx, in.Password)
	} else {
		ok, rehash, err = s.hasher.Verify(ctx, u.PasswordHash, in.Password)
	}
	if err != nil {
		s.limits.loginFailures.Refund(email)
		return nil, nil, err
	}
	if !ok || !u.Active {
		if err := s.update(ctx, func(t *txn) error {
			return t.audit("login_failed", u, email, c, nil)
		}); err != nil {
			return nil, nil, err
		}
		return nil, nil, errBadCredentials
	}
	s.limits.loginFailures.Refund(email)
	if !u.EmailVerified {
		return nil, nil, &Error{Code: CodeEmailNotVerified, Message: "Please verify your email address first. We can send you a new link."}
	}
	if u.MustResetPassword {
		return nil, nil, &Error{Code: CodePasswordResetRequired, Message: "For your security, please reset your password before you log in. We will mail you a link."}
	}
	newHash := ""
	if rehash {
		if newHash, err = s.hasher.Hash(ctx, in.Password); err != nil {
			newHash = "" // keep the old hash; the next login tries again
		}
	}
	secret := newSecret()
	var sess *store.Session
	err = s.update(ctx, func(t *txn) error {
		cur, err := t.User(u.ID)
		if err != nil {
			return errBadCredentials // deleted meanwhile
		}
		if newHash != "" && cur.PasswordHash == u.PasswordHash {
			cur.PasswordHash = newHash
		} else if cur.PasswordHash != u.PasswordHash || !cur.Active {
			return errBadCredentials // changed meanwhile
		}
		cur.LastLoginAt = t.now
		knew := len(cur.KnownDevices) > 0
		if cur.RememberDevice(deviceFingerprint(c)) && knew {
			if err := t.queueNotice("new_device", mailpkg.KindNewDevice, cur, cur.Email, "", c, mailpkg.Data{}); err != nil {
				return err
			}
		}
		if err := t.PutUser(cur); err != nil {
			return err
		}
		u = cur
		if sess, err = s.newSession(t.Tx, cur, secret, c, t.now); err != nil {
			return err
		}
		return t.audit("login", cur, "", c, nil)
	})
	if err != nil {
		return nil, nil, err
	}
	cookie, err := s.sessionCookie(secret, s.absoluteTimeout(sess.Staff))
	if err != nil {
		return nil, nil, err
	}
	return profileOf(u), cookie, nil
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if err := s.logout(r.Context(), s.cookieSecret(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.clearSessionCookie(w)
	w.Header().Set("Clear-Site-Data", `"cookies", "storage"`)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, "You are logged out.", nil)
}

// logout deletes the session at once; without one it does nothing.
func (s *Server) logout(ctx context.Context, secret string) error {
	if secret == "" {
		return nil
	}
	c := clientOf(ctx)
	return s.update(ctx, func(t *txn) error {
		sess, err := t.SessionBySecret(secret)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := t.DeleteSession(sess.Hash); err != nil {
			return err
		}
		u, _ := t.User(sess.UserID)
		return t.audit("logout", u, "", c, nil)
	})
}

// --- password reset ---

func (s *Server) handlePasswordResetRequest(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var in emailInput
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if err := s.requestPasswordReset(r.Context(), in.Email); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, "If an account with this address exists, a link to reset the password is on its way.", nil)
}

// requestPasswordReset mails a reset link to an active account; any other
// address costs the same write and gets no mail.
func (s *Server) requestPasswordReset(ctx context.Context, raw string) error {
	email, msg := normalizeEmail(raw)
	if msg != "" {
		return fieldError("email", msg)
	}
	token := newSecret()
	c := clientOf(ctx)
	ttl := s.cfg.TokenTTL.Reset
	return s.update(ctx, func(t *txn) error {
		u, err := t.UserByEmail(email)
		if errors.Is(err, store.ErrNotFound) {
			return t.audit("password_reset_requested", nil, email, c, map[string]string{"account": "none"})
		}
		if err != nil {
			return err
		}
		if !u.Active {
			return t.audit("password_reset_requested", u, "", c, map[string]string{"sent": "no"})
		}
		if err := t.IssueToken(token, &store.Token{Kind: store.TokenPasswordReset, UserID: u.ID, CreatedAt: t.now, ExpiresAt: t.now.Add(ttl)}); err != nil {
			return err
		}
		if err := t.queueMail(mailpkg.KindPasswordReset, u.Email, u.ID, mailpkg.Data{FirstName: u.FirstName, Email: u.Email, Link: s.link("/reset-password", token), TTL: humanDuration(ttl), IP: c.IP, UserAgent: c.UserAgent}); err != nil {
			return err
		}
		return t.audit("password_reset_requested", u, "", c, map[string]string{"sent": "yes"})
	})
}

type resetConfirmInput struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (s *Server) handlePasswordResetConfirm(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var in resetConfirmInput
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if err := s.confirmPasswordReset(r.Context(), in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, "Your password has been reset. Please log in with the new password.", nil)
}

// confirmPasswordReset sets a new password with a reset token, ends every
// session and mails a notice. A weak password spends nothing. It does not
// log in (the mailbox owner proves who they are by logging in).
func (s *Server) confirmPasswordReset(ctx context.Context, in resetConfirmInput) error {
	token := strings.TrimSpace(in.Token)
	var u *store.User
	err := s.db.View(func(tx *store.Tx) error {
		tok, err := tx.ValidToken(store.TokenPasswordReset, token, s.now())
		if err != nil {
			return err
		}
		u, err = tx.User(tok.UserID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return errInvalidToken
	}
	if err != nil {
		return err
	}
	if msgs := checkPassword(in.Password, s.cfg.PasswordMinLength, u.Email, u.FirstName, u.LastName); len(msgs) > 0 {
		return &Error{Code: CodeValidation, Message: "Please choose another password.", Fields: map[string][]string{"password": msgs}}
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return err
	}
	c := clientOf(ctx)
	return s.update(ctx, func(t *txn) error {
		tok, err := t.SpendToken(store.TokenPasswordReset, token, t.now)
		if err != nil {
			return err
		}
		u, err := t.User(tok.UserID)
		if err != nil {
			return store.ErrTokenInvalid
		}
		u.PasswordHash = hash
		u.EmailVerified = true // the link reached the mailbox: that is verification too
		u.MustResetPassword = false
		u.UpdatedAt = t.now
		if err := t.PutUser(u); err != nil {
			return err
		}
		n, err := t.DeleteUserSessions(u.ID, nil)
		if err != nil {
			return err
		}
		if err := t.queueNotice("password_reset", mailpkg.KindPasswordResetDone, u, u.Email, "", c, mailpkg.Data{}); err != nil {
			return err
		}
		return t.audit("password_reset", u, "", c, map[string]string{"sessions_ended": strconv.Itoa(n)})
	})
}
