package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" // #nosec G505 -- RFC 6238 TOTP is HMAC-SHA-1, which authenticator apps implement
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	mailpkg "github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

// Second factors: TOTP (RFC 6238) with recovery codes, and the second
// step of a login. Assurance levels (docs/security.md): a password alone
// is AAL1, a password and a code (TOTP or recovery) is AAL2.
const (
	totpPeriod   = 30 // seconds per step
	totpDigits   = 6
	totpSkew     = 1 // steps accepted either side of now
	totpKeyBytes = 20

	recoveryCodeCount = 10
	recoveryCodeLen   = 10 // base32 characters (50 random bits), shown as xxxxx-xxxxx

	mfaTokenTTL      = 5 * time.Minute
	mfaTokenAttempts = 5
)

const msgMFAPending = "Your password is right. Enter the code from your authenticator app (or a recovery code) to finish logging in."

var (
	errMFATokenInvalid = &Error{Code: CodeInvalidToken, Message: "This login step has expired or had too many wrong codes. Please log in again with your password."}
	errTOTPNotSetUp    = &Error{Code: CodeValidation, Message: "No authenticator app is set up on this account."}
	errTOTPNoPending   = &Error{Code: CodeValidation, Message: "Start the authenticator setup first (POST /api/v1/auth/mfa/totp/setup)."}
	errTOTPEnabled     = &Error{Code: CodeValidation, Message: "An authenticator app is already set up. Remove it first to set up another."}
	// errStaffMFA: MARBELLE_STAFF_MFA=required and the session has no
	// second factor (AAL1).
	errStaffMFA = &Error{Code: CodeMFARequired, Message: "Staff accounts must sign in with a second factor. Set up an authenticator app on your account's security page (Sign-in methods), then log out and log in again with its code."}
)

// recoveryAlphabet is lower-case base32 (RFC 4648), easy to read back.
const recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

var recoveryEncoding = base32.NewEncoding(recoveryAlphabet).WithPadding(base32.NoPadding)

// --- codes: parsing, checking ---

// parseTOTPCode reads a typed code: six digits, spaces allowed between.
func parseTOTPCode(field, raw string) (string, error) {
	code := strings.Join(strings.Fields(raw), "")
	if len(code) != totpDigits || strings.ContainsFunc(code, func(r rune) bool { return r < '0' || r > '9' }) {
		return "", fieldError(field, "Enter the 6-digit code from your authenticator app.")
	}
	return code, nil
}

// parseRecoveryCode reads a typed recovery code: ten letters and digits
// of its alphabet, any case, dashes and spaces ignored.
func parseRecoveryCode(field, raw string) (string, error) {
	code := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(raw))
	if len(code) != recoveryCodeLen {
		return "", fieldError(field, "Enter a recovery code as shown when it was made (xxxxx-xxxxx).")
	}
	if strings.ContainsFunc(code, func(r rune) bool { return !strings.ContainsRune(recoveryAlphabet, r) }) {
		return "", fieldError(field, "A recovery code has only the letters a–z and the digits 2–7.")
	}
	return code, nil
}

// hotp is RFC 4226's code of key at counter (dynamic truncation, 6 digits).
func hotp(key []byte, counter uint64) string {
	mac := hmac.New(sha1.New, key)
	_ = binary.Write(mac, binary.BigEndian, counter)
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1_000_000)
}

// totpStep is the RFC 6238 time step of t.
func totpStep(t time.Time) uint64 {
	return uint64(max(t.Unix(), 0)) / totpPeriod // #nosec G115 -- clamped to non-negative
}

// matchTOTP finds the step within ±totpSkew of now whose code is code,
// newer than last (a code is never accepted twice). It compares every
// candidate in constant time.
func matchTOTP(key []byte, code string, now time.Time, last uint64) (uint64, bool) {
	cur := totpStep(now)
	var found uint64
	ok := false
	for d := -totpSkew; d <= totpSkew; d++ {
		step := cur + uint64(int64(d)) // #nosec G115 -- wraps to cur-1 for d = -1, as meant
		if subtle.ConstantTimeCompare([]byte(hotp(key, step)), []byte(code)) == 1 && step > last {
			found, ok = step, true
		}
	}
	return found, ok
}

// totpKey unseals a stored secret (base32 text) into the HMAC key.
func (s *Server) totpKey(rec *store.TOTP) ([]byte, error) {
	secret, err := unseal(s.sealer, rec.UserID, rec.SealedSecret)
	if err != nil {
		return nil, err
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(string(secret)))
}

// checkTOTP checks code against u's confirmed TOTP and, when right,
// records its step, in this transaction.
func (t *txn) checkTOTP(userID uuid.UUID, code string) (bool, error) {
	rec, err := t.TOTP(userID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !rec.Confirmed {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	key, err := t.s.totpKey(rec)
	if err != nil {
		return false, err
	}
	step, ok := matchTOTP(key, code, t.now, rec.LastStep)
	if !ok {
		return false, nil
	}
	rec.LastStep = step
	return true, t.PutTOTP(rec)
}

// spendRecoveryCode uses one of u's recovery codes, in this transaction,
// and mails a notice saying how many are left.
func (t *txn) spendRecoveryCode(u *store.User, code string, c client) (bool, error) {
	left, err := t.SpendRecoveryCode(u.ID, hashRecoveryCode(code))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	change := fmt.Sprintf("A recovery code was used to sign in. %d of %d are left.", left, recoveryCodeCount)
	if err := t.signInMethodsChanged(u, "recovery_code_used", change, c, map[string]string{"left": strconv.Itoa(left)}); err != nil {
		return false, err
	}
	return true, nil
}

func hashRecoveryCode(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

// newRecoveryCodes makes recoveryCodeCount codes (shown) and their hashes
// (stored).
func newRecoveryCodes() (shown []string, hashes [][]byte) {
	for range recoveryCodeCount {
		var b [recoveryCodeLen * 5 / 8]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		code := recoveryEncoding.EncodeToString(b[:])
		shown = append(shown, code[:5]+"-"+code[5:])
		hashes = append(hashes, hashRecoveryCode(code))
	}
	return shown, hashes
}

// signInMethodsChanged audits a change of u's sign-in methods and mails
// the owner a notice with the undo link.
func (t *txn) signInMethodsChanged(u *store.User, event, change string, c client, detail map[string]string) error {
	if err := t.queueNotice("sign_in_methods_changed", mailpkg.KindSignInChanged, u, u.Email, "", c, mailpkg.Data{Changes: change}); err != nil {
		return err
	}
	return t.audit(event, u, "", c, detail)
}

// secondFactors is the one extra lookup a password login makes, in the
// transaction that reads the account: the methods that can finish the
// login, or none.
func secondFactors(tx *store.Tx, userID uuid.UUID) []string {
	var methods []string
	if tx.HasTOTP(userID) {
		methods = append(methods, "totp", "recovery_code")
	}
	if tx.HasPasskey(userID) {
		methods = append(methods, "passkey")
	}
	return methods
}

// --- enrolment ---

type codeInput struct {
	Password string `json:"password"`
	Code     string `json:"code"`
}

// totpSetup is the answer of a TOTP setup: the secret to type or scan.
type totpSetup struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
	QRSVG      string `json:"qr_svg"`
}

func (s *Server) handleTOTPSetup(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	var in passwordInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	out, err := s.setupTOTP(r.Context(), a, in.Password)
	return answer(w, http.StatusOK, "Scan the code with your authenticator app, then confirm with the code it shows.", out, err)
}

// setupTOTP makes a new secret and keeps it as a pending setup (replacing
// an older pending one) until a code confirms it.
func (s *Server) setupTOTP(ctx context.Context, a *auth, pw string) (*totpSetup, error) {
	if err := s.checkCurrentPassword(ctx, a, "password", pw); err != nil {
		return nil, err
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: s.cfg.SiteName, AccountName: a.User.Email, Period: totpPeriod,
		SecretSize: totpKeyBytes, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, err
	}
	sealed, err := seal(s.sealer, a.User.ID, []byte(key.Secret()))
	if err != nil {
		return nil, err
	}
	svg, err := qrSVG(key.URL())
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, func(t *txn) error {
		if t.HasTOTP(a.User.ID) {
			return errTOTPEnabled
		}
		return t.PutTOTP(&store.TOTP{UserID: a.User.ID, SealedSecret: sealed, CreatedAt: t.now})
	})
	if err != nil {
		return nil, err
	}
	return &totpSetup{Secret: key.Secret(), OTPAuthURL: key.URL(), QRSVG: svg}, nil
}

// recoveryCodes is the answer that shows recovery codes, once.
type recoveryCodes struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

func (s *Server) handleTOTPConfirm(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	var in codeInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	out, err := s.confirmTOTP(r.Context(), a, in.Code)
	return answer(w, http.StatusOK, "Your authenticator app is set up. Keep these recovery codes somewhere safe: they are shown only now.", out, err)
}

// confirmTOTP turns a pending setup into the account's second factor when
// code is right, and makes its recovery codes.
func (s *Server) confirmTOTP(ctx context.Context, a *auth, raw string) (*recoveryCodes, error) {
	code, err := parseTOTPCode("code", raw)
	if err != nil {
		return nil, err
	}
	shown, hashes := newRecoveryCodes()
	c := clientOf(ctx)
	err = s.update(ctx, func(t *txn) error {
		rec, err := t.TOTP(a.User.ID)
		if errors.Is(err, store.ErrNotFound) || err == nil && rec.Confirmed {
			return errTOTPNoPending
		}
		if err != nil {
			return err
		}
		key, err := s.totpKey(rec)
		if err != nil {
			return err
		}
		step, ok := matchTOTP(key, code, t.now, 0)
		if !ok {
			return fieldError("code", "This code is not right. Check that your device's clock is correct and type the newest code.")
		}
		rec.Confirmed, rec.ConfirmedAt, rec.LastStep = true, t.now, step
		if err := t.PutTOTP(rec); err != nil {
			return err
		}
		if err := t.SetRecoveryCodes(a.User.ID, hashes, t.now); err != nil {
			return err
		}
		return t.signInMethodsChanged(a.User, "totp_enabled", "An authenticator app was set up as a second factor.", c, nil)
	})
	if err != nil {
		return nil, err
	}
	return &recoveryCodes{RecoveryCodes: shown}, nil
}

func (s *Server) handleTOTPDelete(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	var in codeInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	return answer(w, http.StatusOK, "The authenticator app and its recovery codes are removed.", nil, s.removeTOTP(r.Context(), a, in))
}

// removeTOTP removes the second factor after the password and a code
// (from the app, or a recovery code for a lost device).
func (s *Server) removeTOTP(ctx context.Context, a *auth, in codeInput) error {
	code, recovery, err := parseAnyCode("code", in.Code)
	if err != nil {
		return err
	}
	return s.updateWithPassword(ctx, a, in.Password, func(t *txn, c client) error {
		if !t.HasTOTP(a.User.ID) {
			return errTOTPNotSetUp
		}
		var ok bool
		var err error
		if recovery {
			ok, err = t.spendRecoveryCode(a.User, code, c)
		} else {
			ok, err = t.checkTOTP(a.User.ID, code)
		}
		if err != nil {
			return err
		}
		if !ok {
			return fieldError("code", "This code is not right.")
		}
		if err := t.DeleteTOTP(a.User.ID); err != nil {
			return err
		}
		return t.signInMethodsChanged(a.User, "totp_disabled", "The authenticator app and the recovery codes were removed.", c, nil)
	})
}

// parseAnyCode reads a field that takes an app's code or a recovery code.
func parseAnyCode(field, raw string) (code string, recovery bool, err error) {
	if code, err := parseTOTPCode(field, raw); err == nil {
		return code, false, nil
	}
	if code, err := parseRecoveryCode(field, raw); err == nil {
		return code, true, nil
	}
	return "", false, fieldError(field, "Enter the 6-digit code from your authenticator app, or a recovery code.")
}

func (s *Server) handleRecoveryCodesRegenerate(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	var in passwordInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	out, err := s.regenerateRecoveryCodes(r.Context(), a, in.Password)
	return answer(w, http.StatusOK, "Here are your new recovery codes; the old ones no longer work. They are shown only now.", out, err)
}

func (s *Server) regenerateRecoveryCodes(ctx context.Context, a *auth, pw string) (*recoveryCodes, error) {
	shown, hashes := newRecoveryCodes()
	err := s.updateWithPassword(ctx, a, pw, func(t *txn, c client) error {
		if !t.HasTOTP(a.User.ID) {
			return errTOTPNotSetUp
		}
		if err := t.SetRecoveryCodes(a.User.ID, hashes, t.now); err != nil {
			return err
		}
		return t.signInMethodsChanged(a.User, "recovery_codes_regenerated", "New recovery codes were made; the old ones no longer work.", c, nil)
	})
	if err != nil {
		return nil, err
	}
	return &recoveryCodes{RecoveryCodes: shown}, nil
}

// mfaStatus is the answer of GET /mfa: which second factors the account
// has (never a secret).
type mfaStatus struct {
	TOTP              bool          `json:"totp"`
	TOTPEnabledAt     *time.Time    `json:"totp_enabled_at"`
	RecoveryCodesLeft int           `json:"recovery_codes_left"`
	Passkeys          []passkeyView `json:"passkeys"`
}

// mfaStatusOf reads u's second factors in tx.
func mfaStatusOf(tx *store.Tx, userID uuid.UUID) (*mfaStatus, error) {
	out := &mfaStatus{}
	var err error
	if out.Passkeys, err = passkeyViews(tx, userID); err != nil {
		return nil, err
	}
	rec, err := tx.TOTP(userID)
	if errors.Is(err, store.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	if rec.Confirmed {
		at := rec.ConfirmedAt.UTC()
		out.TOTP, out.TOTPEnabledAt = true, &at
		out.RecoveryCodesLeft = tx.RecoveryCodesLeft(userID)
	}
	return out, nil
}

func (s *Server) handleMFAStatus(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	var out *mfaStatus
	err := s.db.View(func(tx *store.Tx) error {
		var err error
		out, err = mfaStatusOf(tx, a.User.ID)
		return err
	})
	return answer(w, http.StatusOK, "Your sign-in methods.", out, err)
}

func (s *Server) handleAdminMFAReset(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	return answer(w, http.StatusOK, "The account's second factors are removed; its owner logs in with the password and may set up a new one.", nil, s.adminResetMFA(r.Context(), act, id))
}

// adminResetMFA removes a user's second factors for someone who lost
// them, audited with the staff member's name and mailed to the owner.
// Staff reset their own on the security page, with their password.
func (s *Server) adminResetMFA(ctx context.Context, act actor, id uuid.UUID) error {
	if act.is(id) {
		return &Error{Code: CodeForbidden, Message: "Change your own sign-in methods on your security page."}
	}
	return s.updateUser(ctx, id, nil, func(t *txn, u *store.User, c client) error {
		if !t.HasSecondFactor(id) {
			return &Error{Code: CodeValidation, Message: "This account has no second factor to reset."}
		}
		if err := t.DeleteSecondFactors(id); err != nil {
			return err
		}
		return t.signInMethodsChanged(u, "mfa_reset_by_staff", "The shop's staff removed your second factors (authenticator app, recovery codes and passkeys) at your request.", c, actorDetail(act, nil))
	})
}
