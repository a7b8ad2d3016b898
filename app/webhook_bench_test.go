package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/marbelle/marbelle/store"
	"github.com/marbelle/marbelle/webhook"
)

// benchHooks sets up the endpoint of a webhook benchmark: none, one that
// answers at once ("live"), or one whose port refuses ("dead"), with the
// delivery worker running as in production.
func benchHooks(b *testing.B, ts *testServer, kind string) {
	if kind == "none" {
		return
	}
	url := "http://127.0.0.1:1/"
	if kind == "live" {
		rc := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		b.Cleanup(rc.Close)
		url = rc.URL
	}
	id := store.NewID()
	sealed, err := sealWebhookSecret(ts.srv.sealer, id, webhook.NewSecret())
	if err != nil {
		b.Fatal(err)
	}
	err = ts.db.Update(func(tx *store.Tx) error {
		return tx.PutWebhook(&store.Webhook{ID: id, URL: url, Events: []string{"*"}, Enabled: true, Secret: sealed})
	})
	if err != nil {
		b.Fatal(err)
	}
	d := webhook.NewDeliverer(ts.srv.WebhookQueue(), nil, webhook.Options{Timeout: time.Second})
	ts.srv.SetWebhookWaker(d.Notify)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
}

// BenchmarkWebhookAddressCreate: BenchmarkAddressCreate with no endpoint,
// a live one and a dead one (issue 17: emitting must cost under 10 %, a
// dead endpoint nothing).
func BenchmarkWebhookAddressCreate(b *testing.B) {
	for _, kind := range []string{"none", "live", "dead"} {
		b.Run(kind, func(b *testing.B) {
			ts, h, host, cookie := benchSetup(b, 0)
			benchHooks(b, ts, kind)
			benchAddressCreate(b, ts, h, host, cookie)
		})
	}
}

// BenchmarkWebhookProfilePatch: a profile edit (one user.updated event)
// with no endpoint, a live one and a dead one.
func BenchmarkWebhookProfilePatch(b *testing.B) {
	for _, kind := range []string{"none", "live", "dead"} {
		b.Run(kind, func(b *testing.B) {
			ts, h, host, cookie := benchSetup(b, 0)
			benchHooks(b, ts, kind)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				benchRequest(b, h, host, "PATCH", "/api/v1/auth/profile", `{"first_name":"N`+strconv.Itoa(i)+`"}`, cookie, 200)
			}
		})
	}
}
