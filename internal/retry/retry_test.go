package retry

import (
	"context"
	"testing"
	"time"
)

// TestWakeCoalesces: Notify never blocks, and notifications before the
// loop looks count as one.
func TestWakeCoalesces(t *testing.T) {
	w := NewWake()
	for range 3 {
		w.Notify()
	}
	<-w
	select {
	case <-w:
		t.Fatal("three notifications woke the loop twice")
	default:
	}
}

// TestLoopRunsAtOnceOnWakeAndStops: a pass at once, one more per wake (the
// interval is far longer than the test), and Loop returns once ctx ends.
func TestLoopRunsAtOnceOnWakeAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	w := NewWake()
	passes := make(chan int)
	done := make(chan struct{})
	n := 0
	go func() {
		defer close(done)
		Loop(ctx, time.Hour, w, func(context.Context) { n++; passes <- n })
	}()
	if got := <-passes; got != 1 {
		t.Fatalf("first pass %d, want 1", got)
	}
	w.Notify()
	if got := <-passes; got != 2 {
		t.Fatalf("pass after a wake %d, want 2", got)
	}
	cancel()
	<-done
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {1000, 10 * time.Second}} {
		if got := Backoff(c.n, time.Second, 10*time.Second); got != c.want {
			t.Errorf("Backoff(%d) = %v, want %v", c.n, got, c.want)
		}
	}
}
