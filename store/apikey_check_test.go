package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestCheckAPIKeys: checkAPIKeys passes a sound store and names each kind
// of broken key record or index entry, never printing a key or its hash.
func TestCheckAPIKeys(t *testing.T) {
	faultsOf := func(db *DB) []string {
		var faults []string
		db.View(func(tx *Tx) error {
			checkAPIKeys(tx, func(format string, a ...any) { faults = append(faults, fmt.Sprintf(format, a...)) })
			return nil
		})
		return faults
	}
	for _, c := range []struct {
		name    string
		corrupt func(tx *Tx, k *APIKey) error
		want    string
	}{
		{"sound", func(*Tx, *APIKey) error { return nil }, ""},
		{"index entry gone", func(tx *Tx, k *APIKey) error { return tx.bucket(bucketAPIKeysByHash).Delete(k.Hash) }, "has no by-hash index entry"},
		{"record gone", func(tx *Tx, k *APIKey) error { return tx.bucket(bucketAPIKeys).Delete(k.ID[:]) }, "points at no key with that hash"},
		{"record undecodable", func(tx *Tx, k *APIKey) error { return tx.bucket(bucketAPIKeys).Put(k.ID[:], []byte("{")) }, "undecodable or keyed wrongly"},
		{"index points elsewhere", func(tx *Tx, k *APIKey) error {
			other := uuid.New()
			return tx.bucket(bucketAPIKeysByHash).Put(k.Hash, other[:])
		}, "has no by-hash index entry"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, err := Open(filepath.Join(t.TempDir(), "marbelle.db"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			const key = "mbk_check-me-0123456789abcdefghijklmnopqrstuvwxy"
			k := &APIKey{ID: NewID(), Name: "check", Scopes: []string{"users:read"}, CreatedAt: time.Now()}
			if err := db.Update(func(tx *Tx) error {
				if err := tx.CreateAPIKey(key, k); err != nil {
					return err
				}
				return c.corrupt(tx, k)
			}); err != nil {
				t.Fatal(err)
			}
			faults := faultsOf(db)
			all := strings.Join(faults, "\n")
			if c.want == "" && len(faults) > 0 || c.want != "" && !strings.Contains(all, c.want) {
				t.Fatalf("faults: %q, want one containing %q", faults, c.want)
			}
			if strings.Contains(all, key) || strings.Contains(all, fmt.Sprintf("%x", k.Hash)) {
				t.Fatalf("a fault names the key or its hash: %q", faults)
			}
		})
	}
}
