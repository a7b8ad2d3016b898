package store

import (
	"errors"
	"fmt"
)

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
	// ErrSchemaTooNew: the file was written by a newer Marbelle. Open
	// returns it as a *SchemaTooNewError, which names both versions.
	ErrSchemaTooNew = errors.New("store: schema is newer than this binary")
	// ErrNotRequeueable: only a failed mail can be queued again.
	ErrNotRequeueable = errors.New("store: only failed mail can be retried")
	// ErrAddressLimit: the user already has the maximum number of addresses.
	ErrAddressLimit = errors.New("store: address limit reached")

	// ErrIdentityLinked: this provider identity is linked to an account already.
	ErrIdentityLinked = errors.New("store: identity linked already")
)

// SchemaTooNewError: the file's schema version is newer than this binary
// reads. It is ErrSchemaTooNew to errors.Is. Its message is what an
// operator who started an older binary reads, so it says what to do.
type SchemaTooNewError struct {
	File, Binary uint64 // the file's version; the newest this binary reads
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("store: the store was written by schema version %d; this binary reads up to %d: upgrade marbelle", e.File, e.Binary)
}

// Is makes errors.Is(err, ErrSchemaTooNew) hold.
func (e *SchemaTooNewError) Is(target error) bool { return target == ErrSchemaTooNew }
