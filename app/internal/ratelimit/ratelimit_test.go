package ratelimit

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestLimiterBurstThenSteady(t *testing.T) {
	l := New(Rate{5, time.Minute}, 1000, false)
	now := time.Unix(1_000_000, 0)
	for i := range 5 {
		if ok, _ := l.Allow("ip", now); !ok {
			t.Fatalf("event %d refused, want the burst of 5 allowed", i+1)
		}
	}
	ok, retry := l.Allow("ip", now)
	if ok || retry <= 0 || retry > 12*time.Second {
		t.Fatalf("6th: got ok=%v retry=%v, want refused with retry ≤ 12 s", ok, retry)
	}
	if ok, _ := l.Allow("other", now); !ok {
		t.Fatalf("another key must have its own budget")
	}
	if ok, _ := l.Allow("ip", now.Add(12*time.Second)); !ok {
		t.Fatalf("after one interval: want one more allowed")
	}
	l.Refund("ip")
	if ok, _ := l.Allow("ip", now.Add(12*time.Second)); !ok {
		t.Fatalf("after a refund: want one more allowed")
	}
}

// TestLimiterConcurrentBudget: 50 parallel takes on one key let
// exactly the budget through.
func TestLimiterConcurrentBudget(t *testing.T) {
	l := New(Rate{10, 15 * time.Minute}, 1000, false)
	now := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 50 {
		wg.Go(func() {
			if ok, _ := l.Allow("victim@example.test", now); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 10 {
		t.Fatalf("got %d allowed, want 10", allowed)
	}
}

// TestLimiterMemoryBounded: 100,000 distinct keys never hold more
// than the cap.
func TestLimiterMemoryBounded(t *testing.T) {
	const maxKeys = 20_000
	l := New(Rate{10, 15 * time.Minute}, maxKeys, false)
	now := time.Now()
	for i := range 100_000 {
		l.Allow("user"+strconv.Itoa(i)+"@example.test", now)
	}
	if n := l.Len(); n > maxKeys || n < maxKeys/2 {
		t.Fatalf("got %d keys, want between %d and %d", n, maxKeys/2, maxKeys)
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	const limiterKeys = 200_000 // app's (server.go)
	l := New(Rate{5, time.Minute}, limiterKeys, false)
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow("10.0.0."+strconv.Itoa(i%250), now)
			i++
		}
	})
}
