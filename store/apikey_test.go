package store_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

// mustCreateAPIKey stores a key named name for the secret key and returns it.
func mustCreateAPIKey(tb testing.TB, db *store.DB, key, name string, expires time.Time) *store.APIKey {
	tb.Helper()
	k := &store.APIKey{ID: store.NewID(), Name: name, Scopes: []string{"users:read"}, CreatedAt: t0, ExpiresAt: expires}
	mustUpdate(tb, db, func(tx *store.Tx) error { return tx.CreateAPIKey(key, k) })
	return k
}

func apiKeyByKey(tb testing.TB, db *store.DB, key string) (*store.APIKey, error) {
	tb.Helper()
	return txResult(db.View, func(tx *store.Tx) (*store.APIKey, error) { return tx.APIKeyByHash(store.HashSecret(key)) })
}

// TestAPIKeyStoredOnlyAsHash: a key is found by its SHA-256 only, and the
// key itself is nowhere in the file.
func TestAPIKeyStoredOnlyAsHash(t *testing.T) {
	path := t.TempDir() + "/marbelle.db"
	db := mustOpenPath(t, path)
	key := "mbk_" + randomSecret(t)
	made := mustCreateAPIKey(t, db, key, "checkout", time.Time{})
	got, err := apiKeyByKey(t, db, key)
	if err != nil || got.ID != made.ID || got.Name != "checkout" || !bytes.Equal(got.Hash, store.HashSecret(key)) {
		t.Fatalf("APIKeyByHash: got %+v, %v; want the key made", got, err)
	}
	if _, err := apiKeyByKey(t, db, key+"x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another key: got %v, want ErrNotFound", err)
	}
	mustClose(t, db)
	if data := fileBytes(t, path); bytes.Contains(data, []byte(key)) || bytes.Contains(data, []byte(key[4:])) {
		t.Fatal("the key itself is in the store file")
	}
	if n := countKeys(rawKeys(t, path, "api_keys_by_hash"), store.HashSecret(key), bytes.Contains); n != 1 {
		t.Fatalf("api_keys_by_hash: %d entries for the key's hash, want 1", n)
	}
}

// TestAPIKeyUsable: revoked or expired keys are not usable; the store
// keeps them (with their index entry) for the list.
func TestAPIKeyUsable(t *testing.T) {
	db := mustOpen(t)
	live := mustCreateAPIKey(t, db, "mbk_live", "live", time.Time{})
	expiring := mustCreateAPIKey(t, db, "mbk_expiring", "expiring", t0.Add(time.Hour))
	revoked := mustCreateAPIKey(t, db, "mbk_revoked", "revoked", time.Time{})
	first := mustTxResult(t, db.Update, func(tx *store.Tx) (*store.APIKey, error) {
		return tx.RevokeAPIKey(revoked.ID, t0.Add(time.Minute))
	})
	// Revoking again keeps the first time.
	mustUpdate(t, db, func(tx *store.Tx) error {
		again, err := tx.RevokeAPIKey(revoked.ID, t0.Add(time.Hour))
		if err == nil && !again.RevokedAt.Equal(first.RevokedAt) {
			t.Errorf("second revocation: revoked_at %v, want the first %v", again.RevokedAt, first.RevokedAt)
		}
		return err
	})
	if err := db.Update(func(tx *store.Tx) error { _, err := tx.RevokeAPIKey(uuid.New(), t0); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke unknown: got %v, want ErrNotFound", err)
	}
	for _, c := range []struct {
		key  string
		at   time.Time
		want bool
	}{
		{"mbk_live", t0.Add(24 * 365 * time.Hour), true},
		{"mbk_expiring", t0.Add(time.Hour - time.Nanosecond), true},
		{"mbk_expiring", t0.Add(time.Hour), false},
		{"mbk_revoked", t0, false},
	} {
		k, err := apiKeyByKey(t, db, c.key)
		if err != nil {
			t.Fatalf("%s: %v", c.key, err)
		}
		if got := k.Usable(c.at); got != c.want {
			t.Errorf("%s at %v: usable %v, want %v", c.key, c.at, got, c.want)
		}
	}
	list := mustTxResult(t, db.View, (*store.Tx).APIKeys)
	if len(list) != 3 || list[0].ID != live.ID || list[1].ID != expiring.ID || list[2].ID != revoked.ID {
		t.Fatalf("APIKeys: got %+v, want the three keys oldest first", list)
	}
}

// TestTouchAPIKeys: the latest use wins, an earlier one changes nothing,
// unknown ids are skipped, and a touch never undoes a revocation.
func TestTouchAPIKeys(t *testing.T) {
	db := mustOpen(t)
	a := mustCreateAPIKey(t, db, "mbk_a", "a", time.Time{})
	b := mustCreateAPIKey(t, db, "mbk_b", "b", time.Time{})
	mustUpdate(t, db, func(tx *store.Tx) error { _, err := tx.RevokeAPIKey(b.ID, t0.Add(time.Hour)); return err })
	touch := func(m map[uuid.UUID]time.Time) {
		t.Helper()
		if err := db.Batch(func(tx *store.Tx) error { return tx.TouchAPIKeys(m) }); err != nil {
			t.Fatalf("TouchAPIKeys: %v", err)
		}
	}
	touch(map[uuid.UUID]time.Time{a.ID: t0.Add(2 * time.Minute), b.ID: t0.Add(time.Minute), uuid.New(): t0})
	touch(map[uuid.UUID]time.Time{a.ID: t0.Add(time.Minute)})
	ka, _ := apiKeyByKey(t, db, "mbk_a")
	kb, _ := apiKeyByKey(t, db, "mbk_b")
	if !ka.LastUsedAt.Equal(t0.Add(2*time.Minute)) || !kb.LastUsedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("last used: a %v, b %v; want %v, %v", ka.LastUsedAt, kb.LastUsedAt, t0.Add(2*time.Minute), t0.Add(time.Minute))
	}
	if kb.RevokedAt.IsZero() {
		t.Fatal("a touch undid a revocation")
	}
}

// TestAPIKeyRevokeRacesTouches: touches batched with a revocation never
// lose it, and the revocation never loses the latest touch.
func TestAPIKeyRevokeRacesTouches(t *testing.T) {
	db := mustOpen(t)
	k := mustCreateAPIKey(t, db, "mbk_race", "race", time.Time{})
	const n = 40
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			if err := db.Batch(func(tx *store.Tx) error {
				return tx.TouchAPIKeys(map[uuid.UUID]time.Time{k.ID: t0.Add(time.Duration(i) * time.Minute)})
			}); err != nil {
				t.Errorf("touch: %v", err)
			}
		})
	}
	wg.Go(func() {
		<-start
		if err := db.Batch(func(tx *store.Tx) error { _, err := tx.RevokeAPIKey(k.ID, t0); return err }); err != nil {
			t.Errorf("revoke: %v", err)
		}
	})
	close(start)
	wg.Wait()
	got, err := apiKeyByKey(t, db, "mbk_race")
	if err != nil || got.RevokedAt.IsZero() || !got.LastUsedAt.Equal(t0.Add((n-1)*time.Minute)) {
		t.Fatalf("after the race: %+v, %v; want revoked, last used %v", got, err, t0.Add((n-1)*time.Minute))
	}
}
