package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/marbelle/marbelle/store"
)

// TestBatchSharesCommitsAndIsolatesFailures: many concurrent Batch calls,
// some failing and some panicking, each get their own outcome; a failed
// call writes nothing, the others all land, and order-dependent rules
// (unique email) hold as if run one by one.
func TestBatchSharesCommitsAndIsolatesFailures(t *testing.T) {
	db := mustOpen(t)
	errBoom := errors.New("boom")
	const n = 300
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i] = db.Batch(func(tx *store.Tx) error {
				u := &store.User{ID: store.NewID(), Email: fmt.Sprintf("u%d@example.test", i), Active: true, DateJoined: time.Now()}
				if i%10 == 3 {
					u.Email = "same@example.test" // 30 race for one email
				}
				if err := tx.CreateUser(u); err != nil {
					return err
				}
				switch i % 10 {
				case 7:
					return errBoom // written, then refused: must leave nothing
				case 9:
					if i%20 == 9 {
						panic("bad request")
					}
				}
				return nil
			})
		})
	}
	wg.Wait()
	ok, taken, boom, panicked := 0, 0, 0, 0
	for i, err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrEmailTaken):
			taken++
		case errors.Is(err, errBoom):
			boom++
		case err != nil && i%20 == 9:
			panicked++
		default:
			t.Fatalf("call %d: unexpected %v", i, err)
		}
	}
	if boom != 30 || panicked != 15 || taken != 29 || ok != n-30-15-29 {
		t.Fatalf("got ok=%d taken=%d boom=%d panicked=%d", ok, taken, boom, panicked)
	}
	mustView(t, db, func(tx *store.Tx) error {
		if st := tx.Stats(); st.Users != ok {
			t.Fatalf("stored users: got %d, want %d", st.Users, ok)
		}
		for i := range n {
			_, err := tx.UserByEmail(fmt.Sprintf("u%d@example.test", i))
			stored := err == nil
			want := results[i] == nil && i%10 != 3
			if stored != want {
				t.Fatalf("call %d (%v): stored=%v", i, results[i], stored)
			}
		}
		if f := tx.Check(); len(f) > 0 {
			t.Fatalf("check: %v", f)
		}
		return nil
	})
}

func BenchmarkBatchCreateUser(b *testing.B) {
	db := mustOpen(b)
	b.ReportAllocs()
	b.SetParallelism(32) // many concurrent writers, as under load
	i := 0
	var mu sync.Mutex
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			i++
			email := fmt.Sprintf("b%d@example.test", i)
			mu.Unlock()
			if err := db.Batch(func(tx *store.Tx) error {
				return tx.CreateUser(&store.User{ID: store.NewID(), Email: email, DateJoined: time.Now()})
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	st := db.WriteStats()
	b.ReportMetric(float64(st.GroupedWrites)/float64(max(st.GroupCommits, 1)), "writes/commit")
}

// TestBatchGathersReturningWriters: writers that send their next write as
// soon as the last is committed share commits, instead of splitting into
// cohorts that take turns (16 writers: groups of about 8 without
// gathering, about 16 with it).
func TestBatchGathersReturningWriters(t *testing.T) {
	db := mustOpen(t)
	const writers, each = 16, 30
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				email := fmt.Sprintf("w%d-%d@example.test", w, i)
				if err := db.Batch(func(tx *store.Tx) error {
					return tx.CreateUser(&store.User{ID: store.NewID(), Email: email, DateJoined: time.Now()})
				}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := db.WriteStats()
	if st.GroupedWrites != writers*each {
		t.Fatalf("grouped writes: got %d, want %d", st.GroupedWrites, writers*each)
	}
	if mean := float64(st.GroupedWrites) / float64(st.GroupCommits); mean < 11 {
		t.Fatalf("mean group: %.1f writes in %d commits, want at least 11 of 16", mean, st.GroupCommits)
	}
}
