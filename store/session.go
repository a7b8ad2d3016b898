package store

import (
	"bytes"
	"fmt"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// Session is a server-side login. It is keyed by the SHA-256 of the secret
// held in the cookie; the secret itself is never stored.
type Session struct {
	ID         uuid.UUID `json:"id"` // public id, shown in the sessions list
	UserID     uuid.UUID `json:"user_id"`
	Staff      bool      `json:"staff"` // staff lifetimes applied
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"` // absolute end
	IdleUntil  time.Time `json:"idle_until"` // LastSeenAt + idle timeout
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Hash       []byte    `json:"hash"` // SHA-256 of the secret, for the indexes
	// Token: the secret went to an app as a bearer token, not into a
	// cookie. Either way it is the same kind of session.
	Token bool `json:"token"`
	// Methods are how the user proved who they are when the session was
	// opened, in order: "password", and later "totp", "passkey",
	// "recovery_code" or "oidc:<provider>" (at most MaxSessionMethods).
	Methods []string `json:"methods"`
	// AAL is the NIST SP 800-63B assurance level those methods reach: 1
	// for a password alone, 2 with a second factor.
	AAL int `json:"aal"`
}

// MaxSessionMethods bounds a session's list of sign-in methods.
const MaxSessionMethods = 8

// EndsAt is when the session stops being valid if not used again.
func (s *Session) EndsAt() time.Time {
	if s.IdleUntil.Before(s.ExpiresAt) {
		return s.IdleUntil
	}
	return s.ExpiresAt
}

// Valid reports whether the session is still usable at now.
func (s *Session) Valid(now time.Time) bool { return now.Before(s.EndsAt()) }

// byUserKey is s's sessions_by_user key (its value is s's hash).
func (s *Session) byUserKey() []byte { return join(s.UserID[:], s.ID[:]) }

// byExpiryKey is s's sessions_by_expiry key: when it ends, its hash.
func (s *Session) byExpiryKey() []byte { return join(timeKey(s.EndsAt()), s.Hash) }

// CreateSession stores s under the hash of secret, with its indexes.
func (tx *Tx) CreateSession(secret string, s *Session) error {
	s.Hash = HashSecret(secret)
	return tx.putSession(s)
}

func (tx *Tx) putSession(s *Session) error {
	if err := tx.putSessionRecord(s); err != nil {
		return err
	}
	return tx.bucket(bucketSessionsByUser).Put(s.byUserKey(), s.Hash)
}

// putSessionRecord writes s and its by-expiry entry (a touch changes no
// more: the by-user entry maps ids to the hash).
func (tx *Tx) putSessionRecord(s *Session) error {
	if err := tx.bucket(bucketSessions).Put(s.Hash, encodeSession(s)); err != nil {
		return err
	}
	return tx.bucket(bucketSessionsByExpiry).Put(s.byExpiryKey(), nil)
}

// SessionBySecret returns the session whose cookie secret is secret, valid
// or not. Errors: ErrNotFound.
func (tx *Tx) SessionBySecret(secret string) (*Session, error) {
	var s Session
	if err := tx.getSession(HashSecret(secret), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// TouchSession moves a session's last-seen time and idle end.
// Errors: ErrNotFound.
func (tx *Tx) TouchSession(hash []byte, seen, idleUntil time.Time) error {
	var s Session
	if err := tx.getSession(hash, &s); err != nil {
		return err
	}
	if err := tx.bucket(bucketSessionsByExpiry).Delete(s.byExpiryKey()); err != nil {
		return err
	}
	s.LastSeenAt = seen
	s.IdleUntil = idleUntil
	return tx.putSessionRecord(&s)
}

// UserSessions lists a user's sessions, oldest first.
func (tx *Tx) UserSessions(userID uuid.UUID) ([]Session, error) {
	var out []Session
	c := tx.bucket(bucketSessionsByUser).Cursor()
	sessions := tx.bucket(bucketSessions)
	for k, hash := c.Seek(userID[:]); k != nil && bytes.HasPrefix(k, userID[:]); k, hash = c.Next() {
		var s Session
		if err := getSession(sessions, hash, &s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// CountUserSessions counts a user's sessions without decoding them.
func (tx *Tx) CountUserSessions(userID uuid.UUID) int {
	return countPrefix(tx, bucketSessionsByUser, userID[:])
}

// DeleteSession removes the session with this hash, if any.
func (tx *Tx) DeleteSession(hash []byte) error {
	var s Session
	err := tx.getSession(hash, &s)
	if err == ErrNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	return tx.deleteSession(&s)
}

func (tx *Tx) deleteSession(s *Session) error {
	if err := tx.bucket(bucketSessionsByExpiry).Delete(s.byExpiryKey()); err != nil {
		return err
	}
	if err := tx.bucket(bucketSessionsByUser).Delete(s.byUserKey()); err != nil {
		return err
	}
	return tx.bucket(bucketSessions).Delete(s.Hash)
}

// DeleteUserSession removes one session of a user by its public id.
// Errors: ErrNotFound when the user has no such session.
func (tx *Tx) DeleteUserSession(userID, sessionID uuid.UUID) error {
	hash := tx.bucket(bucketSessionsByUser).Get(join(userID[:], sessionID[:]))
	if hash == nil {
		return ErrNotFound
	}
	return tx.DeleteSession(bytes.Clone(hash))
}

// DeleteUserSessions removes every session of a user except the one whose
// hash is keep (nil keeps none) and returns how many it removed.
func (tx *Tx) DeleteUserSessions(userID uuid.UUID, keep []byte) (int, error) {
	sessions, err := tx.UserSessions(userID)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range sessions {
		if keep != nil && bytes.Equal(sessions[i].Hash, keep) {
			continue
		}
		if err := tx.deleteSession(&sessions[i]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// getSession reads the session stored under hash. Errors: ErrNotFound.
func (tx *Tx) getSession(hash []byte, s *Session) error {
	return getSession(tx.bucket(bucketSessions), hash, s)
}

func getSession(sessions *bolt.Bucket, hash []byte, s *Session) error {
	v := sessions.Get(hash)
	if v == nil {
		return ErrNotFound
	}
	if err := decodeSession(v, s); err != nil {
		return fmt.Errorf("store: decode session: %w", err)
	}
	return nil
}
