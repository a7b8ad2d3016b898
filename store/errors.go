package store

import "errors"

var (
	// ErrNotFound: the record does not exist (or is not the caller's).
	ErrNotFound = errors.New("store: not found")
	// ErrLastStaff: the change would leave no active staff account.
	ErrLastStaff = errors.New("store: the last active staff account cannot be removed")
	// ErrEmailTaken: another user already has this email.
	ErrEmailTaken = errors.New("store: email taken")
	// ErrTokenInvalid: the token is unknown, of another kind, spent, voided,
	// expired, or its user no longer exists.
	ErrTokenInvalid = errors.New("store: token invalid")
	// ErrInUse: another process holds the store file.
	ErrInUse = errors.New("store is in use by another process (is a server running on this data dir?)")
	// ErrSchemaTooNew: the file was written by a newer Marbelle.
	ErrSchemaTooNew = errors.New("store: schema is newer than this binary")
	// ErrNotRequeueable: only a failed mail can be queued again.
	ErrNotRequeueable = errors.New("store: only failed mail can be retried")
	// ErrAddressLimit: the user already has the maximum number of addresses.
	ErrAddressLimit = errors.New("store: address limit reached")
)
