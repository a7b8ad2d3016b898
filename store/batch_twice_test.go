//go:build batchtwice

package store_test

import (
	"fmt"
	"testing"

	"github.com/marbelle/marbelle/store"
)

// TestBatchTwiceRunsEveryClosureTwiceAndKeepsTheSecondRun: in a -tags
// batchtwice build, Batch runs its closure once in a transaction that is
// rolled back, then for real: only the second run's writes stay.
func TestBatchTwiceRunsEveryClosureTwiceAndKeepsTheSecondRun(t *testing.T) {
	db := mustOpen(t)
	runs := 0
	err := db.Batch(func(tx *store.Tx) error {
		u := &store.User{ID: store.NewID(), Email: fmt.Sprintf("run%d@example.test", runs), Active: true, DateJoined: t0}
		runs++
		return tx.CreateUser(u)
	})
	if err != nil || runs != 2 {
		t.Fatalf("Batch: %v after %d runs, want nil after 2", err, runs)
	}
	mustView(t, db, func(tx *store.Tx) error {
		if _, err := tx.UserByEmail("run0@example.test"); err == nil {
			t.Errorf("the rehearsal's user was committed")
		}
		if _, err := tx.UserByEmail("run1@example.test"); err != nil {
			t.Errorf("the real run's user: %v", err)
		}
		if st := tx.Stats(); st.Users != 1 {
			t.Errorf("Stats: %+v, want 1 user", st)
		}
		return nil
	})
	// A rehearsal that panics or fails leaves the real run its own outcome.
	runs = 0
	err = db.Batch(func(tx *store.Tx) error {
		runs++
		if runs == 1 {
			panic("only in the rehearsal")
		}
		return nil
	})
	if err != nil || runs != 2 {
		t.Fatalf("Batch after a panicking rehearsal: %v after %d runs", err, runs)
	}
}
