package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// APIKey is a service's credential for the admin API. It is stored under
// its id and found by the SHA-256 of the key (api_keys_by_hash); the key
// itself is never stored. A revoked key keeps its record, so that the list
// and the audit log can still name it, and its index entry, so that using
// it is refused by its revocation rather than by not being known.
type APIKey struct {
	ID         uuid.UUID
	Name       string
	Scopes     []string
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	RevokedAt  time.Time
	LastUsedAt time.Time // kept to the minute (TouchAPIKeys)
	Hash       []byte    // SHA-256 of the key
}

// apiKeyCodecV1 is the version byte of a stored key. A key is read on
// every request that presents it, so it is stored in the binary form of
// codec.go (JSON decoding was half of a key's lookup): id, name, scopes
// (a count, then each), created, expires, revoked and last-used times,
// hash.
const apiKeyCodecV1 = 0xD1

// maxAPIKeyScopes bounds the scopes a stored key may list.
const maxAPIKeyScopes = 32

var errBadAPIKey = errors.New("store: undecodable api key")

func encodeAPIKey(k *APIKey) []byte {
	w := make(recordWriter, 0, 80+len(k.Name)+len(k.Hash)+strsSize(k.Scopes))
	w = append(w, apiKeyCodecV1)
	w.id(k.ID)
	w.str(k.Name)
	w.strs(k.Scopes)
	w.time(k.CreatedAt)
	w.time(k.ExpiresAt)
	w.time(k.RevokedAt)
	w.time(k.LastUsedAt)
	w.bytes(k.Hash)
	return w
}

func decodeAPIKey(b []byte, k *APIKey) error {
	var r recordReader
	r.start(b, apiKeyCodecV1)
	k.ID = r.id()
	k.Name = r.str()
	k.Scopes = r.strs(maxAPIKeyScopes)
	k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.LastUsedAt = r.time(), r.time(), r.time(), r.time()
	k.Hash = r.bytes()
	return r.finish(errBadAPIKey)
}

// getAPIKey reads the key stored under id. Errors: ErrNotFound.
func getAPIKey(keys *bolt.Bucket, id []byte, k *APIKey) error {
	v := keys.Get(id)
	if v == nil {
		return ErrNotFound
	}
	return decodeAPIKey(v, k)
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
	return tx.bucket(bucketAPIKeys).Put(k.ID[:], encodeAPIKey(k))
}

// APIKeys lists every key, revoked and expired ones too, oldest first.
func (tx *Tx) APIKeys() ([]APIKey, error) {
	var out []APIKey
	err := tx.bucket(bucketAPIKeys).ForEach(func(k, v []byte) error {
		var key APIKey
		if err := decodeAPIKey(v, &key); err != nil {
			return fmt.Errorf("store: api key %x: %w", k, err)
		}
		out = append(out, key)
		return nil
	})
	return out, err
}

// APIKey returns the key with id, usable or not. Errors: ErrNotFound.
func (tx *Tx) APIKey(id uuid.UUID) (*APIKey, error) {
	var k APIKey
	if err := getAPIKey(tx.bucket(bucketAPIKeys), id[:], &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// APIKeyByHash returns the key whose SHA-256 is hash, usable or not.
// Errors: ErrNotFound.
func (tx *Tx) APIKeyByHash(hash []byte) (*APIKey, error) {
	id := tx.bucket(bucketAPIKeysByHash).Get(hash)
	if id == nil {
		return nil, ErrNotFound
	}
	var k APIKey
	if err := getAPIKey(tx.bucket(bucketAPIKeys), id, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// RevokeAPIKey marks a key revoked at at and returns it; a key already
// revoked keeps its first revocation time. Errors: ErrNotFound.
func (tx *Tx) RevokeAPIKey(id uuid.UUID, at time.Time) (*APIKey, error) {
	var k APIKey
	keys := tx.bucket(bucketAPIKeys)
	if err := getAPIKey(keys, id[:], &k); err != nil {
		return nil, err
	}
	if !k.RevokedAt.IsZero() {
		return &k, nil
	}
	k.RevokedAt = at
	return &k, keys.Put(id[:], encodeAPIKey(&k))
}

// TouchAPIKeys records, for each key id, when it was last used, in one
// write: a time earlier than the stored one changes nothing, and an id
// with no key is skipped. So it is idempotent and may run in a Batch.
func (tx *Tx) TouchAPIKeys(lastUsed map[uuid.UUID]time.Time) error {
	keys := tx.bucket(bucketAPIKeys)
	for id, at := range lastUsed {
		var k APIKey
		err := getAPIKey(keys, id[:], &k)
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
		if err := keys.Put(id[:], encodeAPIKey(&k)); err != nil {
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
		if err := decodeAPIKey(v, &key); err != nil || len(k) != 16 || uuid.UUID(k) != key.ID || len(key.Hash) != 32 {
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
		if len(v) != 16 || getAPIKey(keys, v, &key) != nil || !bytes.Equal(key.Hash, k) {
			fault("api_keys_by_hash entry for key id %x points at no key with that hash", v)
		}
		return nil
	})
}
