package store_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

// emailVariant spells "race@example.com" in a case/spacing variant chosen by i.
func emailVariant(i int) string {
	const base = "race@example.com"
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", i%3))
	for j, r := range base {
		if (i>>(j%6))&1 == 1 {
			b.WriteString(strings.ToUpper(string(r)))
		} else {
			b.WriteRune(r)
		}
	}
	b.WriteString([]string{"", "\t", "  ", "\n"}[i%4])
	return b.String()
}

func raceCreateUser(t *testing.T, run func(db *store.DB, fn func(*store.Tx) error) error) {
	db := mustOpen(t)
	const n = 50
	ids := make([]uuid.UUID, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		ids[i] = store.NewID()
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			errs[i] = run(db, func(tx *store.Tx) error {
				// A fresh User each call: Batch may run fn more than once.
				return tx.CreateUser(&store.User{ID: ids[i], Email: emailVariant(i), DateJoined: t0})
			})
		}(i)
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("goroutines %d and %d both created %q", winner, i, "race@example.com")
			}
			winner = i
		case !errors.Is(err, store.ErrEmailTaken):
			t.Fatalf("goroutine %d (%q): got %v, want nil or ErrEmailTaken", i, emailVariant(i), err)
		}
	}
	if winner < 0 {
		t.Fatalf("no goroutine succeeded, want exactly one (49 ErrEmailTaken)")
	}

	mustView(t, db, func(tx *store.Tx) error {
		u, err := tx.UserByEmail("RACE@example.com")
		if err != nil {
			t.Fatalf("UserByEmail: got %v, want the winner", err)
		}
		if u.ID != ids[winner] || u.Email != "race@example.com" {
			t.Fatalf("UserByEmail: got id %v email %q, want id %v email %q", u.ID, u.Email, ids[winner], "race@example.com")
		}
		for i, id := range ids {
			if i == winner {
				continue
			}
			if _, err := tx.User(id); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("User(loser %d): got %v, want ErrNotFound", i, err)
			}
		}
		return nil
	})
}

func TestConcurrentCreateUserSameEmailUpdateExactlyOneWins(t *testing.T) {
	if a, b := emailVariant(5), emailVariant(6); a == b || store.NormalizeEmail(a) != store.NormalizeEmail(b) {
		t.Fatalf("emailVariant: %q and %q, want different spellings of one email", a, b)
	}
	raceCreateUser(t, func(db *store.DB, fn func(*store.Tx) error) error { return db.Update(fn) })
}

func TestConcurrentCreateUserSameEmailBatchExactlyOneWins(t *testing.T) {
	raceCreateUser(t, func(db *store.DB, fn func(*store.Tx) error) error { return db.Batch(fn) })
}

func TestConcurrentSpendTokenExactlyOneSucceeds(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "spender@example.com")
	raw := issue(t, db, u.ID, store.TokenPasswordReset, t0)
	now := t0.Add(time.Minute)

	const n = 20
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			_, errs[i] = spend(db, store.TokenPasswordReset, raw, now)
		}(i)
	}
	close(start)
	wg.Wait()

	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrTokenInvalid):
			t.Fatalf("goroutine %d: got %v, want nil or ErrTokenInvalid", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("successful SpendToken calls: got %d, want 1", ok)
	}
}
