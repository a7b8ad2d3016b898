package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

func queue(tb testing.TB, db *store.DB, next time.Time) *store.Mail {
	tb.Helper()
	m := &store.Mail{
		ID: store.NewID(), Kind: "verify_email", From: "noreply@example.com", To: "to@example.com",
		Subject: "Hello", Sealed: []byte("sealed-body"), NextAttemptAt: next, CreatedAt: t0,
	}
	mustUpdate(tb, db, func(tx *store.Tx) error { return tx.QueueMail(m) })
	return m
}

func dueIDs(tb testing.TB, db *store.DB, now time.Time, limit int) []uuid.UUID {
	tb.Helper()
	ms := mustTxResult(tb, db.View, func(tx *store.Tx) ([]store.Mail, error) { return tx.DueMail(now, limit) })
	var ids []uuid.UUID
	for _, m := range ms {
		if m.Status != store.MailQueued {
			tb.Fatalf("DueMail returned mail %v with status %q, want queued", m.ID, m.Status)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

func getMail(tb testing.TB, db *store.DB, id uuid.UUID) *store.Mail {
	tb.Helper()
	return mustTxResult(tb, db.View, func(tx *store.Tx) (*store.Mail, error) { return tx.Mail(id) })
}

func isDue(tb testing.TB, db *store.DB, id uuid.UUID, now time.Time) bool {
	tb.Helper()
	for _, got := range dueIDs(tb, db, now, 1000) {
		if got == id {
			return true
		}
	}
	return false
}

func TestQueueMailIsDueAtNextAttemptAtAndNotBefore(t *testing.T) {
	db := mustOpen(t)
	at := t0.Add(time.Minute)
	m := queue(t, db, at)
	if m.Status != store.MailQueued {
		t.Fatalf("QueueMail set Status %q, want %q", m.Status, store.MailQueued)
	}
	if isDue(t, db, m.ID, at.Add(-time.Nanosecond)) {
		t.Fatalf("DueMail(1ns before NextAttemptAt): got the mail, want it not due")
	}
	if !isDue(t, db, m.ID, at) {
		t.Fatalf("DueMail(exactly NextAttemptAt): mail missing, want it due")
	}
	if !isDue(t, db, m.ID, at.Add(time.Hour)) {
		t.Fatalf("DueMail(after NextAttemptAt): mail missing, want it due")
	}
	got := getMail(t, db, m.ID)
	if got.To != "to@example.com" || string(got.Sealed) != "sealed-body" || got.Status != store.MailQueued {
		t.Fatalf("Mail: got %+v, want the queued mail", got)
	}
	if err := db.View(func(tx *store.Tx) error { _, err := tx.Mail(store.NewID()); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Mail(unknown): got %v, want ErrNotFound", err)
	}
}

func TestRetryMailMovesItLaterNotDueNowDueAfter(t *testing.T) {
	db := mustOpen(t)
	m := queue(t, db, t0)
	next := t0.Add(10 * time.Minute)
	mustUpdate(t, db, func(tx *store.Tx) error { return tx.RetryMail(m.ID, 1, "451 try later", next) })

	if isDue(t, db, m.ID, t0) {
		t.Fatalf("DueMail(old time) after RetryMail: got the mail, want it not due")
	}
	if isDue(t, db, m.ID, next.Add(-time.Nanosecond)) {
		t.Fatalf("DueMail(just before retry time): got the mail, want it not due")
	}
	if ids := dueIDs(t, db, next, 10); len(ids) != 1 || ids[0] != m.ID {
		t.Fatalf("DueMail(retry time): got %v, want exactly [%v] (no stale index entry)", ids, m.ID)
	}
	got := getMail(t, db, m.ID)
	if got.Status != store.MailQueued || got.Attempts != 1 || got.LastError != "451 try later" || !got.NextAttemptAt.Equal(next) {
		t.Fatalf("after RetryMail: got %+v", got)
	}
	if string(got.Sealed) != "sealed-body" {
		t.Fatalf("after RetryMail: Sealed %q, want kept", got.Sealed)
	}
}

func TestMarkMailSentErasesSealedSetsSentAndNotDue(t *testing.T) {
	db := mustOpen(t)
	path := db.Path()
	m := queue(t, db, t0)
	sentAt := t0.Add(time.Second)
	mustUpdate(t, db, func(tx *store.Tx) error { return tx.MarkMailSent(m.ID, sentAt) })

	got := getMail(t, db, m.ID)
	if len(got.Sealed) != 0 {
		t.Fatalf("after MarkMailSent: Sealed %q, want empty", got.Sealed)
	}
	if got.Status != store.MailSent || !got.SentAt.Equal(sentAt) || got.Attempts != 1 {
		t.Fatalf("after MarkMailSent: Status %q SentAt %v Attempts %d, want sent %v 1", got.Status, got.SentAt, got.Attempts, sentAt)
	}
	if isDue(t, db, m.ID, t0.Add(24*time.Hour)) {
		t.Fatalf("DueMail after MarkMailSent: got the mail, want it not due")
	}
	mustClose(t, db)
	if n := len(rawKeys(t, path, "outbox_due")); n != 0 {
		t.Fatalf("outbox_due after MarkMailSent: got %d keys, want 0", n)
	}
}

func TestFailMailSetsFailedAndNotDue(t *testing.T) {
	db := mustOpen(t)
	m := queue(t, db, t0)
	mustUpdate(t, db, func(tx *store.Tx) error { return tx.FailMail(m.ID, 5, "550 no such user") })
	got := getMail(t, db, m.ID)
	if got.Status != store.MailFailed || got.Attempts != 5 || got.LastError != "550 no such user" {
		t.Fatalf("after FailMail: got %+v, want failed, 5 attempts, last error", got)
	}
	if isDue(t, db, m.ID, t0.Add(24*time.Hour)) {
		t.Fatalf("DueMail after FailMail: got the mail, want it not due")
	}
	for name, fn := range map[string]func(*store.Tx) error{
		"MarkMailSent": func(tx *store.Tx) error { return tx.MarkMailSent(store.NewID(), t0) },
		"RetryMail":    func(tx *store.Tx) error { return tx.RetryMail(store.NewID(), 1, "", t0) },
		"FailMail":     func(tx *store.Tx) error { return tx.FailMail(store.NewID(), 1, "") },
	} {
		if err := db.Update(fn); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s(unknown): got %v, want ErrNotFound", name, err)
		}
	}
}

func TestDueMailHonoursLimitAndEarliestFirstOrder(t *testing.T) {
	db := mustOpen(t)
	// Queued out of time order; ids are time ordered, so id order differs from due order.
	offsets := []time.Duration{5, 1, 4, 2, 3, 9}
	byOffset := map[time.Duration]uuid.UUID{}
	for _, off := range offsets {
		m := queue(t, db, t0.Add(off*time.Minute))
		byOffset[off] = m.ID
	}
	now := t0.Add(5 * time.Minute) // the 9-minute one is not due

	all := dueIDs(t, db, now, 100)
	want := []uuid.UUID{byOffset[1], byOffset[2], byOffset[3], byOffset[4], byOffset[5]}
	if len(all) != len(want) {
		t.Fatalf("DueMail(limit 100): got %d mails, want %d", len(all), len(want))
	}
	for i := range want {
		if all[i] != want[i] {
			t.Fatalf("DueMail order: position %d got %v, want %v (earliest first)", i, all[i], want[i])
		}
	}
	three := dueIDs(t, db, now, 3)
	if len(three) != 3 {
		t.Fatalf("DueMail(limit 3): got %d, want 3", len(three))
	}
	for i := range three {
		if three[i] != want[i] {
			t.Fatalf("DueMail(limit 3) position %d: got %v, want %v", i, three[i], want[i])
		}
	}
	if got := dueIDs(t, db, now, 0); len(got) != 0 {
		t.Fatalf("DueMail(limit 0): got %d, want 0", len(got))
	}
	if got := dueIDs(t, db, t0, 100); len(got) != 0 {
		t.Fatalf("DueMail(before all): got %d, want 0", len(got))
	}
}

func TestDeleteUserRemovesItsOutboxEntriesButNotOtherUsersOrUserlessMail(t *testing.T) {
	db := mustOpen(t)
	gone := mustCreateUser(t, db, "mail-gone@example.com")
	kept := mustCreateUser(t, db, "mail-kept@example.com")
	queueFor := func(userID uuid.UUID) *store.Mail {
		m := &store.Mail{ID: store.NewID(), UserID: userID, Kind: "k", To: "x@example.com", Sealed: []byte("s"), NextAttemptAt: t0, CreatedAt: t0}
		mustUpdate(t, db, func(tx *store.Tx) error { return tx.QueueMail(m) })
		return m
	}
	goneQueued, goneSent := queueFor(gone.ID), queueFor(gone.ID)
	mustUpdate(t, db, func(tx *store.Tx) error { return tx.MarkMailSent(goneSent.ID, t0) })
	keptQueued, userless := queueFor(kept.ID), queueFor(uuid.Nil)

	mustUpdate(t, db, func(tx *store.Tx) error { return tx.DeleteUser(gone.ID) })

	mustView(t, db, func(tx *store.Tx) error {
		for _, m := range []*store.Mail{goneQueued, goneSent} {
			if _, err := tx.Mail(m.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Mail(deleted user's %v): got %v, want ErrNotFound", m.ID, err)
			}
		}
		for _, m := range []*store.Mail{keptQueued, userless} {
			if _, err := tx.Mail(m.ID); err != nil {
				t.Fatalf("Mail(%v, not the deleted user's): got %v, want nil", m.ID, err)
			}
		}
		return nil
	})
	due := dueIDs(t, db, t0.Add(time.Hour), 100)
	if len(due) != 2 {
		t.Fatalf("DueMail after DeleteUser: got %d mails, want 2 (kept user's and user-less)", len(due))
	}
	for _, id := range due {
		if id != keptQueued.ID && id != userless.ID {
			t.Fatalf("DueMail after DeleteUser: got %v, want only %v and %v", id, keptQueued.ID, userless.ID)
		}
	}
}
