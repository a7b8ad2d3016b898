package app

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/marbelle/marbelle/app/internal/password"
	"github.com/marbelle/marbelle/store"
)

// Error codes of the contract. Each maps to exactly one status in codeStatus.
const (
	CodeValidation       = "validation_error"
	CodeInvalidToken     = "invalid_token"
	CodeUnauthenticated  = "unauthenticated"
	CodeEmailNotVerified = "email_not_verified"
	// CodePasswordResetRequired: right password, but the owner said "This
	// wasn't me" since; login waits for a reset (added to the contract).
	CodePasswordResetRequired = "password_reset_required"
	// CodeAccountFrozen: right password, but the owner undid an email
	// change; staff must restore the account (added to the contract).
	CodeAccountFrozen    = "account_frozen"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeTooLarge         = "payload_too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeRateLimited      = "rate_limited"
	CodeUnavailable      = "unavailable" // the password hasher's queue is full
	CodeInternal         = "internal"
	// CodeSMTPError: the admin test mail (#21) was refused by the
	// configured SMTP server, or it could not be reached; the message
	// carries the server's answer.
	CodeSMTPError = "smtp_error"
	// CodeMFARequired: staff without a second factor in this session
	// (MARBELLE_STAFF_MFA=required); they may still enrol one (mfa.go).
	CodeMFARequired = "mfa_required"
)

var codeStatus = map[string]int{
	CodeValidation:            http.StatusBadRequest,
	CodeInvalidToken:          http.StatusBadRequest,
	CodeUnauthenticated:       http.StatusUnauthorized,
	CodeEmailNotVerified:      http.StatusForbidden,
	CodePasswordResetRequired: http.StatusForbidden,
	CodeAccountFrozen:         http.StatusForbidden,
	CodeForbidden:             http.StatusForbidden,
	CodeNotFound:              http.StatusNotFound,
	CodeMethodNotAllowed:      http.StatusMethodNotAllowed,
	CodeTooLarge:              http.StatusRequestEntityTooLarge,
	CodeUnsupportedMedia:      http.StatusUnsupportedMediaType,
	CodeRateLimited:           http.StatusTooManyRequests,
	CodeUnavailable:           http.StatusServiceUnavailable,
	CodeInternal:              http.StatusInternalServerError,
	CodeSMTPError:             http.StatusBadGateway,
	CodeMFARequired:           http.StatusForbidden,
}

// Error is an answer the client may see: a code, a message and, where
// fields are at fault, a message list per field.
type Error struct {
	Code       string
	Message    string
	Fields     map[string][]string
	RetryAfter time.Duration // sent as Retry-After when set
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Status is the HTTP status of e's code.
func (e *Error) Status() int {
	if s, ok := codeStatus[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

func errorf(code, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// fieldError is a validation error on one field.
func fieldError(field, msg string) *Error {
	return &Error{Code: CodeValidation, Message: "Please correct the highlighted fields.", Fields: map[string][]string{field: {msg}}}
}

// fieldErrors collects validation messages per field.
type fieldErrors map[string][]string

func (f fieldErrors) add(field, msg string) { f[field] = append(f[field], msg) }

// err is nil when nothing was added.
func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Code: CodeValidation, Message: "Please correct the highlighted fields.", Fields: f}
}

var (
	errUnauthenticated = &Error{Code: CodeUnauthenticated, Message: "Please log in."}
	errBadCredentials  = &Error{Code: CodeUnauthenticated, Message: "The email or password is not correct."}
	errInvalidToken    = &Error{Code: CodeInvalidToken, Message: "This link is invalid or has expired. Please request a new one."}
	errNotFound        = &Error{Code: CodeNotFound, Message: "Not found."}
	errForbidden       = &Error{Code: CodeForbidden, Message: "You are not allowed to do this."}
	// errStaffOnly and errSecondFactorNeeded: forward auth's refusals of a
	// valid session (?staff=1, ?aal=2).
	errStaffOnly          = &Error{Code: CodeForbidden, Message: "This page is for staff only."}
	errSecondFactorNeeded = &Error{Code: CodeForbidden, Message: "This page needs a sign-in with a second factor."}
	errAccountFrozen      = &Error{Code: CodeAccountFrozen, Message: "This account is locked for your protection after a \"This wasn't me\" report. Please contact the shop to restore it."}
	// errBackupRunning: each backup takes a copy of the store in the data
	// dir, so only one runs at a time.
	errBackupRunning = &Error{Code: CodeRateLimited, Message: "A backup is already being downloaded, and only one runs at a time. Please try again in a minute.", RetryAfter: time.Minute}
	// API keys (apikey.go). No message ever quotes the key sent.
	errNoAPIKey     = &Error{Code: CodeUnauthenticated, Message: "Send an API key: Authorization: Bearer mbk_…"}
	errBadAPIKey    = &Error{Code: CodeUnauthenticated, Message: "This API key is not valid: it is unknown, revoked or expired."}
	errKeyStaffOnly = &Error{Code: CodeForbidden, Message: "API keys cannot call this route: it is for signed-in staff only."}
	// errKeyStaffAccount: a service changes customers, never staff
	// accounts nor who is staff (admin.go).
	errKeyStaffAccount = &Error{Code: CodeForbidden, Message: "API keys cannot change staff accounts or staff access: a staff member must do it."}
)

// errMissingScope refuses a key that lacks scope.
func errMissingScope(scope string) *Error {
	return &Error{Code: CodeForbidden, Message: "This API key does not hold the scope " + scope + "."}
}

func rateLimited(retry time.Duration) *Error {
	secs := int((retry + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &Error{Code: CodeRateLimited, Message: "Too many requests. Please try again in " + strconv.Itoa(secs) + " seconds.", RetryAfter: time.Duration(secs) * time.Second}
}

// asError turns any error into the one the client sees; ok is false for
// errors that are internal (they are logged, and answered 500).
func asError(err error) (*Error, bool) {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e, true
	case errors.Is(err, store.ErrTokenInvalid):
		return errInvalidToken, true
	case errors.Is(err, store.ErrNotFound):
		return errNotFound, true
	case errors.Is(err, store.ErrLastStaff):
		return &Error{Code: CodeValidation, Message: "This is the last active staff account: make another account staff first."}, true
	case errors.Is(err, password.ErrBusy):
		return &Error{Code: CodeUnavailable, Message: "The server is busy. Please try again in a moment.", RetryAfter: time.Second}, true
	}
	return &Error{Code: CodeInternal, Message: "Something went wrong on our side. Please try again later."}, false
}
