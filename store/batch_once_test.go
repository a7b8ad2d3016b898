//go:build !batchtwice

package store_test

import (
	"testing"

	"github.com/marbelle/marbelle/store"
)

// TestBatchRunsALoneClosureOnce: in a normal build, Batch adds no run of
// its own (the rehearsal of batch_twice.go is compiled out).
func TestBatchRunsALoneClosureOnce(t *testing.T) {
	db := mustOpen(t)
	runs := 0
	if err := db.Batch(func(*store.Tx) error { runs++; return nil }); err != nil || runs != 1 {
		t.Fatalf("Batch: %v after %d runs, want nil after 1", err, runs)
	}
}
