package store

import (
	"bytes"
	"time"

	"github.com/google/uuid"
)

// Identity is a sign-in identity at an OpenID provider linked to a user.
// It is found by (issuer, subject), the pair the OpenID Connect spec makes
// stable and unique, and never by email: an address at a provider says
// nothing about who owns the account here.
type Identity struct {
	ID        uuid.UUID `json:"id"`
	UserID    uuid.UUID `json:"user_id"`
	Provider  string    `json:"provider"` // the configured name (google, apple, …)
	Issuer    string    `json:"issuer"`
	Subject   string    `json:"subject"`
	Email     string    `json:"email,omitempty"` // as the provider said at linking; shown, never used to match
	CreatedAt time.Time `json:"created_at"`
}

func identityKey(issuer, subject string) []byte {
	return join([]byte(issuer), []byte{0}, []byte(subject))
}

// IdentityBySubject returns the identity linked for (issuer, subject).
// Errors: ErrNotFound.
func (tx *Tx) IdentityBySubject(issuer, subject string) (*Identity, error) {
	var id Identity
	if err := getJSON(tx.bucket(bucketIdentities), identityKey(issuer, subject), &id); err != nil {
		return nil, err
	}
	return &id, nil
}

// LinkIdentity stores id for its user. Errors: ErrNotFound (no such user),
// ErrIdentityLinked ((issuer, subject) is linked already, to anyone).
func (tx *Tx) LinkIdentity(id *Identity) error {
	if _, err := tx.User(id.UserID); err != nil {
		return err
	}
	key := identityKey(id.Issuer, id.Subject)
	if tx.bucket(bucketIdentities).Get(key) != nil {
		return ErrIdentityLinked
	}
	if err := putJSON(tx.bucket(bucketIdentities), key, id); err != nil {
		return err
	}
	return tx.bucket(bucketIdentitiesByUser).Put(join(id.UserID[:], id.ID[:]), key)
}

// UserIdentities returns the identities linked to a user, oldest first.
func (tx *Tx) UserIdentities(userID uuid.UUID) ([]Identity, error) {
	var out []Identity
	c := tx.bucket(bucketIdentitiesByUser).Cursor()
	for k, v := c.Seek(userID[:]); k != nil && bytes.HasPrefix(k, userID[:]); k, v = c.Next() {
		var id Identity
		if err := getJSON(tx.bucket(bucketIdentities), v, &id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// UnlinkIdentity removes one of a user's identities and returns it.
// Errors: ErrNotFound.
func (tx *Tx) UnlinkIdentity(userID, id uuid.UUID) (*Identity, error) {
	byUser := join(userID[:], id[:])
	key := tx.bucket(bucketIdentitiesByUser).Get(byUser)
	if key == nil {
		return nil, ErrNotFound
	}
	key = bytes.Clone(key)
	var out Identity
	if err := getJSON(tx.bucket(bucketIdentities), key, &out); err != nil {
		return nil, err
	}
	if err := tx.bucket(bucketIdentities).Delete(key); err != nil {
		return nil, err
	}
	return &out, tx.bucket(bucketIdentitiesByUser).Delete(byUser)
}

// UnlinkAllIdentities removes every identity of a user (account
// deletion, or the owner's undo of a link).
func (tx *Tx) UnlinkAllIdentities(userID uuid.UUID) error {
	var keys [][]byte
	c := tx.bucket(bucketIdentitiesByUser).Cursor()
	for k, v := c.Seek(userID[:]); k != nil && bytes.HasPrefix(k, userID[:]); k, v = c.Next() {
		keys = append(keys, bytes.Clone(v))
	}
	for _, key := range keys {
		if err := tx.bucket(bucketIdentities).Delete(key); err != nil {
			return err
		}
	}
	_, err := deletePrefix(tx, bucketIdentitiesByUser, userID[:])
	return err
}

// OIDCState is one sign-in attempt at a provider, between the redirect
// to it and its callback: stored under the SHA-256 of the state value,
// taken (deleted) by the callback, so that a state is spent once.
type OIDCState struct {
	Provider   string    `json:"provider"`
	Nonce      string    `json:"nonce"`
	Verifier   string    `json:"verifier"` // PKCE code verifier
	Next       string    `json:"next,omitempty"`
	LinkUserID uuid.UUID `json:"link_user_id,omitzero"` // linking from the security page: the signed-in user
	LinkStamp  uint64    `json:"link_stamp,omitempty"`  // that user's SecurityStamp when linking began
	ExpiresAt  time.Time `json:"expires_at"`
}

// oidcStates is where sign-in attempts at a provider are kept.
func oidcStates() singleUse { return singleUse{bucketOIDCStates, bucketOIDCStatesByExpiry} }

// PutOIDCState stores a new attempt under state.
func (tx *Tx) PutOIDCState(state string, st *OIDCState) error {
	return oidcStates().put(tx, HashSecret(state), st)
}

// TakeOIDCState returns and deletes the attempt stored under state.
// Errors: ErrNotFound (never stored, taken already, or expired).
func (tx *Tx) TakeOIDCState(state string, now time.Time) (*OIDCState, error) {
	var st OIDCState
	if err := oidcStates().take(tx, HashSecret(state), &st); err != nil {
		return nil, err
	}
	if !now.Before(st.ExpiresAt) {
		return nil, ErrNotFound
	}
	return &st, nil
}

// checkIdentities checks that every identity belongs to a live user, sits
// under its own (issuer, subject) key and is in the user index, and that
// the index names nothing else.
func checkIdentities(c *checkState) {
	n := 0
	c.each(bucketIdentities, func(k, v []byte) {
		n++
		var id Identity
		if err := getJSONBytes(v, &id); err != nil {
			c.fault("identity %q: %v", k, err)
			return
		}
		if !bytes.Equal(k, identityKey(id.Issuer, id.Subject)) {
			c.fault("identity %s: stored under another issuer and subject", id.ID)
		}
		if c.users[id.UserID] == nil {
			c.fault("identity %s: user %s does not exist", id.ID, id.UserID)
		}
		if got := c.tx.bucket(bucketIdentitiesByUser).Get(join(id.UserID[:], id.ID[:])); !bytes.Equal(got, k) {
			c.fault("identity %s: missing from identities_by_user", id.ID)
		}
	})
	if m := c.tx.bucket(bucketIdentitiesByUser).Stats().KeyN; m != n {
		c.fault("identities_by_user has %d entries for %d identities", m, n)
	}
	checkExpiryIndex(c, bucketOIDCStatesByExpiry, "oidc_states_by_expiry", func(hash []byte) ([]byte, bool) {
		var st OIDCState
		if err := getJSON(c.tx.bucket(bucketOIDCStates), hash, &st); err != nil {
			return nil, false
		}
		return timeKey(st.ExpiresAt), true
	})
}
