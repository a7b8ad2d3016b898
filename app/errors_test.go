package app

import (
	"testing"

	"github.com/marbelle/marbelle/app/internal/password"
)

// TestHasherBusyIsUnavailable: a hasher with no free slot (password's
// TestHasherBusy) is answered 503 with Retry-After.
func TestHasherBusyIsUnavailable(t *testing.T) {
	e, _ := asError(password.ErrBusy)
	if e.Status() != 503 || e.RetryAfter <= 0 {
		t.Fatalf("busy answer: got %d retry %v, want 503 with Retry-After", e.Status(), e.RetryAfter)
	}
}
