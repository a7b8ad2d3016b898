package store_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

// newSession stores a session for userID with the given absolute and idle
// ends and returns its secret and record.
func newSession(tb testing.TB, db *store.DB, userID uuid.UUID, expires, idle time.Time) (string, *store.Session) {
	tb.Helper()
	secret := randomSecret(tb)
	s := &store.Session{
		ID: store.NewID(), UserID: userID, CreatedAt: t0, LastSeenAt: t0,
		ExpiresAt: expires, IdleUntil: idle, IP: "192.0.2.1", UserAgent: "test-agent",
	}
	mustUpdate(tb, db, func(tx *store.Tx) error { return tx.CreateSession(secret, s) })
	return secret, s
}

func sessionBySecret(db *store.DB, secret string) (*store.Session, error) {
	return txResult(db.View, func(tx *store.Tx) (*store.Session, error) { return tx.SessionBySecret(secret) })
}

func TestCreateSessionStoresOnlyHashAndSessionBySecretFindsIt(t *testing.T) {
	db := mustOpen(t)
	path := db.Path()
	u := mustCreateUser(t, db, "sess@example.com")
	secret, s := newSession(t, db, u.ID, t0.Add(24*time.Hour), t0.Add(time.Hour))
	if !bytes.Equal(s.Hash, store.HashSecret(secret)) {
		t.Fatalf("CreateSession set Hash %x, want HashSecret(secret) %x", s.Hash, store.HashSecret(secret))
	}

	got, err := sessionBySecret(db, secret)
	if err != nil {
		t.Fatalf("SessionBySecret: got %v, want nil", err)
	}
	if got.ID != s.ID || got.UserID != u.ID || got.IP != "192.0.2.1" || !got.ExpiresAt.Equal(s.ExpiresAt) || !got.IdleUntil.Equal(s.IdleUntil) {
		t.Fatalf("SessionBySecret: got %+v, want %+v", got, s)
	}
	if _, err := sessionBySecret(db, randomSecret(t)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SessionBySecret(unknown): got %v, want ErrNotFound", err)
	}
	if _, err := sessionBySecret(db, hexOf(store.HashSecret(secret))); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SessionBySecret(hex of the hash): got %v, want ErrNotFound", err)
	}
	mustClose(t, db)

	data := fileBytes(t, path)
	if bytes.Contains(data, []byte(secret)) {
		t.Fatalf("file contains the session secret %q, want only its hash", secret)
	}
	if !bytes.Contains(data, store.HashSecret(secret)) {
		t.Fatalf("file lacks HashSecret(secret): the check above proves nothing")
	}
}

func TestSessionValidHonoursBothExpiresAtAndIdleUntil(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "valid-sess@example.com")
	cases := []struct {
		name          string
		expires, idle time.Time
		now           time.Time
		want          bool
	}{
		{"both ahead", t0.Add(2 * time.Hour), t0.Add(time.Hour), t0.Add(30 * time.Minute), true},
		{"idle passed, absolute ahead", t0.Add(2 * time.Hour), t0.Add(time.Hour), t0.Add(90 * time.Minute), false},
		{"exactly at idle end", t0.Add(2 * time.Hour), t0.Add(time.Hour), t0.Add(time.Hour), false},
		{"just before idle end", t0.Add(2 * time.Hour), t0.Add(time.Hour), t0.Add(time.Hour - time.Nanosecond), true},
		{"absolute passed, idle ahead", t0.Add(time.Hour), t0.Add(2 * time.Hour), t0.Add(90 * time.Minute), false},
		{"exactly at absolute end", t0.Add(time.Hour), t0.Add(2 * time.Hour), t0.Add(time.Hour), false},
		{"just before absolute end", t0.Add(time.Hour), t0.Add(2 * time.Hour), t0.Add(time.Hour - time.Nanosecond), true},
		{"both passed", t0.Add(time.Hour), t0.Add(time.Hour), t0.Add(3 * time.Hour), false},
	}
	for _, c := range cases {
		secret, _ := newSession(t, db, u.ID, c.expires, c.idle)
		s, err := sessionBySecret(db, secret)
		if err != nil {
			t.Fatalf("%s: SessionBySecret: %v", c.name, err)
		}
		if got := s.Valid(c.now); got != c.want {
			t.Fatalf("%s: Valid(%v) with ExpiresAt %v IdleUntil %v: got %v, want %v", c.name, c.now, c.expires, c.idle, got, c.want)
		}
	}
}

func TestTouchSessionMovesLastSeenAndIdleUntilAndReindexesExpiry(t *testing.T) {
	db := mustOpen(t)
	path := db.Path()
	u := mustCreateUser(t, db, "touch@example.com")
	secret, s := newSession(t, db, u.ID, t0.Add(24*time.Hour), t0.Add(time.Hour))
	seen := t0.Add(50 * time.Minute)
	idle := seen.Add(time.Hour)
	later := t0.Add(90 * time.Minute) // past the old idle end, before the new one

	before, _ := sessionBySecret(db, secret)
	if before.Valid(later) {
		t.Fatalf("before touch: Valid(%v) got true, want false (idle end %v)", later, before.IdleUntil)
	}
	mustUpdate(t, db, func(tx *store.Tx) error { return tx.TouchSession(s.Hash, seen, idle) })

	got, err := sessionBySecret(db, secret)
	if err != nil {
		t.Fatalf("SessionBySecret after touch: %v", err)
	}
	if !got.LastSeenAt.Equal(seen) || !got.IdleUntil.Equal(idle) {
		t.Fatalf("after touch: LastSeenAt %v IdleUntil %v, want %v %v", got.LastSeenAt, got.IdleUntil, seen, idle)
	}
	if !got.ExpiresAt.Equal(s.ExpiresAt) || !got.CreatedAt.Equal(s.CreatedAt) || got.ID != s.ID {
		t.Fatalf("after touch: got %+v, want only LastSeenAt/IdleUntil changed from %+v", got, s)
	}
	if !got.Valid(later) {
		t.Fatalf("after touch: Valid(%v) got false, want true (idle end %v)", later, got.IdleUntil)
	}
	if n := countSessions(t, db, u.ID); n != 1 {
		t.Fatalf("CountUserSessions after touch: got %d, want 1", n)
	}

	err = db.Update(func(tx *store.Tx) error { return tx.TouchSession(store.HashSecret(randomSecret(t)), seen, idle) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TouchSession(unknown): got %v, want ErrNotFound", err)
	}
	mustClose(t, db)

	// sessions_by_expiry holds exactly one entry for the session, at the new end.
	keys := rawKeys(t, path, "sessions_by_expiry")
	if n := countKeys(keys, s.Hash, bytes.Contains); n != 1 {
		t.Fatalf("sessions_by_expiry entries for the session: got %d, want 1", n)
	}
	for _, k := range keys {
		if bytes.Contains(k, s.Hash) && !bytes.Equal(k, append(timeKey(idle), s.Hash...)) {
			t.Fatalf("sessions_by_expiry key: got %x, want %x", k, append(timeKey(idle), s.Hash...))
		}
	}
}

func countSessions(tb testing.TB, db *store.DB, userID uuid.UUID) int {
	tb.Helper()
	var n int
	mustView(tb, db, func(tx *store.Tx) error {
		n = tx.CountUserSessions(userID)
		ss, err := tx.UserSessions(userID)
		if err != nil {
			return err
		}
		if len(ss) != n {
			tb.Fatalf("UserSessions returned %d, CountUserSessions %d, want equal", len(ss), n)
		}
		return nil
	})
	return n
}

func TestDeleteUserSessionOfAnotherUserIsErrNotFoundAndDeletesNothing(t *testing.T) {
	db := mustOpen(t)
	owner := mustCreateUser(t, db, "owner@example.com")
	intruder := mustCreateUser(t, db, "intruder@example.com")
	secret, s := newSession(t, db, owner.ID, t0.Add(24*time.Hour), t0.Add(time.Hour))
	newSession(t, db, intruder.ID, t0.Add(24*time.Hour), t0.Add(time.Hour))

	for _, uid := range []uuid.UUID{intruder.ID, store.NewID(), uuid.Nil} {
		err := db.Update(func(tx *store.Tx) error { return tx.DeleteUserSession(uid, s.ID) })
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("DeleteUserSession(user %v, owner's session): got %v, want ErrNotFound", uid, err)
		}
	}
	if _, err := sessionBySecret(db, secret); err != nil {
		t.Fatalf("SessionBySecret after refused delete: got %v, want nil", err)
	}
	if n := countSessions(t, db, owner.ID); n != 1 {
		t.Fatalf("owner's sessions after refused delete: got %d, want 1", n)
	}
	if n := countSessions(t, db, intruder.ID); n != 1 {
		t.Fatalf("intruder's sessions after refused delete: got %d, want 1", n)
	}

	mustUpdate(t, db, func(tx *store.Tx) error { return tx.DeleteUserSession(owner.ID, s.ID) })
	if _, err := sessionBySecret(db, secret); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SessionBySecret after owner's delete: got %v, want ErrNotFound", err)
	}
	if n := countSessions(t, db, owner.ID); n != 0 {
		t.Fatalf("owner's sessions after delete: got %d, want 0", n)
	}
	if n := countSessions(t, db, intruder.ID); n != 1 {
		t.Fatalf("intruder's sessions after owner's delete: got %d, want 1", n)
	}
}

func TestDeleteUserSessionsWithKeepKeepsExactlyThatOne(t *testing.T) {
	db := mustOpen(t)
	path := db.Path()
	u := mustCreateUser(t, db, "many@example.com")
	other := mustCreateUser(t, db, "bystander@example.com")
	var secrets []string
	var sessions []*store.Session
	for i := 0; i < 4; i++ {
		secret, s := newSession(t, db, u.ID, t0.Add(24*time.Hour), t0.Add(time.Duration(i+1)*time.Hour))
		secrets = append(secrets, secret)
		sessions = append(sessions, s)
	}
	otherSecret, _ := newSession(t, db, other.ID, t0.Add(24*time.Hour), t0.Add(time.Hour))
	const keep = 2

	removed := mustTxResult(t, db.Update, func(tx *store.Tx) (int, error) {
		return tx.DeleteUserSessions(u.ID, store.HashSecret(secrets[keep]))
	})
	if removed != 3 {
		t.Fatalf("DeleteUserSessions removed %d, want 3", removed)
	}
	for i, secret := range secrets {
		_, err := sessionBySecret(db, secret)
		if i == keep && err != nil {
			t.Fatalf("SessionBySecret(kept): got %v, want nil", err)
		}
		if i != keep && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("SessionBySecret(session %d): got %v, want ErrNotFound", i, err)
		}
	}
	mustView(t, db, func(tx *store.Tx) error {
		ss, err := tx.UserSessions(u.ID)
		if err != nil {
			return err
		}
		if len(ss) != 1 || ss[0].ID != sessions[keep].ID {
			t.Fatalf("UserSessions after keep: got %d sessions %+v, want only %v", len(ss), ss, sessions[keep].ID)
		}
		if n := tx.CountUserSessions(u.ID); n != 1 {
			t.Fatalf("CountUserSessions after keep: got %d, want 1", n)
		}
		return nil
	})
	if _, err := sessionBySecret(db, otherSecret); err != nil {
		t.Fatalf("other user's session: got %v, want nil", err)
	}

	// keep == nil removes all of them.
	removed = mustTxResult(t, db.Update, func(tx *store.Tx) (int, error) { return tx.DeleteUserSessions(u.ID, nil) })
	if removed != 1 {
		t.Fatalf("DeleteUserSessions(nil) removed %d, want 1", removed)
	}
	if n := countSessions(t, db, u.ID); n != 0 {
		t.Fatalf("sessions after DeleteUserSessions(nil): got %d, want 0", n)
	}
	if n := countSessions(t, db, other.ID); n != 1 {
		t.Fatalf("other user's sessions: got %d, want 1", n)
	}
	mustClose(t, db)

	// Only the bystander's session is left in every session bucket.
	for _, bucket := range []string{"sessions", "sessions_by_user", "sessions_by_expiry"} {
		if n := len(rawKeys(t, path, bucket)); n != 1 {
			t.Fatalf("bucket %s: got %d keys, want 1", bucket, n)
		}
	}
}

func TestUserSessionsListsOldestFirst(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "order@example.com")
	var ids []uuid.UUID
	for i := 0; i < 5; i++ {
		_, s := newSession(t, db, u.ID, t0.Add(24*time.Hour), t0.Add(time.Hour))
		ids = append(ids, s.ID)
	}
	mustView(t, db, func(tx *store.Tx) error {
		ss, err := tx.UserSessions(u.ID)
		if err != nil {
			return err
		}
		if len(ss) != len(ids) {
			t.Fatalf("UserSessions: got %d, want %d", len(ss), len(ids))
		}
		for i := range ids {
			if ss[i].ID != ids[i] {
				t.Fatalf("UserSessions[%d]: got %v, want %v", i, ss[i].ID, ids[i])
			}
		}
		return nil
	})
}
