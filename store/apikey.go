package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// APIKey is a service's credential for the admin API. It is stored under
// its id and found by the SHA-256 of the key (api_keys_by_hash); the key
// itself is never stored. A revoked key keeps its record, so that the list
// and the audit log can still name it, and its index entry, so that using
// it is refused by its revocation rather than by not being known.
type APIKey struct {
	ID         uuid.UUID `json:"id"`
	Name       string    `json:"name"`
	Scopes     []string  `json:"scopes"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"` // zero: never
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"` // kept to the minute (TouchAPIKeys)
	Hash       []byte    `json:"hash"`                  // SHA-256 of the key
}

// Usable reports whether the key may be used at now: not revoked, not expired.
func (k *APIKey) Usable(now time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// errAPIKeyExists: CreateAPIKey was given an id or key already stored
// (a caller's bug: both are random).
var errAPIKeyExists = errors.New("store: api key id or hash already stored")

// CreateAPIKey stores k under the SHA-256 of key, with its index entry.
func (tx *Tx) CreateAPIKey(key string, k *APIKey) error {
	k.Hash = HashSecret(key)
	byHash := tx.bucket(bucketAPIKeysByHash)
	if byHash.Get(k.Hash) != nil || tx.bucket(bucketAPIKeys).Get(k.ID[:]) != nil {
		return errAPIKeyExists
	}
	if err := byHash.Put(k.Hash, k.ID[:]); err != nil {
		return err
	}
	return putJSON(tx.bucket(bucketAPIKeys), k.ID[:], k)
}

// APIKeys lists every key, revoked and expired ones too, oldest first.
func (tx *Tx) APIKeys() ([]APIKey, error) {
	var out []APIKey
	err := tx.bucket(bucketAPIKeys).ForEach(func(k, v []byte) error {
		var key APIKey
		if err := getJSONBytes(v, &key); err != nil {
			return fmt.Errorf("store: api key %x: %w", k, err)
		}
		out = append(out, key)
		return nil
	})
	return out, err
}

// APIKeyByHash returns the key whose SHA-256 is hash, usable or not.
// Errors: ErrNotFound.
func (tx *Tx) APIKeyByHash(hash []byte) (*APIKey, error) {
	id := tx.bucket(bucketAPIKeysByHash).Get(hash)
	if id == nil {
		return nil, ErrNotFound
	}
	var k APIKey
	if err := getJSON(tx.bucket(bucketAPIKeys), id, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// RevokeAPIKey marks a key revoked at at and returns it; a key already
// revoked keeps its first revocation time. Errors: ErrNotFound.
func (tx *Tx) RevokeAPIKey(id uuid.UUID, at time.Time) (*APIKey, error) {
	var k APIKey
	keys := tx.bucket(bucketAPIKeys)
	if err := getJSON(keys, id[:], &k); err != nil {
		return nil, err
	}
	if !k.RevokedAt.IsZero() {
		return &k, nil
	}
	k.RevokedAt = at
	return &k, putJSON(keys, id[:], &k)
}

// TouchAPIKeys records, for each key id, when it was last used, in one
// write: a time earlier than the stored one changes nothing, and an id
// with no key is skipped. So it is idempotent and may run in a Batch.
func (tx *Tx) TouchAPIKeys(lastUsed map[uuid.UUID]time.Time) error {
	keys := tx.bucket(bucketAPIKeys)
	for id, at := range lastUsed {
		var k APIKey
		err := getJSON(keys, id[:], &k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !at.After(k.LastUsedAt) {
			continue
		}
		k.LastUsedAt = at
		if err := putJSON(keys, id[:], &k); err != nil {
			return err
		}
	}
	return nil
}

// checkAPIKeys reports, through fault, every key that does not decode or
// is keyed wrongly, every key without its by-hash entry, and every by-hash
// entry that points at no key with that hash. Check runs it.
func checkAPIKeys(tx *Tx, fault func(string, ...any)) {
	keys, byHash := tx.bucket(bucketAPIKeys), tx.bucket(bucketAPIKeysByHash)
	keys.ForEach(func(k, v []byte) error {
		var key APIKey
		if err := getJSONBytes(v, &key); err != nil || len(k) != 16 || uuid.UUID(k) != key.ID || len(key.Hash) != 32 {
			fault("api key %x: undecodable or keyed wrongly", k)
			return nil
		}
		if !bytes.Equal(byHash.Get(key.Hash), key.ID[:]) {
			fault("api key %s has no by-hash index entry", key.ID)
		}
		return nil
	})
	byHash.ForEach(func(k, v []byte) error {
		var key APIKey
		if len(v) != 16 || getJSON(keys, v, &key) != nil || !bytes.Equal(key.Hash, k) {
			fault("api_keys_by_hash entry for key id %x points at no key with that hash", v)
		}
		return nil
	})
}
