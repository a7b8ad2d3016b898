package store

import "time"

// singleUse is a kind of short-lived record taken once: JSON under a key
// (a hash of what the client holds) in records, with an entry (expiry
// time, key) in byExpiry through which the sweeper prunes what expired
// untaken. OIDC sign-in states and WebAuthn ceremonies are such kinds.
type singleUse struct{ records, byExpiry []byte }

// expiring is a record of a singleUse kind.
type expiring interface{ expiry() time.Time }

func (st *OIDCState) expiry() time.Time { return st.ExpiresAt }
func (c *Ceremony) expiry() time.Time   { return c.ExpiresAt }

// put stores v under key with its by-expiry entry.
func (k singleUse) put(tx *Tx, key []byte, v expiring) error {
	if err := putJSON(tx.bucket(k.records), key, v); err != nil {
		return err
	}
	return tx.bucket(k.byExpiry).Put(join(timeKey(v.expiry()), key), nil)
}

// take reads the record under key into v and deletes it with its
// by-expiry entry, expired or not. Errors: ErrNotFound.
func (k singleUse) take(tx *Tx, key []byte, v expiring) error {
	if err := getJSON(tx.bucket(k.records), key, v); err != nil {
		return err
	}
	if err := tx.bucket(k.byExpiry).Delete(join(timeKey(v.expiry()), key)); err != nil {
		return err
	}
	return tx.bucket(k.records).Delete(key)
}

// pruner is the sweeper's prune of the kind: it removes the record a
// by-expiry entry names, if still there (found), and the entry.
func (k singleUse) pruner(tx *Tx) func(entry []byte) (found bool, err error) {
	return func(entry []byte) (bool, error) {
		key := entry[min(8, len(entry)):]
		records := tx.bucket(k.records)
		found := records.Get(key) != nil
		if err := records.Delete(key); err != nil {
			return false, err
		}
		return found, tx.bucket(k.byExpiry).Delete(entry)
	}
}
