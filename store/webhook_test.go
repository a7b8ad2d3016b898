package store_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

// TestWebhookDeliveryLifecycle: an event becomes one delivery per
// enabled endpoint that wants it; due, delivered, requeued, swept; an
// endpoint's deletion takes its deliveries; Check agrees at each step.
func TestWebhookDeliveryLifecycle(t *testing.T) {
	db := mustOpen(t)
	all := &store.Webhook{ID: store.NewID(), URL: "https://a.example/", Events: []string{"*"}, Enabled: true, Secret: []byte("sealed")}
	some := &store.Webhook{ID: store.NewID(), URL: "https://b.example/", Events: []string{"user.deleted"}, Enabled: true, Secret: []byte("sealed")}
	off := &store.Webhook{ID: store.NewID(), URL: "https://c.example/", Events: []string{"*"}, Enabled: false, Secret: []byte("sealed")}
	mustUpdate(t, db, func(tx *store.Tx) error {
		for _, w := range []*store.Webhook{all, some, off} {
			if err := tx.PutWebhook(w); err != nil {
				return err
			}
		}
		n, err := tx.EmitWebhookEvent("address.created", emptyPayload, t0)
		if n != 1 {
			t.Errorf("address.created: %d deliveries, want 1", n)
		}
		return err
	})
	mustCheck(t, db)
	var d store.Delivery
	mustView(t, db, func(tx *store.Tx) error {
		room := func(uuid.UUID) int { return 2 }
		never := func(uuid.UUID) bool { return false }
		if due, _ := tx.DueDeliveries(t0.Add(-time.Second), 10, room, never); len(due) != 0 {
			t.Errorf("due before its time: %d", len(due))
		}
		due, err := tx.DueDeliveries(t0, 10, room, never)
		if len(due) != 1 || due[0].EndpointID != all.ID {
			t.Fatalf("due %v %v", due, err)
		}
		if skipped, _ := tx.DueDeliveries(t0, 10, room, func(uuid.UUID) bool { return true }); len(skipped) != 0 {
			t.Errorf("skip ignored")
		}
		d = due[0]
		return err
	})
	mustUpdate(t, db, func(tx *store.Tx) error {
		if _, err := tx.RequeueDelivery(d.ID, t0); !errors.Is(err, store.ErrNotRequeueable) {
			t.Errorf("requeue of an untried delivery: %v", err)
		}
		return tx.UpdateDelivery(d.ID, func(x *store.Delivery) {
			x.Status, x.Attempts, x.DoneAt, x.NextAttemptAt = store.DeliveryDelivered, 1, t0, time.Time{}
		})
	})
	mustCheck(t, db)
	mustUpdate(t, db, func(tx *store.Tx) error {
		got, err := tx.RequeueDelivery(d.ID, t0.Add(time.Hour))
		if err == nil && (got.Status != store.DeliveryPending || got.Attempts != 0 || !got.RetrySince.Equal(t0.Add(time.Hour))) {
			t.Errorf("requeued %+v", got)
		}
		if err != nil {
			return err
		}
		return tx.UpdateDelivery(d.ID, func(x *store.Delivery) {
			x.Status, x.Attempts, x.DoneAt, x.NextAttemptAt = store.DeliveryFailed, 3, t0.Add(2*time.Hour), time.Time{}
		})
	})
	mustCheck(t, db)
	mustUpdate(t, db, func(tx *store.Tx) error {
		n, more, err := tx.SweepWebhookDeliveries(t0.Add(2*time.Hour), 10)
		if n != 0 || more || err != nil {
			t.Errorf("swept %d before the cutoff (%v)", n, err)
		}
		n, more, err = tx.SweepWebhookDeliveries(t0.Add(3*time.Hour), 10)
		if n != 1 || more || err != nil {
			t.Errorf("swept %d, more %v, %v; want 1", n, more, err)
		}
		return err
	})
	mustCheck(t, db)
	mustUpdate(t, db, func(tx *store.Tx) error {
		if _, err := tx.EmitWebhookEvent("user.deleted", emptyPayload, t0); err != nil {
			return err
		}
		if err := tx.DeleteWebhook(all.ID); err != nil {
			return err
		}
		left, _ := tx.WebhookDeliveries(some.ID, 10)
		if gone, _ := tx.WebhookDeliveries(all.ID, 10); len(gone) != 0 || len(left) != 1 {
			t.Errorf("after deleting an endpoint: %d of its deliveries left, %d of the other's", len(gone), len(left))
		}
		return nil
	})
	mustCheck(t, db)
}

// TestWebhookEmitConcurrent: many goroutines emit at once; each event has
// exactly its deliveries and the indexes stay whole (under -race).
func TestWebhookEmitConcurrent(t *testing.T) {
	db := mustOpen(t)
	mustUpdate(t, db, func(tx *store.Tx) error {
		for range 3 {
			if err := tx.PutWebhook(&store.Webhook{ID: store.NewID(), URL: "https://a.example/", Events: []string{"*"}, Enabled: true, Secret: []byte("sealed")}); err != nil {
				return err
			}
		}
		return nil
	})
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if err := db.Batch(func(tx *store.Tx) error {
				_, err := tx.EmitWebhookEvent("user.updated", emptyPayload, t0)
				return err
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	mustView(t, db, func(tx *store.Tx) error {
		if n, oldest := tx.PendingDeliveries(); n != 96 || time.Since(oldest) > time.Minute {
			t.Errorf("pending %d (oldest %v), want 96", n, oldest)
		}
		return nil
	})
	mustCheck(t, db)
}

// emptyPayload is an event's payload where its content does not matter.
func emptyPayload() ([]byte, error) { return []byte(`{}`), nil }
