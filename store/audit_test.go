package store_test

import (
	"bytes"
	"testing"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

func TestAppendAuditAssignsIncreasingIDsAndKeepsGivenOnes(t *testing.T) {
	db := mustOpen(t)
	var events []*store.Event
	mustUpdate(t, db, func(tx *store.Tx) error {
		for i := 0; i < 5; i++ {
			e := &store.Event{At: t0, Event: "login"}
			if err := tx.AppendAudit(e); err != nil {
				return err
			}
			events = append(events, e)
		}
		return nil
	})
	for i, e := range events {
		if e.ID == uuid.Nil {
			t.Fatalf("event %d: ID is nil, want assigned", i)
		}
		if i > 0 && bytes.Compare(events[i-1].ID[:], e.ID[:]) >= 0 {
			t.Fatalf("event ids %v then %v: want strictly increasing", events[i-1].ID, e.ID)
		}
	}
	given := store.NewID()
	e := &store.Event{ID: given, At: t0, Event: "given"}
	mustUpdate(t, db, func(tx *store.Tx) error { return tx.AppendAudit(e) })
	if e.ID != given {
		t.Fatalf("AppendAudit replaced the given id %v with %v", given, e.ID)
	}
}

func auditIDs(tb testing.TB, db *store.DB, userID uuid.UUID, limit int) []uuid.UUID {
	tb.Helper()
	evs := mustTxResult(tb, db.View, func(tx *store.Tx) ([]store.Event, error) { return tx.AuditEvents(userID, limit) })
	var ids []uuid.UUID
	for _, e := range evs {
		if userID != uuid.Nil && e.UserID != userID {
			tb.Fatalf("AuditEvents(%v) returned an event of user %v", userID, e.UserID)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

func reversed(ids []uuid.UUID) []uuid.UUID {
	out := make([]uuid.UUID, len(ids))
	for i, id := range ids {
		out[len(ids)-1-i] = id
	}
	return out
}

func equalIDs(tb testing.TB, what string, got, want []uuid.UUID) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%s: got %d events, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			tb.Fatalf("%s: position %d got %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestAuditEventsNewestFirstAllAndPerUserWhetherOrNotTheUsersRangeIsLast(t *testing.T) {
	db := mustOpen(t)
	// Two users with ordered ids: low's range in audit_by_user is followed by
	// high's, and high's range is the last in the bucket.
	low, high := store.NewID(), store.NewID()
	if bytes.Compare(low[:], high[:]) >= 0 {
		low, high = high, low
	}
	// Enough events that the ranges span several bbolt pages.
	const perUser = 300
	var all, lowIDs, highIDs []uuid.UUID
	mustUpdate(t, db, func(tx *store.Tx) error {
		for i := 0; i < perUser; i++ {
			for _, uid := range []uuid.UUID{high, uuid.Nil, low} { // interleaved, incl. user-less events
				e := &store.Event{At: t0, Event: "evt", UserID: uid}
				if err := tx.AppendAudit(e); err != nil {
					return err
				}
				all = append(all, e.ID)
				switch uid {
				case low:
					lowIDs = append(lowIDs, e.ID)
				case high:
					highIDs = append(highIDs, e.ID)
				}
			}
		}
		return nil
	})

	equalIDs(t, "AuditEvents(Nil, all)", auditIDs(t, db, uuid.Nil, len(all)+10), reversed(all))
	equalIDs(t, "AuditEvents(Nil, 7)", auditIDs(t, db, uuid.Nil, 7), reversed(all)[:7])
	equalIDs(t, "AuditEvents(low, all) (range not last)", auditIDs(t, db, low, perUser+10), reversed(lowIDs))
	equalIDs(t, "AuditEvents(low, 5) (range not last)", auditIDs(t, db, low, 5), reversed(lowIDs)[:5])
	equalIDs(t, "AuditEvents(high, all) (range last)", auditIDs(t, db, high, perUser+10), reversed(highIDs))
	equalIDs(t, "AuditEvents(high, 5) (range last)", auditIDs(t, db, high, 5), reversed(highIDs)[:5])

	// Users without events, sorting before, between and after the others.
	// (v7 ids start with the time, so {0,…,1} sorts before both and all-0xff after.)
	before := uuid.UUID{15: 1}
	between := low
	between[15]++
	var after uuid.UUID
	for i := range after {
		after[i] = 0xff
	}
	for name, uid := range map[string]uuid.UUID{"before": before, "between": between, "after": after} {
		if uid == low || uid == high {
			continue
		}
		if got := auditIDs(t, db, uid, 10); len(got) != 0 {
			t.Fatalf("AuditEvents(user %s without events): got %d events, want 0", name, len(got))
		}
	}
	if got := auditIDs(t, db, low, 0); len(got) != 0 {
		t.Fatalf("AuditEvents(low, 0): got %d, want 0", len(got))
	}
}

func TestAuditEventsOfAUserWhoseRangeIsLastAndOnlyOne(t *testing.T) {
	db := mustOpen(t)
	u := store.NewID()
	var ids []uuid.UUID
	for i := 0; i < 3; i++ {
		e := &store.Event{At: t0, Event: "only", UserID: u}
		mustUpdate(t, db, func(tx *store.Tx) error { return tx.AppendAudit(e) })
		ids = append(ids, e.ID)
	}
	equalIDs(t, "AuditEvents(sole user)", auditIDs(t, db, u, 10), reversed(ids))
}
