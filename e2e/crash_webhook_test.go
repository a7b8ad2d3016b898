package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/store"
)

// crashHooks is the webhook side of the crash test: an endpoint for every
// event, added with `marbelle webhook add` before the first start, and a
// receiver that verifies each delivery with the Standard Webhooks
// reference library and keeps the events by webhook-id. It answers a
// little slowly, so that deliveries are in flight when the kill comes.
type crashHooks struct {
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	events   map[string]crashHookEvent // webhook-id → the event
	failures []string
}

type crashHookEvent struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func newCrashHooks(t *testing.T, bin, dir string) *crashHooks {
	t.Helper()
	h := &crashHooks{events: map[string]crashHookEvent{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		time.Sleep(2 * time.Millisecond)
		wh, err := standardwebhooks.NewWebhook(h.secret)
		if err == nil {
			err = wh.Verify(body, r.Header)
		}
		var e crashHookEvent
		if err == nil {
			err = json.Unmarshal(body, &e)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil {
			h.failures = append(h.failures, err.Error())
			return
		}
		h.events[r.Header.Get("webhook-id")] = e
	}))
	t.Cleanup(h.srv.Close)
	cmd := exec.Command(bin, "webhook", "add", "--url", h.srv.URL, "--event", "*", "--description", "crash test")
	cmd.Env = childEnv(dir, nil)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("marbelle webhook add: %v", err)
	}
	h.secret = strings.TrimSpace(string(out))
	return h
}

// waitDrained waits until the server's webhook queue is empty, read from
// its metrics (the store is held by the server meanwhile).
func waitDrained(t *testing.T, metricsAddr string) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, func() error {
		res, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if !strings.Contains(string(b), "\nmarbelle_webhook_queue_depth 0\n") {
			return fmt.Errorf("webhook deliveries still pending")
		}
		return nil
	})
}

// verify checks, on the stopped store, that every committed account and
// address has its event delivered (at least once), that every delivery in
// the store was delivered, and that the receiver got no event the store
// does not hold (none invented). It returns how many events it checked.
func (h *crashHooks) verify(t *testing.T, path string) int {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.failures) > 0 {
		t.Errorf("deliveries the reference library refused: %v", h.failures[:min(5, len(h.failures))])
	}
	got := map[string]map[string]bool{} // type → subject id → received
	for _, e := range h.events {
		var d struct {
			ID      string `json:"id"`
			Address struct {
				ID string `json:"id"`
			} `json:"address"`
		}
		json.Unmarshal(e.Data, &d)
		if got[e.Type] == nil {
			got[e.Type] = map[string]bool{}
		}
		got[e.Type][d.ID+d.Address.ID] = true
	}
	db, err := store.Open(path, store.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open the store read-only: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *store.Tx) error {
		hooks, err := tx.Webhooks()
		if err != nil || len(hooks) != 1 {
			return fmt.Errorf("endpoints %d: %v", len(hooks), err)
		}
		stored := map[string]bool{}
		list, err := tx.WebhookDeliveries(hooks[0].ID, 1<<30)
		if err != nil {
			return err
		}
		for _, d := range list {
			stored[d.EventID.String()] = true
			if d.Status != store.DeliveryDelivered {
				t.Errorf("delivery %s (%s) is %s after the drain", d.ID, d.Type, d.Status)
			}
			if _, ok := h.events[d.EventID.String()]; !ok {
				t.Errorf("event %s (%s) is committed but was never received", d.EventID, d.Type)
			}
		}
		for id, e := range h.events {
			if !stored[id] {
				t.Errorf("received %s %s, which no committed change emitted", e.Type, id)
			}
		}
		page, err := tx.Users("", 0, 1<<30)
		if err != nil {
			return err
		}
		for _, u := range page.Users {
			if !got["user.registered"][u.ID.String()] {
				t.Errorf("user %s is committed, but no user.registered event arrived", u.ID)
			}
			if u.EmailVerified && !got["user.verified"][u.ID.String()] {
				t.Errorf("user %s is verified, but no user.verified event arrived", u.ID)
			}
			addrs, _, err := tx.Addresses(u.ID)
			if err != nil {
				return err
			}
			for _, a := range addrs {
				if !got["address.created"][a.ID.String()] {
					t.Errorf("address %s is committed, but no address.created event arrived", a.ID)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(h.events)
}
