package store

import (
	"bytes"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// User is one account.
type User struct {
	ID            uuid.UUID `json:"id"`
	Email         string    `json:"email"` // as normalised by NormalizeEmail
	FirstName     string    `json:"first_name"`
	LastName      string    `json:"last_name"`
	Phone         string    `json:"phone"` // E.164 or empty
	CompanyName   string    `json:"company_name"`
	PasswordHash  string    `json:"password_hash"` // PHC string; empty = no usable password
	EmailVerified bool      `json:"email_verified"`
	Active        bool      `json:"active"` // false once deactivated by staff
	Staff         bool      `json:"staff"`
	DateJoined    time.Time `json:"date_joined"`
	LastLoginAt   time.Time `json:"last_login_at,omitzero"`
	UpdatedAt     time.Time `json:"updated_at"`
	// PrimaryAddressID is the one primary address (zero when the user has
	// none): a single field, so two primaries cannot even be represented.
	PrimaryAddressID uuid.UUID `json:"primary_address_id,omitzero"`
	// AddressCount lets the 10-address limit be checked without a scan.
	AddressCount int `json:"address_count,omitempty"`
	// MustResetPassword is set when the owner said "This wasn't me": the
	// password is no longer trusted, so login waits for a reset.
	MustResetPassword bool `json:"must_reset_password,omitempty"`
	// Frozen is set when the owner said "This wasn't me" to an email change:
	// the server cannot tell the owner from an intruder there, so the
	// account waits for staff (login refused, no token works).
	Frozen bool `json:"frozen,omitempty"`
	// SecurityStamp is bumped by every change that a mailed token must not
	// outlive (password, activation, staff, email, freeze, a second factor);
	// a token carries the stamp it was issued under and dies with it.
	SecurityStamp uint64 `json:"security_stamp,omitempty"`
	// KnownDevices are fingerprints of the devices (ip + browser family)
	// the user signed in from, newest first, at most MaxKnownDevices.
	KnownDevices []string `json:"known_devices,omitempty"`
	// Language is the account's language ("en", "de", …: a catalogue's
	// name), in which its mail is written; "" until chosen (accounts made
	// before schema 5), when the request's Accept-Language decides.
	Language string `json:"language,omitempty"`
}

// MaxKnownDevices bounds User.KnownDevices.
const MaxKnownDevices = 10

// RememberDevice puts device first in the user's known devices and says
// whether it was new. The list keeps at most MaxKnownDevices.
func (u *User) RememberDevice(device string) bool {
	for i, d := range u.KnownDevices {
		if d == device {
			copy(u.KnownDevices[1:i+1], u.KnownDevices[:i])
			u.KnownDevices[0] = device
			return false
		}
	}
	u.KnownDevices = append([]string{device}, u.KnownDevices...)
	if len(u.KnownDevices) > MaxKnownDevices {
		u.KnownDevices = u.KnownDevices[:MaxKnownDevices]
	}
	return true
}

// User returns the user with id. Errors: ErrNotFound.
func (tx *Tx) User(id uuid.UUID) (*User, error) {
	v := tx.bucket(bucketUsers).Get(id[:])
	if v == nil {
		return nil, ErrNotFound
	}
	var u User
	if err := decodeUser(v, &u); err != nil {
		return nil, fmt.Errorf("store: decode user %s: %w", id, err)
	}
	return &u, nil
}

// putUser writes u's record (its indexes are the caller's business).
func (tx *Tx) putUser(u *User) error {
	return tx.bucket(bucketUsers).Put(u.ID[:], encodeUser(u))
}

// UserByEmail finds a user by email (normalised first). Errors: ErrNotFound.
func (tx *Tx) UserByEmail(email string) (*User, error) {
	id := tx.bucket(bucketUsersByEmail).Get([]byte(NormalizeEmail(email)))
	if id == nil {
		return nil, ErrNotFound
	}
	uid, ok := idFromBytes(id)
	if !ok {
		return nil, ErrNotFound
	}
	return tx.User(uid)
}

// CreateUser stores a new user and its email index entry. u.Email is
// normalised. Errors: ErrEmailTaken.
func (tx *Tx) CreateUser(u *User) error {
	u.Email = NormalizeEmail(u.Email)
	idx := tx.bucket(bucketUsersByEmail)
	if idx.Get([]byte(u.Email)) != nil {
		return ErrEmailTaken
	}
	if err := idx.Put([]byte(u.Email), u.ID[:]); err != nil {
		return err
	}
	if err := tx.countUser(nil, u); err != nil {
		return err
	}
	if err := tx.countSignup(u.DateJoined); err != nil {
		return err
	}
	return tx.putUser(u)
}

// countUser moves the user counters from old (nil: none) to new (nil:
// deleted). It refuses (ErrLastStaff) a change that would leave a store
// that has active staff with none: checked here, inside the writing
// transaction, so two staff removing each other at once cannot both win.
func (tx *Tx) countUser(old, new *User) error {
	delta := func(u *User) (users, verified, staff int) {
		if u == nil {
			return 0, 0, 0
		}
		if u.Staff && u.Active {
			staff = 1
		}
		if u.EmailVerified {
			return 1, 1, staff
		}
		return 1, 0, staff
	}
	ou, ov, os := delta(old)
	nu, nv, ns := delta(new)
	if ns != os {
		if err := tx.countActiveStaff(ns - os); err != nil {
			return err
		}
	}
	if nu != ou {
		if err := tx.addCounter(keyUserCount, nu-ou); err != nil {
			return err
		}
	}
	if nv != ov {
		return tx.addCounter(keyVerifiedCount, nv-ov)
	}
	return nil
}

// countActiveStaff moves the active-staff counter by delta.
func (tx *Tx) countActiveStaff(delta int) error {
	n := tx.ActiveStaff()
	if n > 0 && n+delta <= 0 {
		return ErrLastStaff
	}
	return tx.setCounter(keyActiveStaffCount, n+delta)
}

// ActiveStaff returns the number of active staff accounts.
func (tx *Tx) ActiveStaff() int { return tx.counter(keyActiveStaffCount) }

// countStaff (migration 3 → 4) sets the active-staff counter from the
// records, which that migration has just rewritten in today's form.
func countStaff(tx *Tx) error {
	n := 0
	err := tx.bucket(bucketUsers).ForEach(func(k, v []byte) error {
		var u User
		if err := decodeUser(v, &u); err != nil {
			return fmt.Errorf("store: decode user %x: %w", k, err)
		}
		if u.Staff && u.Active {
			n++
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.setCounter(keyActiveStaffCount, n)
}

// RevokeTokens makes every mailed token of u issued so far unusable (undo
// links excepted) once u is written: for a security event that changes no
// field PutUser watches.
func (u *User) RevokeTokens() { u.SecurityStamp++ }

// securityChanged reports whether a change from old to u is one that no
// outstanding token may survive.
func securityChanged(old, u *User) bool {
	return old.PasswordHash != u.PasswordHash || old.Active != u.Active || old.Staff != u.Staff ||
		old.EmailVerified != u.EmailVerified || old.MustResetPassword != u.MustResetPassword ||
		old.Frozen != u.Frozen || old.Email != u.Email
}

// stampFrom carries the security stamp over from old and bumps it when the
// change is security-relevant, so no flow has to remember to.
func (u *User) stampFrom(old *User) {
	if u.SecurityStamp < old.SecurityStamp {
		u.SecurityStamp = old.SecurityStamp
	}
	if u.SecurityStamp == old.SecurityStamp && securityChanged(old, u) {
		u.SecurityStamp++
	}
}

// PutUser writes changes to an existing user other than its email (use
// ChangeEmail for that). A change to the password, activation, staff role,
// verification or freeze voids the user's outstanding tokens (see
// SecurityStamp). Errors: ErrNotFound, ErrLastStaff.
func (tx *Tx) PutUser(u *User) error {
	old, err := tx.User(u.ID)
	if err != nil {
		return err
	}
	u.Email = old.Email
	u.stampFrom(old)
	if err := tx.countUser(old, u); err != nil {
		return err
	}
	return tx.putUser(u)
}

// ChangeEmail moves a user to a new email, index included.
// Errors: ErrNotFound, ErrEmailTaken (by another user).
func (tx *Tx) ChangeEmail(id uuid.UUID, email string, at time.Time) (*User, error) {
	u, err := tx.User(id)
	if err != nil {
		return nil, err
	}
	email = NormalizeEmail(email)
	idx := tx.bucket(bucketUsersByEmail)
	if owner := idx.Get([]byte(email)); owner != nil {
		if !bytes.Equal(owner, id[:]) {
			return nil, ErrEmailTaken
		}
		return u, nil
	}
	if err := idx.Delete([]byte(u.Email)); err != nil {
		return nil, err
	}
	if err := idx.Put([]byte(email), id[:]); err != nil {
		return nil, err
	}
	u.Email = email
	u.UpdatedAt = at
	u.RevokeTokens() // links mailed to the old address die with it
	return u, tx.putUser(u)
}

// DeleteUser removes a user with its email index entry, sessions, tokens,
// addresses and outbox entries. Audit events stay (they are the history).
// Errors: ErrNotFound, ErrLastStaff.
func (tx *Tx) DeleteUser(id uuid.UUID) error {
	u, err := tx.User(id)
	if err != nil {
		return err
	}
	if _, err := tx.DeleteUserSessions(id, nil); err != nil {
		return err
	}
	if err := tx.deleteUserTokens(id); err != nil {
		return err
	}
	if err := tx.deleteUserAddresses(id); err != nil {
		return err
	}
	if err := tx.UnlinkAllIdentities(id); err != nil {
		return err
	}
	if err := tx.deleteUserMail(id); err != nil {
		return err
	}
	if err := tx.deleteUserMFA(id); err != nil {
		return err
	}
	if err := tx.bucket(bucketUsersByEmail).Delete([]byte(u.Email)); err != nil {
		return err
	}
	if err := tx.countUser(u, nil); err != nil {
		return err
	}
	return tx.bucket(bucketUsers).Delete(id[:])
}

// countPrefix counts the keys of a bucket that start with prefix, reading
// keys only.
func countPrefix(tx *Tx, name, prefix []byte) int {
	n := 0
	c := tx.bucket(name).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n
}

// deletePrefix removes every key of b that starts with prefix and returns them.
func deletePrefix(tx *Tx, name, prefix []byte) ([][]byte, error) {
	b := tx.bucket(name)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return nil, err
		}
	}
	return keys, nil
}
