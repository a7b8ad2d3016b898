package store_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/marbelle/marbelle/store"
)

// TestWebhookRecordSealedRoundTripAndClearRefused: an endpoint reads back
// as written, and one whose secret is not sealed is never written.
func TestWebhookRecordSealedRoundTripAndClearRefused(t *testing.T) {
	db := mustOpen(t)
	w := &store.Webhook{ID: store.NewID(), URL: "https://a.example/h", Events: []string{"user.deleted", "address.created"}, Description: "orders",
		Enabled: true, Secret: []byte("sealed-1"), PreviousSecret: []byte("sealed-0"), PreviousUntil: t0.Add(time.Hour), CreatedAt: t0, UpdatedAt: t0.Add(time.Minute)}
	mustUpdate(t, db, func(tx *store.Tx) error { return tx.PutWebhook(w) })
	mustView(t, db, func(tx *store.Tx) error {
		got, err := tx.Webhook(w.ID)
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Errorf("Webhook: got %+v, %v\nwant %+v", got, err, w)
		}
		return nil
	})
	for _, bad := range []*store.Webhook{
		{ID: store.NewID(), URL: "https://a.example/"},
		{ID: store.NewID(), URL: "https://a.example/", Secret: []byte("x"), Clear: &store.ClearWebhookSecrets{Secret: "whsec_x"}},
	} {
		if err := db.Update(func(tx *store.Tx) error { return tx.PutWebhook(bad) }); err == nil {
			t.Errorf("PutWebhook(%+v): stored a secret that is not sealed", bad)
		}
	}
	mustCheck(t, db)
}

// TestWebhookClearRecordsSealedOnce: a record in the clear JSON form of
// schema 5 reads with Clear set; SealWebhookSecrets rewrites it sealed
// (both secrets, bound by the caller's seal), in batches, and a second run
// finds nothing to do.
func TestWebhookClearRecordsSealedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db := mustOpenPath(t, path)
	mustClose(t, db)
	ids := []uuid.UUID{store.NewID(), store.NewID(), store.NewID()}
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		for i, id := range ids {
			rec := map[string]any{"id": id, "url": "https://a.example/", "events": []string{"*"}, "enabled": true, "secret": "whsec_clear" + string(rune('A'+i)),
				"created_at": t0, "updated_at": t0}
			if i == 0 {
				rec["previous_secret"], rec["previous_until"] = "whsec_old", t0.Add(time.Hour)
			}
			v, _ := json.Marshal(rec)
			if err := tx.Bucket([]byte("webhooks")).Put(id[:], v); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = bdb.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	db = mustOpenPath(t, path)
	mustCheck(t, db)
	mustView(t, db, func(tx *store.Tx) error {
		w, err := tx.Webhook(ids[0])
		if err != nil || w.Clear == nil || w.Clear.Secret != "whsec_clearA" || w.Clear.PreviousSecret != "whsec_old" || !w.Rotating(t0) {
			t.Errorf("clear record: got %+v, %v", w, err)
		}
		return nil
	})
	seal := func(id uuid.UUID, s string) ([]byte, error) {
		return []byte("sealed:" + id.String() + ":" + s[len(s)-1:]), nil
	}
	total := 0
	for more := true; more; {
		var n int
		mustUpdate(t, db, func(tx *store.Tx) error { n, more, err = tx.SealWebhookSecrets(2, seal); return err })
		total += n
	}
	if total != 3 {
		t.Errorf("sealed %d records, want 3", total)
	}
	mustUpdate(t, db, func(tx *store.Tx) error {
		if n, more, err := tx.SealWebhookSecrets(2, seal); n != 0 || more || err != nil {
			t.Errorf("second run: %d, %v, %v; want nothing to do", n, more, err)
		}
		return nil
	})
	mustView(t, db, func(tx *store.Tx) error {
		w, err := tx.Webhook(ids[0])
		if err != nil || w.Clear != nil || string(w.Secret) != "sealed:"+ids[0].String()+":A" || string(w.PreviousSecret) != "sealed:"+ids[0].String()+":d" {
			t.Errorf("sealed record: got %+v, %v", w, err)
		}
		return nil
	})
	mustCheck(t, db)
	mustClose(t, db)
	for k, v := range rawValues(t, path, "webhooks") {
		if bytes.Contains(v, []byte("whsec_")) || v[0] != 0xE1 {
			t.Errorf("webhook %x stored as %q", k, v)
		}
	}
}
