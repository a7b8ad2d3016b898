package app

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/app/internal/password"
	mailpkg "github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

func (s *Server) handleProfileView(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	writeJSON(w, http.StatusOK, "Your profile.", profileOf(a.User))
	return nil
}

// profileChange is the part of a profile customers and staff may edit;
// nil fields were not sent.
type profileChange struct {
	FirstName   *string `json:"first_name"`
	LastName    *string `json:"last_name"`
	Phone       *string `json:"phone"`
	CompanyName *string `json:"company_name"`
	Language    *string `json:"language"` // checked by checkLanguage before check
}

// check validates the fields sent, adding faults to errs, and returns what
// applies them to a user (reporting the names of the fields it changed).
func (p *profileChange) check(errs fieldErrors, region string) func(u *store.User) []string {
	var first, last, phone, company string
	if p.FirstName != nil {
		first = cleanText(errs, "first_name", *p.FirstName, true, maxNameLength)
	}
	if p.LastName != nil {
		last = cleanText(errs, "last_name", *p.LastName, true, maxNameLength)
	}
	if p.CompanyName != nil {
		company = cleanText(errs, "company_name", *p.CompanyName, false, maxCompanyLen)
	}
	if p.Phone != nil {
		phone = normalizePhone(errs, "phone", *p.Phone, region)
	}
	return func(u *store.User) []string {
		var changed []string
		set := func(name string, sent *string, dst *string, v string) {
			if sent != nil && *dst != v {
				*dst = v
				changed = append(changed, name)
			}
		}
		set("first_name", p.FirstName, &u.FirstName, first)
		set("last_name", p.LastName, &u.LastName, last)
		set("phone", p.Phone, &u.Phone, phone)
		set("company_name", p.CompanyName, &u.CompanyName, company)
		if p.Language != nil {
			set("language", p.Language, &u.Language, *p.Language)
		}
		return changed
	}
}

// profileUpdateInput names only what a customer may change; anything else
// in the body (is_staff, email_verified, id…) is ignored, except email,
// which has its own flow and is refused here.
type profileUpdateInput struct {
	profileChange
	Email present `json:"email"`
}

// present records that a JSON field was sent at all, even as null.
type present bool

func (p *present) UnmarshalJSON([]byte) error { *p = true; return nil }

func (s *Server) handleProfileUpdate(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	var in profileUpdateInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	p, err := s.updateProfile(r.Context(), a, in)
	if err == nil {
		setAccountLanguage(w, p.Language) // "saved" in the language just chosen
	}
	return answer(w, http.StatusOK, "Your profile is saved.", p, err)
}

func (s *Server) updateProfile(ctx context.Context, a *auth, in profileUpdateInput) (*profile, error) {
	errs := fieldErrors{}
	if in.Email {
		errs.add("email", "The email address is changed through the email change flow (POST /api/v1/auth/email-change/request).")
	}
	if in.Language != nil {
		*in.Language = s.checkLanguage(errs, "language", *in.Language)
	}
	apply := in.check(errs, s.cfg.DefaultRegion)
	if err := errs.err(); err != nil {
		return nil, err
	}
	// Nothing to change: no write, no audit event, no fsync, however often
	// it is sent. a.User was read for this request.
	if preview := *a.User; len(apply(&preview)) == 0 {
		return profileOf(a.User), nil
	}
	var p *profile
	err := s.updateUser(ctx, a.User.ID, errUnauthenticated, func(t *txn, u *store.User, c client) error {
		if len(apply(u)) == 0 {
			p = profileOf(u) // changed to the same values meanwhile
			return nil
		}
		u.UpdatedAt = t.now
		if err := t.PutUser(u); err != nil {
			return err
		}
		p = profileOf(u)
		if err := t.emitUser(evUserUpdated, u); err != nil {
			return err
		}
		return t.audit("profile_updated", u, "", c, nil)
	})
	return p, err
}

// --- password change ---

type passwordChangeInput struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) handlePasswordChange(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	var in passwordChangeInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	return answer(w, http.StatusOK, "Your password is changed. Your other sessions have been logged out.", nil, s.changePassword(r.Context(), a, in))
}

// checkCurrentPassword verifies the signed-in user's password for a
// sensitive action; a wrong one is a validation error on field, and so is
// an account with no password yet, with a message that says how to set one.
func (s *Server) checkCurrentPassword(ctx context.Context, a *auth, field, pw string) error {
	if a.User.PasswordHash == "" {
		// An account made through a sign-in provider has no password until
		// the mailbox proves it wants one (docs/sign-in-providers.md).
		return fieldError(field, msgNoPasswordYet)
	}
	if pw == "" {
		return fieldError(field, "Enter your current password.")
	}
	// A stolen session must not become unlimited password guesses: the same
	// budget as login failures, per account, refunded when right.
	key := "session|" + a.User.ID.String()
	if ok, retry := s.limits.loginFailures.Allow(key, s.now()); !ok {
		return rateLimited(retry)
	}
	ok, _, err := s.hasher.Verify(ctx, a.User.PasswordHash, pw)
	if err != nil {
		s.limits.loginFailures.Refund(key)
		return err
	}
	if !ok {
		return fieldError(field, "The password is not correct.")
	}
	s.limits.loginFailures.Refund(key)
	return nil
}

// updateWithPassword runs fn in one write transaction once pw is the
// signed-in user's current password (field "password"): the shape of the
// changes that ask for it again.
func (s *Server) updateWithPassword(ctx context.Context, a *auth, pw string, fn func(t *txn, c client) error) error {
	if err := s.checkCurrentPassword(ctx, a, "password", pw); err != nil {
		return err
	}
	c := clientOf(ctx)
	return s.update(ctx, func(t *txn) error { return fn(t, c) })
}

// changePassword sets a new password after checking the current one,
// ends every other session and mails a notice.
func (s *Server) changePassword(ctx context.Context, a *auth, in passwordChangeInput) error {
	policy := password.Check(in.NewPassword, s.cfg.PasswordMinLength, a.User.Email, a.User.FirstName, a.User.LastName)
	if err := s.checkCurrentPassword(ctx, a, "current_password", in.CurrentPassword); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == CodeValidation && len(policy) > 0 {
			e = &Error{Code: CodeValidation, Message: e.Message, Fields: map[string][]string{"current_password": e.Fields["current_password"], "new_password": policy}}
			return e
		}
		return err
	}
	if len(policy) > 0 {
		return &Error{Code: CodeValidation, Message: "Please choose another password.", Fields: map[string][]string{"new_password": policy}}
	}
	hash, err := s.hasher.Hash(ctx, in.NewPassword)
	if err != nil {
		return err
	}
	return s.updateUser(ctx, a.User.ID, errUnauthenticated, func(t *txn, u *store.User, c client) error {
		u.PasswordHash = hash
		u.UpdatedAt = t.now
		if err := t.PutUser(u); err != nil {
			return err
		}
		n, err := t.DeleteUserSessions(u.ID, a.Session.Hash)
		if err != nil {
			return err
		}
		if err := t.queueNotice("password_changed", mailpkg.KindPasswordChanged, u, u.Email, "", c, mailpkg.Data{}); err != nil {
			return err
		}
		return t.audit("password_changed", u, "", c, map[string]string{"sessions_ended": strconv.Itoa(n)})
	})
}

// --- email change ---

type emailChangeInput struct {
	NewEmail string `json:"new_email"`
	Password string `json:"password"`
}

func (s *Server) handleEmailChangeRequest(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	var in emailChangeInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	return answer(w, http.StatusOK, "Check the inbox of the new address for a link to confirm the change.", nil, s.requestEmailChange(r.Context(), a, in))
}

// requestEmailChange mails a confirmation link to the new address, or, when
// the address belongs to another account, a notice to its owner; the
// answer is the same.
func (s *Server) requestEmailChange(ctx context.Context, a *auth, in emailChangeInput) error {
	newEmail, msg := normalizeEmail(in.NewEmail)
	if msg != "" {
		return fieldError("new_email", msg)
	}
	if newEmail == a.User.Email {
		return fieldError("new_email", "This is already your email address.")
	}
	if ok, retry := s.limits.emailChange.Allow(a.User.ID.String(), s.now()); !ok {
		return rateLimited(retry)
	}
	if err := s.checkCurrentPassword(ctx, a, "password", in.Password); err != nil {
		return err
	}
	token := newSecret()
	ttl := s.cfg.TokenTTL.EmailChange
	mailOK := s.mailAllowed(newEmail)
	return s.updateUser(ctx, a.User.ID, errUnauthenticated, func(t *txn, u *store.User, c client) error {
		if !mailOK {
			return t.audit("email_change_requested", u, "", c, map[string]string{"new_email": newEmail, "sent": "no", "reason": "recipient_limit"})
		}
		owner, err := t.UserByEmail(newEmail)
		if err == nil {
			if err := t.queueMail(mailpkg.KindEmailTaken, owner.Email, owner.ID, mailpkg.Data{FirstName: nameFor(owner), Email: owner.Email, NewEmail: owner.Email}); err != nil {
				return err
			}
			return t.audit("email_change_requested", u, "", c, map[string]string{"new_email": newEmail, "sent": "owner_notice"})
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := t.IssueToken(token, &store.Token{Kind: store.TokenEmailChange, UserID: u.ID, NewEmail: newEmail, CreatedAt: t.now, ExpiresAt: t.now.Add(ttl)}); err != nil {
			return err
		}
		if err := t.queueMail(mailpkg.KindEmailChangeConfirm, newEmail, u.ID, mailpkg.Data{Email: u.Email, NewEmail: newEmail, Link: s.link("/confirm-email-change", token), TTL: humanDuration(ttl)}); err != nil {
			return err
		}
		return t.audit("email_change_requested", u, "", c, map[string]string{"new_email": newEmail, "sent": "confirmation"})
	})
}

func (s *Server) handleEmailChangeConfirm(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var in tokenInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	p, err := s.confirmEmailChange(r.Context(), in.Token)
	return answer(w, http.StatusOK, "Your email address is changed.", p, err)
}

// confirmEmailChange spends the token and moves the account to the new
// address in one transaction, then notifies the old address. Reset links
// sent to the old address stop working.
func (s *Server) confirmEmailChange(ctx context.Context, token string) (*profile, error) {
	var p *profile
	c := clientOf(ctx)
	err := s.update(ctx, func(t *txn) error {
		tok, err := t.SpendToken(store.TokenEmailChange, strings.TrimSpace(token), t.now)
		if err != nil {
			return err
		}
		old, err := t.User(tok.UserID)
		if err != nil || !old.Active || old.Frozen {
			return store.ErrTokenInvalid
		}
		oldEmail := old.Email
		// ChangeEmail bumps the security stamp: links mailed to the old
		// address (a reset, say) stop working.
		u, err := t.ChangeEmail(tok.UserID, tok.NewEmail, t.now)
		if errors.Is(err, store.ErrEmailTaken) {
			return store.ErrTokenInvalid // taken meanwhile; the whole transaction rolls back
		}
		if err != nil {
			return err
		}
		if err := t.queueNotice("email_changed", mailpkg.KindEmailChanged, u, oldEmail, oldEmail, c, mailpkg.Data{NewEmail: u.Email}); err != nil {
			return err
		}
		p = profileOf(u)
		if err := t.emitUser(evUserEmailChanged, u); err != nil {
			return err
		}
		return t.audit("email_changed", u, "", c, map[string]string{"old_email": oldEmail, "new_email": u.Email})
	})
	return p, err
}
