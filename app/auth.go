package app

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/app/internal/password"
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
	// Language is the account's language; "" until chosen (accounts from
	// before languages), when the request's Accept-Language decides.
	Language string `json:"language"`
}

func profileOf(u *store.User) *profile {
	return &profile{
		ID: u.ID, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, Phone: u.Phone,
		CompanyName: u.CompanyName, EmailVerified: u.EmailVerified, IsStaff: u.Staff, DateJoined: u.DateJoined.UTC(),
		Language: u.Language,
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
	// Language is the page's language; without it, the request's.
	Language string `json:"language"`
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var in registerInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Language == "" {
		in.Language = s.pageLanguage(r)
	}
	return answer(w, http.StatusCreated, "Thanks for registering. Check your inbox for a link to verify your email address.", nil, s.register(r.Context(), in))
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
	lang := s.checkLanguage(errs, "language", in.Language)
	for _, m := range password.Check(in.Password, s.cfg.PasswordMinLength, email, first, last) {
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
	mailOK := s.mailAllowed(email)
	return s.update(ctx, func(t *txn) error {
		existing, err := t.UserByEmail(email)
		switch {
		case err == nil && existing.EmailVerified:
			if !mailOK {
				return t.audit("register_existing", existing, "", c, mailCapped())
			}
			if err := t.queueMail(mailpkg.KindAlreadyRegistered, existing.Email, existing.ID, mailpkg.Data{FirstName: nameFor(existing), Email: existing.Email, IP: c.IP, UserAgent: c.UserAgent}); err != nil {
				return err
			}
			return t.audit("register_existing", existing, "", c, nil)
		case err == nil:
			// A second registration of an unverified address: neither
			// password has been proven by the mailbox, so the link sets
			// none and verification asks for one (no hash on the token).
			if err := t.issueVerification(existing, token, "", mailOK); err != nil {
				return err
			}
			return t.audit("register_existing", existing, "", c, verificationDetail("resent", mailOK))
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		// The password stays on the verification token until the mailbox
		// proves it: an unverified user record holds none.
		u := &store.User{
			ID: store.NewID(), Email: email, FirstName: first, LastName: last, Phone: phone, CompanyName: company,
			Active: true, DateJoined: t.now, UpdatedAt: t.now, Language: lang,
		}
		if err := t.CreateUser(u); err != nil {
			return err
		}
		if err := t.issueVerification(u, token, hash, mailOK); err != nil {
			return err
		}
		if err := t.emitUser(evUserRegistered, u); err != nil {
			return err
		}
		return t.audit("register", u, "", c, verificationDetail("", mailOK))
	})
}

// mailCapped is the audit detail of a mail not sent because its recipient
// had all the mail the limit allows (MARBELLE_RATE_LIMITS mail_recipient):
// a new map each time, since an event keeps the one it is given.
func mailCapped() map[string]string {
	return map[string]string{"sent": "no", "reason": "recipient_limit"}
}

// verificationDetail is the audit detail of a verification mail.
func verificationDetail(what string, sent bool) map[string]string {
	d := map[string]string{}
	if what != "" {
		d["verification"] = what
	}
	if !sent {
		maps.Copy(d, mailCapped())
	}
	if len(d) == 0 {
		return nil
	}
	return d
}

// mailAllowed takes one mail from the budget of recipient, an address
// anyone may name: over it the flow answers the same and sends nothing,
// so no inbox can be flooded from the shop's domain. Taken before the
// transaction (whose closure may run twice), whether or not the address
// has an account, so that the limit tells nothing either.
func (s *Server) mailAllowed(recipient string) bool {
	ok, _ := s.limits.mailRecipient.Allow(recipient, s.now())
	return ok
}

// issueVerification stores a verification token for u (voiding older ones)
// and, when send, queues its mail, in this transaction. passwordHash, when
// set, is the password of the one registration the link stands for, set
// when it is verified; "" makes verification ask for a password. The mail
// goes to an address nobody has proven yet, so it carries no name: a
// registrant's text never reaches someone else's inbox in the shop's mail.
func (t *txn) issueVerification(u *store.User, token, passwordHash string, send bool) error {
	ttl := t.s.cfg.TokenTTL.Verify
	if err := t.IssueToken(token, &store.Token{Kind: store.TokenVerifyEmail, UserID: u.ID, PasswordHash: passwordHash, CreatedAt: t.now, ExpiresAt: t.now.Add(ttl)}); err != nil {
		return err
	}
	if !send {
		return nil
	}
	return t.queueMail(mailpkg.KindVerifyEmail, u.Email, u.ID, mailpkg.Data{Email: u.Email, Link: t.s.link("/verify-email", token), TTL: humanDuration(ttl)})
}

// --- verify and resend ---

type tokenInput struct {
	Token string `json:"token"`
}

func (s *Server) handleVerifyEmail(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var in tokenInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	v, err := s.verifyEmail(r.Context(), in.Token)
	if err != nil {
		return err
	}
	msg := "Your email address is verified. You can log in now."
	if v.PasswordRequired {
		msg = "Your email address is verified. Please choose a password to finish."
	}
	writeJSON(w, http.StatusOK, msg, v)
	return nil
}

// verified is the answer of a verification: the profile and, when no
// password could be trusted, the token to choose one with.
type verified struct {
	*profile
	PasswordRequired bool   `json:"password_required,omitempty"`
	SetPasswordToken string `json:"set_password_token,omitempty"`
}

// verifyEmail spends a verification token and activates its account with
// the password the token carries. A token without one (the address was
// registered more than once) sets none: the answer carries a reset token
// instead, so only the mailbox owner chooses the password. An account
// already verified, deactivated or frozen is not verified again.
func (s *Server) verifyEmail(ctx context.Context, token string) (*verified, error) {
	var v *verified
	c := clientOf(ctx)
	setPassword := newSecret()
	err := s.update(ctx, func(t *txn) error {
		tok, err := t.SpendToken(store.TokenVerifyEmail, strings.TrimSpace(token), t.now)
		if err != nil {
			return err
		}
		u, err := t.User(tok.UserID)
		if err != nil || u.EmailVerified || !u.Active || u.Frozen {
			return store.ErrTokenInvalid
		}
		u.EmailVerified = true
		u.PasswordHash = tok.PasswordHash
		u.UpdatedAt = t.now
		if err := t.PutUser(u); err != nil {
			return err
		}
		if err := t.emitUser(evUserVerified, u); err != nil {
			return err
		}
		v = &verified{profile: profileOf(u)}
		if tok.PasswordHash == "" {
			ttl := s.cfg.TokenTTL.Reset
			if err := t.IssueToken(setPassword, &store.Token{Kind: store.TokenPasswordReset, UserID: u.ID, CreatedAt: t.now, ExpiresAt: t.now.Add(ttl)}); err != nil {
				return err
			}
			v.PasswordRequired, v.SetPasswordToken = true, setPassword
			return t.audit("email_verified", u, "", c, map[string]string{"password": "required"})
		}
		return t.audit("email_verified", u, "", c, nil)
	})
	return v, err
}

type emailInput struct {
	Email string `json:"email"`
}

func (s *Server) handleResendVerification(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var in emailInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	return answer(w, http.StatusOK, "If an account with this address is waiting for verification, a new link is on its way.", nil, s.resendVerification(r.Context(), in.Email))
}

// resendVerification mails a fresh link to an unverified account; for any
// other address it does the same amount of work and sends nothing.
func (s *Server) resendVerification(ctx context.Context, raw string) error {
	unverified := func(u *store.User) bool { return !u.EmailVerified && u.Active && !u.Frozen }
	return s.mailAccountLink(ctx, raw, "verification_resend_requested", unverified, func(t *txn, u *store.User, token string, _ client) error {
		// The new link stands for the same registration as the last one:
		// its password, or none if there was more than one.
		hash, err := t.PendingRegistration(u.ID)
		if err != nil {
			return err
		}
		return t.issueVerification(u, token, hash, true)
	})
}

// mailAccountLink is the shape of the flows that mail a link to whoever
// owns an address, answering the same whatever the address: send runs,
// in the transaction, for an account that wants and may get the mail,
// with a new token for its link; every outcome is one event, whose
// detail says which.
func (s *Server) mailAccountLink(ctx context.Context, raw, event string, wanted func(u *store.User) bool, send func(t *txn, u *store.User, token string, c client) error) error {
	email, msg := normalizeEmail(raw)
	if msg != "" {
		return fieldError("email", msg)
	}
	token := newSecret()
	c := clientOf(ctx)
	mailOK := s.mailAllowed(email)
	return s.update(ctx, func(t *txn) error {
		u, err := t.UserByEmail(email)
		if errors.Is(err, store.ErrNotFound) {
			return t.audit(event, nil, email, c, map[string]string{"account": "none"})
		}
		if err != nil {
			return err
		}
		if !wanted(u) {
			return t.audit(event, u, "", c, map[string]string{"sent": "no"})
		}
		if !mailOK {
			return t.audit(event, u, "", c, mailCapped())
		}
		if err := send(t, u, token, c); err != nil {
			return err
		}
		return t.audit(event, u, "", c, map[string]string{"sent": "yes"})
	})
}

// --- login and logout ---

type loginInput struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// Session is where the session goes: "cookie" (the default, for
	// browsers) or "token" (answered as data.session_token, for apps).
	Session string `json:"session"`
}

// wantsToken reports whether the login answers a bearer token instead of
// setting the cookie.
func (in loginInput) wantsToken() bool { return in.Session == "token" }

// loggedIn is the answer of a login: the profile, and for a token login
// the session token beside its fields.
type loggedIn struct {
	*profile
	SessionToken string `json:"session_token,omitempty"`
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var in loginInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	out, cookie, err := s.login(r.Context(), in)
	msg := "You are logged in."
	if _, pending := out.(*mfaPending); pending {
		msg = msgMFAPending
	}
	return answerLoggedIn(w, msg, out, cookie, err)
}

// answerLoggedIn writes the answer of a login step, as answer does: never
// cached, with the session cookie when one was opened.
func answerLoggedIn(w http.ResponseWriter, msg string, out any, cookie *http.Cookie, err error) error {
	if err != nil {
		return err
	}
	if li, ok := out.(*loggedIn); ok && li.profile != nil {
		setAccountLanguage(w, li.Language)
	}
	if cookie != nil {
		http.SetCookie(w, cookie)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, msg, out)
	return nil
}

// login checks a password and opens a new session: a cookie to set, or
// (in.Session "token") no cookie and the token in the answer. Unknown
// emails, wrong passwords and deactivated accounts fail alike, each after
// one hash. An account with a second factor gets no session yet: the
// answer is an *mfaPending whose token /login/mfa takes (mfa.go).
func (s *Server) login(ctx context.Context, in loginInput) (any, *http.Cookie, error) {
	if err := in.check(); err != nil {
		return nil, nil, err
	}
	email := store.NormalizeEmail(in.Email)
	// Every attempt takes a slot of the per-account failure budget before
	// the hash, so parallel guesses cannot all get through; a right
	// password gives it back.
	if ok, retry := s.limits.loginFailures.Allow(email, s.now()); !ok {
		return nil, nil, rateLimited(retry)
	}
	u, factors, rehash, err := s.checkLoginPassword(ctx, email, in.Password)
	if err != nil {
		return nil, nil, err
	}
	if err := loginRefusal(u); err != nil {
		return nil, nil, err
	}
	newHash := ""
	if rehash {
		if newHash, err = s.hasher.Hash(ctx, in.Password); err != nil {
			newHash = "" // keep the old hash; the next login tries again
		}
	}
	if factors != nil {
		pending, err := s.beginMFALogin(ctx, u, factors, newHash, in.wantsToken())
		return pending, nil, err
	}
	secret := newSessionSecret()
	u, sess, err := s.openSession(ctx, u, newHash, secret, passwordSignIn(in.wantsToken()))
	if err != nil {
		return nil, nil, err
	}
	return s.loggedInAnswer(u, sess, secret)
}

// loggedInAnswer is the answer of a login that opened sess under secret:
// the token in the body for an app, else the cookie to set.
func (s *Server) loggedInAnswer(u *store.User, sess *store.Session, secret string) (*loggedIn, *http.Cookie, error) {
	if sess.Token {
		return &loggedIn{profile: profileOf(u), SessionToken: secret}, nil, nil
	}
	cookie, err := s.sessionCookie(secret, s.absoluteTimeout(sess.Staff))
	if err != nil {
		return nil, nil, err
	}
	return &loggedIn{profile: profileOf(u)}, cookie, nil
}

// check refuses a login body that cannot be anyone's.
func (in loginInput) check() error {
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
	if in.Session != "" && in.Session != "cookie" && in.Session != "token" {
		errs.add("session", `Must be "cookie" or "token".`)
	}
	return errs.err()
}

// checkLoginPassword verifies password for email with exactly one hash
// whatever the account's state (a dummy one for an unknown email), audits a
// failure and answers it errBadCredentials, and gives the failure budget
// back for a right password. The password of an unverified account is the
// one its pending registration carries. factors are the account's second
// factors (secondFactors), read in the same transaction as the account.
func (s *Server) checkLoginPassword(ctx context.Context, email, pw string) (u *store.User, factors []string, rehash bool, err error) {
	var hash string
	err = s.db.View(func(tx *store.Tx) error {
		var err error
		if u, err = tx.UserByEmail(email); err != nil {
			return err
		}
		factors = secondFactors(tx, u.ID)
		hash = u.PasswordHash
		if !u.EmailVerified {
			pending, err := tx.PendingRegistration(u.ID)
			if err != nil {
				return err
			}
			if pending != "" {
				hash = pending
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, false, err
	}
	var ok bool
	if u == nil {
		err = s.hasher.VerifyDummy(ctx, pw)
	} else {
		ok, rehash, err = s.hasher.Verify(ctx, hash, pw)
	}
	if err != nil {
		s.limits.loginFailures.Refund(email)
		return nil, nil, false, err
	}
	if !ok || !u.Active {
		c := clientOf(ctx)
		if err := s.update(ctx, func(t *txn) error { return t.audit("login_failed", u, email, c, nil) }); err != nil {
			return nil, nil, false, err
		}
		return nil, nil, false, errBadCredentials
	}
	s.limits.loginFailures.Refund(email)
	return u, factors, rehash, nil
}

// loginRefusal is why the right password opens no session, if it does not.
func loginRefusal(u *store.User) error {
	switch {
	case !u.EmailVerified:
		return &Error{Code: CodeEmailNotVerified, Message: "Please verify your email address first. We can send you a new link."}
	case u.Frozen:
		return errAccountFrozen
	case u.MustResetPassword:
		return &Error{Code: CodePasswordResetRequired, Message: "For your security, please reset your password before you log in. We will mail you a link."}
	}
	return nil
}

// openSession records a login of u (checked against the stored record,
// which may have changed since the password was verified) and creates its
// session under secret, opened as how says. newHash, when set, replaces a
// hash made with older parameters. A device not seen before gets a notice.
func (s *Server) openSession(ctx context.Context, u *store.User, newHash, secret string, how signIn) (*store.User, *store.Session, error) {
	c := clientOf(ctx)
	var sess *store.Session
	var out *store.User
	err := s.update(ctx, func(t *txn) error {
		cur, err := t.User(u.ID)
		if err != nil {
			return errBadCredentials // deleted meanwhile
		}
		if newHash != "" && cur.PasswordHash == u.PasswordHash {
			cur.PasswordHash = newHash
		} else if cur.PasswordHash != u.PasswordHash || !cur.Active || cur.Frozen {
			return errBadCredentials // changed meanwhile
		}
		out = cur
		sess, err = t.signIn(cur, secret, how, c)
		return err
	})
	return out, sess, err
}

// signIn records a login of cur (already checked) and opens its session
// under secret, in this transaction. A device not seen before gets a
// notice.
func (t *txn) signIn(cur *store.User, secret string, how signIn, c client) (*store.Session, error) {
	cur.LastLoginAt = t.now
	knew := len(cur.KnownDevices) > 0
	if cur.RememberDevice(deviceFingerprint(c)) && knew {
		if err := t.queueNotice("new_device", mailpkg.KindNewDevice, cur, cur.Email, "", c, mailpkg.Data{}); err != nil {
			return nil, err
		}
	}
	if err := t.PutUser(cur); err != nil {
		return nil, err
	}
	sess, err := t.s.newSession(t.Tx, cur, secret, how, c, t.now)
	if err != nil {
		return nil, err
	}
	detail := map[string]string{}
	if how.Token {
		detail["session"] = "token"
	}
	if how.AAL > 1 {
		detail["methods"] = strings.Join(how.Methods, ",")
	}
	if len(detail) == 0 {
		detail = nil
	}
	return sess, t.audit("login", cur, "", c, detail)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	kind, secret := s.credential(r)
	if err := s.logout(r.Context(), kind, secret); err != nil {
		return err
	}
	if kind == credCookie || kind == credNone {
		// A browser's logout clears what it holds; an app's (Authorization)
		// ends its own session and leaves any cookie of that browser be.
		s.clearSessionCookie(w)
		w.Header().Set("Clear-Site-Data", `"cookies", "storage"`)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, "You are logged out.", nil)
	return nil
}

// logout deletes the session the credential names at once; any other
// credential, or none, ends nothing.
func (s *Server) logout(ctx context.Context, kind credentialKind, secret string) error {
	if kind != credCookie && kind != credBearer {
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

func (s *Server) handlePasswordResetRequest(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var in emailInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	return answer(w, http.StatusOK, "If an account with this address exists, a link to reset the password is on its way.", nil, s.requestPasswordReset(r.Context(), in.Email))
}

// requestPasswordReset mails a reset link to an active account; any other
// address costs the same write and gets no mail.
func (s *Server) requestPasswordReset(ctx context.Context, raw string) error {
	open := func(u *store.User) bool { return u.Active && !u.Frozen }
	return s.mailAccountLink(ctx, raw, "password_reset_requested", open, func(t *txn, u *store.User, token string, c client) error {
		return t.mailResetLink(mailpkg.KindPasswordReset, u, token, c)
	})
}

// mailResetLink issues the password-reset token token for u and mails its
// link as kind, in this transaction.
func (t *txn) mailResetLink(kind mailpkg.Kind, u *store.User, token string, c client) error {
	ttl := t.s.cfg.TokenTTL.Reset
	if err := t.IssueToken(token, &store.Token{Kind: store.TokenPasswordReset, UserID: u.ID, CreatedAt: t.now, ExpiresAt: t.now.Add(ttl)}); err != nil {
		return err
	}
	return t.queueMail(kind, u.Email, u.ID, mailpkg.Data{FirstName: nameFor(u), Email: u.Email, Link: t.s.link("/reset-password", token), TTL: humanDuration(ttl), IP: c.IP, UserAgent: c.UserAgent})
}

type resetConfirmInput struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (s *Server) handlePasswordResetConfirm(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var in resetConfirmInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	return answer(w, http.StatusOK, "Your password has been reset. Please log in with the new password.", nil, s.confirmPasswordReset(r.Context(), in))
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
		if u, err = tx.User(tok.UserID); err == nil && (!u.Active || u.Frozen) {
			err = store.ErrTokenInvalid
		}
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return errInvalidToken
	}
	if err != nil {
		return err
	}
	if msgs := password.Check(in.Password, s.cfg.PasswordMinLength, u.Email, u.FirstName, u.LastName); len(msgs) > 0 {
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
		if err != nil || !u.Active || u.Frozen {
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
