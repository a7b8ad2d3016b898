package app

import (
	"context"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/store"
)

// mfaPending is the answer of a right password on an account with a
// second factor: no session yet, a token for the second step.
type mfaPending struct {
	MFARequired bool     `json:"mfa_required"`
	Methods     []string `json:"methods"`
	MFAToken    string   `json:"mfa_token"`
}

// beginMFALogin issues the mfa token of a login whose password was right;
// methods are the ones that can finish it (a passkey login finishes it
// on its own, without the token).
// newHash (a rehash of the password, or "") rides on the token and is
// stored when the second step succeeds; so does where the session goes.
func (s *Server) beginMFALogin(ctx context.Context, u *store.User, methods []string, newHash string, token bool) (*mfaPending, error) {
	raw := newSecret()
	where := "cookie"
	if token {
		where = "token"
	}
	c := clientOf(ctx)
	err := s.update(ctx, func(t *txn) error {
		return t.beginSecondStep(u, raw, where, "password", newHash, c)
	})
	if err != nil {
		return nil, err
	}
	return &mfaPending{MFARequired: true, Methods: methods, MFAToken: raw}, nil
}

// beginSecondStep issues the mfa token raw of a login whose first step
// (first: "password" or "oidc:<provider>") succeeded; where is "cookie"
// or "token", where the session goes. Both ride in the token's Action;
// newHash (a rehash of the password, or "") is stored when the second
// step succeeds.
func (t *txn) beginSecondStep(u *store.User, raw, where, first, newHash string, c client) error {
	tok := &store.Token{Kind: store.TokenMFA, UserID: u.ID, PasswordHash: newHash, Action: where + " " + first, CreatedAt: t.now, ExpiresAt: t.now.Add(mfaTokenTTL)}
	if err := t.IssueToken(raw, tok); err != nil {
		return err
	}
	return t.audit("login_mfa_required", u, "", c, map[string]string{"method": first})
}

type mfaLoginInput struct {
	MFAToken     string `json:"mfa_token"`
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

// check reads the input: a well-formed token and exactly one kind of code.
// It returns the code and the method it stands for.
func (in mfaLoginInput) check() (code, method string, err error) {
	errs := fieldErrors{}
	if !wellFormedToken(strings.TrimSpace(in.MFAToken)) {
		errs.add("mfa_token", "Send the mfa_token of the password step.")
	}
	switch {
	case in.Code != "" && in.RecoveryCode != "":
		errs.add("code", "Send a code or a recovery code, not both.")
	case in.Code != "":
		if code, err = parseTOTPCode("code", in.Code); err != nil {
			errs.add("code", err.(*Error).Fields["code"][0])
		}
		method = "totp"
	case in.RecoveryCode != "":
		if code, err = parseRecoveryCode("recovery_code", in.RecoveryCode); err != nil {
			errs.add("recovery_code", err.(*Error).Fields["recovery_code"][0])
		}
		method = "recovery_code"
	default:
		errs.add("code", "Enter the 6-digit code from your authenticator app, or a recovery code.")
	}
	return code, method, errs.err()
}

func (s *Server) handleLoginMFA(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var in mfaLoginInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	out, cookie, err := s.loginMFA(r.Context(), in)
	return answerLoggedIn(w, "You are logged in.", out, cookie, err)
}

// mfaAttempt is what one run of the second step's transaction found.
type mfaAttempt struct {
	user  *store.User
	sess  *store.Session
	wrong bool
	left  int
}

// loginMFA finishes a two-step login: the code is checked, and the mfa
// token spent, in the transaction that opens the session. A wrong code
// counts against the token (void after mfaTokenAttempts) and against the
// account's login-failure budget, like a wrong password.
func (s *Server) loginMFA(ctx context.Context, in mfaLoginInput) (*loggedIn, *http.Cookie, error) {
	code, method, err := in.check()
	if err != nil {
		return nil, nil, err
	}
	raw := strings.TrimSpace(in.MFAToken)
	var email string
	err = s.db.View(func(tx *store.Tx) error {
		tok, err := tx.ValidToken(store.TokenMFA, raw, s.now())
		if err != nil {
			return err
		}
		u, err := tx.User(tok.UserID)
		if err == nil {
			email = u.Email
		}
		return err
	})
	if err != nil {
		return nil, nil, errMFATokenInvalid
	}
	if ok, retry := s.limits.loginFailures.Allow(email, s.now()); !ok {
		return nil, nil, rateLimited(retry)
	}
	secret := newSessionSecret()
	c := clientOf(ctx)
	var res mfaAttempt
	err = s.update(ctx, func(t *txn) error {
		res = mfaAttempt{} // Batch may run this twice
		return t.secondStep(raw, code, method, secret, c, &res)
	})
	if err != nil {
		return nil, nil, err
	}
	if res.wrong {
		msg := "The code is not right."
		if res.left == 0 { // one whole sentence each, so the catalogue finds it
			msg = "The code is not right. This login step is now void: please log in again with your password."
		}
		return nil, nil, &Error{Code: CodeUnauthenticated, Message: msg}
	}
	s.limits.loginFailures.Refund(email)
	return s.loggedInAnswer(res.user, res.sess, secret)
}

// secondStep checks code (of method) for the mfa token raw and, when
// right, spends the token and opens the session; a wrong code is counted
// and committed (res.wrong), not returned as an error that would roll it
// back.
func (t *txn) secondStep(raw, code, method, secret string, c client, res *mfaAttempt) error {
	tok, err := t.ValidToken(store.TokenMFA, raw, t.now)
	if err != nil {
		return errMFATokenInvalid
	}
	u, err := t.User(tok.UserID)
	if err != nil || !u.Active || u.Frozen {
		return errMFATokenInvalid
	}
	var ok bool
	if method == "recovery_code" {
		ok, err = t.spendRecoveryCode(u, code, c)
	} else {
		ok, err = t.checkTOTP(u.ID, code)
	}
	if err != nil {
		return err
	}
	if !ok {
		res.wrong = true
		if res.left, err = t.FailTokenAttempt(tok, mfaTokenAttempts, t.now); err != nil {
			return err
		}
		return t.audit("login_failed", u, "", c, map[string]string{"step": "second_factor", "method": method})
	}
	if _, err := t.SpendToken(store.TokenMFA, raw, t.now); err != nil {
		return errMFATokenInvalid
	}
	if tok.PasswordHash != "" {
		u.PasswordHash = tok.PasswordHash // the rehash made at the password step
	}
	where, first, _ := strings.Cut(tok.Action, " ")
	how := signIn{Methods: []string{orDefault(first, "password"), method}, AAL: 2, Token: where == "token"}
	res.user = u
	res.sess, err = t.signIn(u, secret, how, c)
	return err
}
