package store

import (
	"bytes"
	"fmt"
	"path/filepath"
	"reflect"
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

func sampleAPIKey() APIKey {
	return APIKey{ID: NewID(), Name: "Checkout · Kasse", Scopes: []string{"users:read", "addresses:read"}, CreatedAt: time.Unix(1_800_000_000, 5).UTC(),
		ExpiresAt: time.Unix(1_900_000_000, 0).UTC(), LastUsedAt: time.Unix(1_800_000_060, 0).UTC(), Hash: HashSecret("mbk_sample")}
}

func TestAPIKeyCodecRoundTrip(t *testing.T) {
	k := sampleAPIKey()
	var got APIKey
	if err := decodeAPIKey(encodeAPIKey(&k), &got); err != nil || !reflect.DeepEqual(got, k) {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, k)
	}
	enc := encodeAPIKey(&k)
	for _, bad := range [][]byte{nil, {apiKeyCodecV1}, enc[:len(enc)-1], append(bytes.Clone(enc), 0), append([]byte{0xD2}, enc[1:]...), []byte(`{"id":"x"}`)} {
		if err := decodeAPIKey(bad, &APIKey{}); err == nil {
			t.Fatalf("%x: decoded, want an error", bad)
		}
	}
}

func FuzzAPIKeyCodec(f *testing.F) {
	k := sampleAPIKey()
	f.Add(encodeAPIKey(&k))
	f.Fuzz(func(t *testing.T, b []byte) {
		var x, y APIKey
		if decodeAPIKey(b, &x) != nil {
			return
		}
		// Whatever decodes survives a round trip unchanged.
		if err := decodeAPIKey(encodeAPIKey(&x), &y); err != nil || !reflect.DeepEqual(x, y) {
			t.Fatalf("round trip of %x changed the key: %+v vs %+v (%v)", b, x, y, err)
		}
	})
}
