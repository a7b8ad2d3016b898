package store_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/marbelle/marbelle/store"
)

// TestCeremoniesEndOnceAndAreSwept: a ceremony is found until it expires,
// ends once, and the sweeper removes the expired ones with their index.
func TestCeremoniesEndOnceAndAreSwept(t *testing.T) {
	db := mustOpenPath(t, filepath.Join(t.TempDir(), "ceremony.db"))
	now := t0
	mustUpdate(t, db, func(tx *store.Tx) error {
		for i := range 10 {
			c := &store.Ceremony{Kind: "login", Session: []byte(`{}`), ExpiresAt: now.Add(time.Duration(i-5) * time.Minute)}
			if err := tx.PutCeremony(fmt.Sprint("challenge-", i), c); err != nil {
				return err
			}
		}
		return nil
	})
	mustUpdate(t, db, func(tx *store.Tx) error {
		if _, err := tx.Ceremony("challenge-2", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired ceremony: got %v", err)
		}
		if _, err := tx.Ceremony("challenge-7", now); err != nil {
			t.Fatalf("live ceremony: %v", err)
		}
		if err := tx.EndCeremony("challenge-7"); err != nil {
			return err
		}
		if err := tx.EndCeremony("challenge-7"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second end: got %v", err)
		}
		return nil
	})
	res, err := db.Sweep(now, store.SweepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ceremonies != 5 { // expiries -5…-1 minutes; the one ending exactly now goes next time
		t.Fatalf("swept %d ceremonies, want 5", res.Ceremonies)
	}
	mustView(t, db, func(tx *store.Tx) error {
		if faults := tx.Check(); len(faults) > 0 {
			t.Fatalf("check: %v", faults)
		}
		for _, i := range []int{8, 9, 6} {
			if _, err := tx.Ceremony(fmt.Sprint("challenge-", i), now); err != nil {
				t.Fatalf("challenge-%d: %v", i, err)
			}
		}
		return nil
	})
}
