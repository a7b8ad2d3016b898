package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/store"
	"github.com/marbelle/marbelle/webhook"
)

// hookReceiver is a shop system receiving webhooks. It verifies every
// delivery with the Standard Webhooks reference library (not Marbelle's
// code), with each of its secrets, and keeps what it received.
type hookReceiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	secrets  []string
	got      []receivedHook
	failures []string
}

type receivedHook struct {
	Header http.Header
	Body   []byte
	Event  struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, s := range h.secrets {
			wh, err := standardwebhooks.NewWebhook(s)
			if err == nil {
				err = wh.Verify(body, r.Header)
			}
			if err != nil {
				h.failures = append(h.failures, fmt.Sprintf("%s: %v", r.Header.Get("webhook-id"), err))
			}
		}
		rec := receivedHook{Header: r.Header.Clone(), Body: body}
		if err := json.Unmarshal(body, &rec.Event); err != nil {
			h.failures = append(h.failures, "body: "+err.Error())
		}
		h.got = append(h.got, rec)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) trust(secrets ...string) {
	h.mu.Lock()
	h.secrets = secrets
	h.mu.Unlock()
}

// ofType returns what was received of one event type.
func (h *hookReceiver) ofType(typ string) []receivedHook {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []receivedHook
	for _, g := range h.got {
		if g.Event.Type == typ {
			out = append(out, g)
		}
	}
	return out
}

// wait waits until n events of typ have arrived and returns the newest.
func (h *hookReceiver) wait(t *testing.T, typ string, n int) receivedHook {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, func() error {
		if got := len(h.ofType(typ)); got < n {
			return fmt.Errorf("%d %s events, want %d", got, typ, n)
		}
		return nil
	})
	got := h.ofType(typ)
	return got[len(got)-1]
}

func (h *hookReceiver) mustVerifyAll(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.failures) > 0 {
		t.Fatalf("deliveries the reference library refused: %v", h.failures)
	}
}

// startWebhooks runs the delivery worker for ts. It signs with the real
// clock, since the reference library checks timestamps against it.
func startWebhooks(t *testing.T, ts *testServer) {
	d := webhook.NewDeliverer(ts.srv.WebhookQueue(), nil, webhook.Options{Interval: 20 * time.Millisecond, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Timeout: 2 * time.Second, FlushEvery: 5 * time.Millisecond, CoolDown: 5 * time.Millisecond})
	ts.srv.SetWebhookWaker(d.Notify)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// hookedServer starts a test server with the delivery worker running and
// returns it with a signed-in staff client.
func hookedServer(t *testing.T) (*testServer, *testClient) {
	t.Helper()
	ts := newTestServer(t, nil)
	startWebhooks(t, ts)
	return ts, ts.staff("staff@example.test")
}

// addHook adds an endpoint through the admin API and returns its view.
func addHook(t *testing.T, staff *testClient, url string, events ...string) webhookSecretView {
	t.Helper()
	var v webhookSecretView
	staff.do("POST", "/api/v1/admin/webhooks", map[string]any{"url": url, "events": events, "description": "test"}).want(t, 201, "").data(t, &v)
	if !strings.HasPrefix(v.Secret, webhook.SecretPrefix) {
		t.Fatalf("secret %q", v.Secret)
	}
	return v
}

// forbiddenInPayload are JSON keys no event may carry.
var forbiddenInPayload = []string{"password", "password_hash", "token", "secret", "session", "security_stamp", "set_password_token"}

func checkNoSecrets(t *testing.T, g receivedHook) {
	t.Helper()
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				for _, bad := range forbiddenInPayload {
					if strings.Contains(k, bad) {
						t.Errorf("%s payload carries %q: %s", g.Event.Type, k, g.Body)
					}
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var v any
	if err := json.Unmarshal(g.Body, &v); err != nil {
		t.Fatal(err)
	}
	walk(v)
}

// TestWebhookEveryEventFromItsFlow: every event type is produced by the
// flow that should produce it, through the real handlers, with the
// documented data, verified by the reference library, and none carries a
// hash, token or secret.
func TestWebhookEveryEventFromItsFlow(t *testing.T) {
	ts, staff := hookedServer(t)
	rc := newHookReceiver(t)
	v := addHook(t, staff, rc.srv.URL, "*")
	rc.trust(v.Secret)

	email := "hooked@example.test"
	anon := ts.client()
	anon.do("POST", "/api/v1/auth/register", registerBody(email, testPassword)).want(t, 201, "")
	reg := rc.wait(t, evUserRegistered, 1)
	anon.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": ts.waitToken(email, "verify-email", 1)}).want(t, 200, "")
	ver := rc.wait(t, evUserVerified, 1)
	var data struct {
		profile
		IsActive  bool      `json:"is_active"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	if err := json.Unmarshal(ver.Event.Data, &data); err != nil || data.Email != email || !data.EmailVerified || data.UpdatedAt.IsZero() || !data.IsActive {
		t.Fatalf("user.verified data %s (%v)", ver.Event.Data, err)
	}
	if reg.Header.Get("webhook-id") == ver.Header.Get("webhook-id") {
		t.Fatal("two events share a webhook-id")
	}
	c := ts.login(email, testPassword)
	c.do("PATCH", "/api/v1/auth/profile", map[string]string{"first_name": "Renamed"}).want(t, 200, "")
	if g := rc.wait(t, evUserUpdated, 1); !strings.Contains(string(g.Event.Data), `"first_name":"Renamed"`) {
		t.Fatalf("user.updated data %s", g.Event.Data)
	}

	var a1, a2 addressView
	c.do("POST", "/api/v1/auth/addresses", addressBody("Home")).want(t, 201, "").data(t, &a1)
	c.do("POST", "/api/v1/auth/addresses", addressBody("Work")).want(t, 201, "").data(t, &a2)
	rc.wait(t, evAddressCreated, 2)
	var ad struct {
		UserID  string      `json:"user_id"`
		Address addressView `json:"address"`
	}
	// Deliveries may arrive in either order (ordering is not promised).
	var created receivedHook
	for _, g := range rc.ofType(evAddressCreated) {
		if json.Unmarshal(g.Event.Data, &ad) == nil && ad.Address.ID == a2.ID {
			created = g
		}
	}
	if err := json.Unmarshal(created.Event.Data, &ad); err != nil || ad.UserID != ts.userID(email) || ad.Address.ID != a2.ID {
		t.Fatalf("address.created data %s (%v)", created.Event.Data, err)
	}
	c.do("PATCH", "/api/v1/auth/addresses/"+a2.ID.String(), map[string]string{"city": "Hamburg"}).want(t, 200, "")
	rc.wait(t, evAddressUpdated, 1)
	c.do("PATCH", "/api/v1/auth/addresses/"+a2.ID.String()+"/set-primary", nil).want(t, 200, "")
	rc.wait(t, evAddressPrimaryChanged, 1)
	c.do("DELETE", "/api/v1/auth/addresses/"+a1.ID.String(), nil).want(t, 200, "")
	rc.wait(t, evAddressDeleted, 1)

	c.do("POST", "/api/v1/auth/email-change/request", map[string]string{"new_email": "moved@example.test", "password": testPassword}).want(t, 200, "")
	anon.do("POST", "/api/v1/auth/email-change/confirm", map[string]string{"token": ts.waitToken("moved@example.test", "confirm-email-change", 1)}).want(t, 200, "")
	if g := rc.wait(t, evUserEmailChanged, 1); !strings.Contains(string(g.Event.Data), `"email":"moved@example.test"`) {
		t.Fatalf("user.email_changed data %s", g.Event.Data)
	}

	id := ts.userID("moved@example.test")
	staff.do("PATCH", "/api/v1/admin/users/"+id, map[string]any{"is_active": false}).want(t, 200, "")
	rc.wait(t, evUserDeactivated, 1)
	staff.do("PATCH", "/api/v1/admin/users/"+id, map[string]any{"is_active": true}).want(t, 200, "")
	rc.wait(t, evUserReactivated, 1)
	staff.do("DELETE", "/api/v1/admin/users/"+id, nil).want(t, 200, "")
	del := rc.wait(t, evUserDeleted, 1)
	if want := `{"id":"` + id + `","email":"moved@example.test"}`; string(del.Event.Data) != want {
		t.Fatalf("user.deleted data %s, want %s", del.Event.Data, want)
	}

	rc.mustVerifyAll(t)
	for _, typ := range webhookEventTypes() {
		if typ == evWebhookTest {
			continue
		}
		got := rc.ofType(typ)
		if len(got) == 0 {
			t.Errorf("no %s event", typ)
		}
		for _, g := range got {
			checkNoSecrets(t, g)
			if g.Event.Timestamp.IsZero() {
				t.Errorf("%s without timestamp", typ)
			}
		}
	}
}

// TestWebhookReferenceLibraryRefusesForgeries proves the receiver's
// library really checks: a tampered body, a wrong secret and an old
// timestamp each fail there.
func TestWebhookReferenceLibraryRefusesForgeries(t *testing.T) {
	_, staff := hookedServer(t)
	rc := newHookReceiver(t)
	v := addHook(t, staff, rc.srv.URL, evWebhookTest)
	rc.trust(v.Secret)
	var d deliveryView
	staff.do("POST", "/api/v1/admin/webhooks/"+v.ID.String()+"/test", nil).want(t, 202, "").data(t, &d)
	g := rc.wait(t, evWebhookTest, 1)
	rc.mustVerifyAll(t)
	if g.Header.Get("webhook-id") != d.EventID.String() {
		t.Fatalf("webhook-id %q, want the event id %s", g.Header.Get("webhook-id"), d.EventID)
	}
	wh, err := standardwebhooks.NewWebhook(v.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(g.Body, g.Header); err != nil {
		t.Fatalf("the genuine delivery: %v", err)
	}
	tampered := strings.Replace(string(g.Body), "webhook.test", "webhook.tesT", 1)
	if wh.Verify([]byte(tampered), g.Header) == nil {
		t.Error("a tampered body verified")
	}
	other, _ := standardwebhooks.NewWebhook(webhook.NewSecret())
	if other.Verify(g.Body, g.Header) == nil {
		t.Error("a wrong secret verified")
	}
	old := time.Now().Add(-time.Hour)
	sig, err := webhook.Sign([]string{v.Secret}, g.Header.Get("webhook-id"), old, g.Body)
	if err != nil {
		t.Fatal(err)
	}
	h := g.Header.Clone()
	h.Set("webhook-timestamp", strconv.FormatInt(old.Unix(), 10))
	h.Set("webhook-signature", sig)
	if wh.VerifyIgnoringTimestamp(g.Body, h) != nil {
		t.Fatal("Marbelle's signature over an old timestamp does not match the library's")
	}
	if wh.Verify(g.Body, h) == nil {
		t.Error("an old timestamp verified")
	}
}

// TestWebhookRotationSignsWithBoth: for 24 h after a rotation every
// delivery carries two signatures, each verifying with its own secret in
// the reference library; after that only the new one.
func TestWebhookRotationSignsWithBoth(t *testing.T) {
	ts, staff := hookedServer(t)
	rc := newHookReceiver(t)
	v := addHook(t, staff, rc.srv.URL, "*")
	var rot webhookSecretView
	staff.do("POST", "/api/v1/admin/webhooks/"+v.ID.String()+"/rotate-secret", nil).want(t, 200, "").data(t, &rot)
	if rot.Secret == v.Secret || !strings.HasPrefix(rot.Secret, webhook.SecretPrefix) || rot.RotationEndsAt == nil {
		t.Fatalf("rotation answer %+v", rot)
	}
	rc.trust(v.Secret, rot.Secret) // both must verify every delivery
	staff.do("POST", "/api/v1/admin/webhooks/"+v.ID.String()+"/test", nil).want(t, 202, "")
	g := rc.wait(t, evWebhookTest, 1)
	if n := len(strings.Fields(g.Header.Get("webhook-signature"))); n != 2 {
		t.Fatalf("%d signatures during the rotation, want 2: %q", n, g.Header.Get("webhook-signature"))
	}
	rc.mustVerifyAll(t)

	ts.clock.Advance(webhookRotationOverlap + time.Minute)
	staff = ts.staffClient() // the staff session idled out meanwhile
	rc.trust(rot.Secret)
	staff.do("POST", "/api/v1/admin/webhooks/"+v.ID.String()+"/test", nil).want(t, 202, "")
	g = rc.wait(t, evWebhookTest, 2)
	if n := len(strings.Fields(g.Header.Get("webhook-signature"))); n != 1 {
		t.Fatalf("%d signatures after the overlap, want 1", n)
	}
	rc.mustVerifyAll(t)
	if old, _ := standardwebhooks.NewWebhook(v.Secret); old.Verify(g.Body, g.Header) == nil {
		t.Fatal("the old secret still verifies after the overlap")
	}
}

// hookDeliveries reads every delivery in the store.
func hookDeliveries(t *testing.T, ts *testServer, endpoint string) []deliveryView {
	t.Helper()
	var out []deliveryView
	ts.staffClient().do("GET", "/api/v1/admin/webhooks/"+endpoint+"/deliveries", nil).want(t, 200, "").data(t, &out)
	return out
}

// TestWebhookRolledBackChangeHasNoEvent: an address create refused beyond
// the limit of 10 rolls back, and with it its event.
func TestWebhookRolledBackChangeHasNoEvent(t *testing.T) {
	ts := newTestServer(t, nil)
	staff := ts.staff("staff@example.test")
	v := addHook(t, staff, "http://127.0.0.1:9/", evAddressCreated) // never delivered: no worker runs
	c := ts.addressUser("full@example.test")
	for i := range 10 {
		c.do("POST", "/api/v1/auth/addresses", addressBody("A"+strconv.Itoa(i))).want(t, 201, "")
	}
	c.do("POST", "/api/v1/auth/addresses", addressBody("Eleventh")).want(t, 400, CodeValidation)
	if got := hookDeliveries(t, ts, v.ID.String()); len(got) != 10 {
		t.Fatalf("%d deliveries, want 10 (the refused create must emit none)", len(got))
	}
}

// staffClient signs in the staff account made by ts.staff.
func (ts *testServer) staffClient() *testClient { return ts.login("staff@example.test", testPassword) }

// TestWebhookEndpointInputRefused: bad URLs and unknown events are 400
// naming the field; production refuses plain http to other hosts.
func TestWebhookEndpointInputRefused(t *testing.T) {
	ts := newTestServer(t, nil)
	staff := ts.staff("staff@example.test")
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"ftp", map[string]any{"url": "ftp://example.test/", "events": []string{"*"}}, "url"},
		{"userinfo", map[string]any{"url": "https://u:p@example.test/", "events": []string{"*"}}, "url"},
		{"long", map[string]any{"url": "https://example.test/" + strings.Repeat("a", 2000), "events": []string{"*"}}, "url"},
		{"relative", map[string]any{"url": "/hook", "events": []string{"*"}}, "url"},
		{"unknown event", map[string]any{"url": "https://example.test/", "events": []string{"user.exploded"}}, "events"},
		{"no events", map[string]any{"url": "https://example.test/", "events": []string{}}, "events"},
	} {
		r := staff.do("POST", "/api/v1/admin/webhooks", tc.body).want(t, 400, CodeValidation)
		if len(r.Env.Errors[tc.field]) == 0 {
			t.Errorf("%s: errors %v, want one on %s", tc.name, r.Env.Errors, tc.field)
		}
		if tc.name == "unknown event" && !strings.Contains(r.Env.Errors["events"][0], "user.exploded") {
			t.Errorf("the unknown event is not named: %v", r.Env.Errors)
		}
	}
	prod := &Config{Env: "production"}
	if checkWebhookURL("http://shop.example/hook", prod) == "" || checkWebhookURL("http://127.0.0.1:8000/hook", prod) != "" {
		t.Error("production http rule")
	}
	prod.WebhookAllowHTTP = true
	if checkWebhookURL("http://shop.example/hook", prod) != "" {
		t.Error("MARBELLE_WEBHOOK_ALLOW_HTTP=true still refuses http")
	}
}

// TestWebhookAdminLifecycle: list, view, patch, disable (no deliveries),
// retry, delete; the secret appears only in the create and rotate answers;
// each change is audited.
func TestWebhookAdminLifecycle(t *testing.T) {
	ts := newTestServer(t, nil)
	staff := ts.staff("staff@example.test")
	v := addHook(t, staff, "https://hooks.example.test/in", "user.updated")
	r := staff.do("GET", "/api/v1/admin/webhooks", nil).want(t, 200, "")
	if strings.Contains(string(r.Body), v.Secret) || strings.Contains(string(r.Body), "whsec_") {
		t.Fatal("the list shows a secret")
	}
	path := "/api/v1/admin/webhooks/" + v.ID.String()
	var got webhookView
	staff.do("PATCH", path, map[string]any{"enabled": false, "events": []string{"*"}}).want(t, 200, "").data(t, &got)
	if got.Enabled || !slices.Equal(got.Events, []string{"*"}) {
		t.Fatalf("after PATCH %+v", got)
	}
	staff.do("GET", path, nil).want(t, 200, "")
	c := ts.login("staff@example.test", testPassword)
	c.do("PATCH", "/api/v1/auth/profile", map[string]string{"first_name": "Other"}).want(t, 200, "")
	if d := hookDeliveries(t, ts, v.ID.String()); len(d) != 0 {
		t.Fatalf("a disabled endpoint got %d deliveries", len(d))
	}
	var d deliveryView
	staff.do("POST", path+"/test", nil).want(t, 202, "").data(t, &d)
	staff.do("POST", "/api/v1/admin/webhook-deliveries/"+d.ID.String()+"/retry", nil).want(t, 400, CodeValidation) // not tried yet
	err := ts.db.Update(func(tx *store.Tx) error {
		return tx.UpdateDelivery(d.ID, func(x *store.Delivery) {
			x.Status, x.Attempts, x.DoneAt, x.NextAttemptAt = store.DeliveryFailed, 9, ts.clock.Now(), time.Time{}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var again deliveryView
	staff.do("POST", "/api/v1/admin/webhook-deliveries/"+d.ID.String()+"/retry", nil).want(t, 200, "").data(t, &again)
	if again.Status != "pending" || again.Attempts != 0 || again.EventID != d.EventID {
		t.Fatalf("after retry %+v", again)
	}
	staff.do("DELETE", path, nil).want(t, 200, "")
	staff.do("GET", path, nil).want(t, 404, CodeNotFound)
	var events []string
	for _, e := range secAudit(t, ts) {
		if strings.HasPrefix(e.Event, "webhook_") {
			events = append(events, e.Event)
			for _, val := range e.Detail {
				if strings.Contains(val, "whsec_") {
					t.Fatal("an audit event carries a secret")
				}
			}
		}
	}
	if want := []string{"webhook_created", "webhook_updated", "webhook_deleted"}; !slices.Equal(events, want) && !slices.Equal(events, []string{"webhook_deleted", "webhook_updated", "webhook_created"}) {
		t.Fatalf("audit %v, want %v", events, want)
	}
}

// TestWebhookConcurrentChanges: many goroutines change addresses at once
// with two endpoints; every committed change has exactly one delivery per
// endpoint, and every delivery arrives.
func TestWebhookConcurrentChanges(t *testing.T) {
	ts, staff := hookedServer(t)
	rc1, rc2 := newHookReceiver(t), newHookReceiver(t)
	v1 := addHook(t, staff, rc1.srv.URL, evAddressCreated)
	v2 := addHook(t, staff, rc2.srv.URL, "*")
	rc1.trust(v1.Secret)
	rc2.trust(v2.Secret)
	const users, each = 8, 5
	clients := make([]*testClient, users)
	for i := range clients {
		clients[i] = ts.addressUser("c" + strconv.Itoa(i) + "@example.test")
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		for j := range each {
			wg.Go(func() {
				c.do("POST", "/api/v1/auth/addresses", addressBody("L"+strconv.Itoa(j))).want(t, 201, "")
			})
		}
	}
	wg.Wait()
	rc1.wait(t, evAddressCreated, users*each)
	rc2.wait(t, evAddressCreated, users*each)
	rc1.mustVerifyAll(t)
	rc2.mustVerifyAll(t)
	ids := map[string]bool{}
	for _, g := range rc1.ofType(evAddressCreated) {
		ids[g.Header.Get("webhook-id")] = true
	}
	for _, g := range rc2.ofType(evAddressCreated) {
		if !ids[g.Header.Get("webhook-id")] {
			t.Fatal("the two endpoints got different event ids for one event")
		}
	}
	if len(ids) != users*each {
		t.Fatalf("%d distinct events, want %d", len(ids), users*each)
	}
}
