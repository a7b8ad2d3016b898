package store

import (
	"bytes"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Passkeys (WebAuthn credentials) and the server-side state of WebAuthn
// ceremonies. The app keeps the library's credential record as an opaque
// JSON blob (sign counter and backup flags included); the store indexes it
// by user and by credential id.
var (
	bucketPasskeys             = []byte("passkeys")
	bucketPasskeysByCredential = []byte("passkeys_by_credential")
	bucketCeremonies           = []byte("webauthn_ceremonies")
	bucketCeremoniesByExpiry   = []byte("webauthn_ceremonies_by_expiry")
)

// Passkey is one registered WebAuthn credential of a user.
type Passkey struct {
	ID           uuid.UUID `json:"id"`
	UserID       uuid.UUID `json:"user_id"`
	Name         string    `json:"name"`
	CredentialID []byte    `json:"credential_id"`
	// Credential is the WebAuthn library's credential record (public key,
	// sign counter, flags), as the app encodes it.
	Credential []byte    `json:"credential"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// ErrPasskeyTaken: the credential id is registered already.
var ErrPasskeyTaken = errors.New("store: passkey already registered")

// PutPasskey stores p (new or changed). A credential id belongs to one
// passkey only.
func (tx *Tx) PutPasskey(p *Passkey) error {
	if _, err := tx.User(p.UserID); err != nil {
		return err
	}
	byCred := tx.bucket(bucketPasskeysByCredential)
	key := join(p.UserID[:], p.ID[:])
	if owner := byCred.Get(p.CredentialID); owner != nil && !bytes.Equal(owner, key) {
		return ErrPasskeyTaken
	}
	if err := putJSON(tx.bucket(bucketPasskeys), key, p); err != nil {
		return err
	}
	return byCred.Put(p.CredentialID, key)
}

// Passkey returns one of a user's passkeys. Errors: ErrNotFound.
func (tx *Tx) Passkey(userID, id uuid.UUID) (*Passkey, error) {
	var p Passkey
	if err := getJSON(tx.bucket(bucketPasskeys), join(userID[:], id[:]), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// PasskeyByCredential finds a passkey by its credential id. Errors:
// ErrNotFound.
func (tx *Tx) PasskeyByCredential(credentialID []byte) (*Passkey, error) {
	key := tx.bucket(bucketPasskeysByCredential).Get(credentialID)
	if len(key) != 32 {
		return nil, ErrNotFound
	}
	var p Passkey
	if err := getJSON(tx.bucket(bucketPasskeys), key, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Passkeys lists a user's passkeys, oldest first.
func (tx *Tx) Passkeys(userID uuid.UUID) ([]Passkey, error) {
	var out []Passkey
	c := tx.bucket(bucketPasskeys).Cursor()
	for k, v := c.Seek(userID[:]); k != nil && bytes.HasPrefix(k, userID[:]); k, v = c.Next() {
		var p Passkey
		if err := getJSONBytes(v, &p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// HasPasskey reports whether the user has a passkey (one cursor seek).
func (tx *Tx) HasPasskey(userID uuid.UUID) bool {
	k, _ := tx.bucket(bucketPasskeys).Cursor().Seek(userID[:])
	return k != nil && bytes.HasPrefix(k, userID[:])
}

// DeletePasskey removes one of a user's passkeys. Errors: ErrNotFound.
func (tx *Tx) DeletePasskey(userID, id uuid.UUID) error {
	p, err := tx.Passkey(userID, id)
	if err != nil {
		return err
	}
	if err := tx.bucket(bucketPasskeysByCredential).Delete(p.CredentialID); err != nil {
		return err
	}
	return tx.bucket(bucketPasskeys).Delete(join(userID[:], id[:]))
}

// deleteUserPasskeys removes every passkey of a user.
func (tx *Tx) deleteUserPasskeys(userID uuid.UUID) error {
	list, err := tx.Passkeys(userID)
	if err != nil {
		return err
	}
	for _, p := range list {
		if err := tx.DeletePasskey(userID, p.ID); err != nil {
			return err
		}
	}
	return nil
}

// Ceremony is the server-side state of a WebAuthn ceremony between its
// begin and finish, keyed by its challenge: single use, expiring.
type Ceremony struct {
	Kind      string    `json:"kind"`             // "register" or "login"
	UserID    uuid.UUID `json:"user_id,omitzero"` // register only
	Session   []byte    `json:"session"`          // the library's session data, as the app encodes it
	ExpiresAt time.Time `json:"expires_at"`
}

// ceremonies is where WebAuthn ceremonies wait between begin and finish.
func ceremonies() singleUse { return singleUse{bucketCeremonies, bucketCeremoniesByExpiry} }

// PutCeremony stores c under its challenge.
func (tx *Tx) PutCeremony(challenge string, c *Ceremony) error {
	return ceremonies().put(tx, HashSecret(challenge), c)
}

// Ceremony returns the live ceremony of challenge without ending it.
// Errors: ErrNotFound (unknown, finished or expired).
func (tx *Tx) Ceremony(challenge string, now time.Time) (*Ceremony, error) {
	var c Ceremony
	if err := getJSON(tx.bucket(bucketCeremonies), HashSecret(challenge), &c); err != nil {
		return nil, err
	}
	if !now.Before(c.ExpiresAt) {
		return nil, ErrNotFound
	}
	return &c, nil
}

// EndCeremony removes the ceremony of challenge; of two finishes of one
// ceremony, only one finds it. Errors: ErrNotFound.
func (tx *Tx) EndCeremony(challenge string) error {
	var c Ceremony
	return ceremonies().take(tx, HashSecret(challenge), &c)
}
