package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/store"
	"github.com/marbelle/marbelle/webhook"
)

// mustNotHoldSecret fails when the store file (every byte of it, free
// pages too) or the log holds a signing secret, its base64 key or the
// key's raw bytes.
func mustNotHoldSecret(t *testing.T, path, log string, secrets ...string) {
	t.Helper()
	data, err := os.ReadFile(path) // #nosec G304 -- the test's own store file
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		key := strings.TrimPrefix(s, webhook.SecretPrefix)
		raw, err := base64.StdEncoding.DecodeString(key)
		if err != nil || len(raw) < 16 {
			t.Fatalf("secret %q: key does not decode: %v", s, err)
		}
		if bytes.Contains(data, []byte(key)) || bytes.Contains(data, raw) {
			t.Errorf("the store file holds the secret %.12s…", s)
		}
		if strings.Contains(log, key) {
			t.Errorf("the log holds the secret %.12s…", s)
		}
	}
}

// mustNotHoldSecretInValues fails when a value of any bucket of the
// closed store file holds the secret's key, read with bbolt directly.
func mustNotHoldSecretInValues(t *testing.T, path, secret string) {
	t.Helper()
	key := []byte(strings.TrimPrefix(secret, webhook.SecretPrefix))
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	values := 0
	err = bdb.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				values++
				if bytes.Contains(v, key) || bytes.Contains(k, key) {
					t.Errorf("bucket %s holds the secret %.12s…", name, secret)
				}
				return nil
			})
		})
	})
	if err != nil || values == 0 {
		t.Fatalf("read %d values: %v", values, err)
	}
}

// TestWebhookSecretsSealedAtRest (as SEC-34 for cookies: no secret in the store file): after a create and a
// rotation through the admin API, the store file holds neither secret in
// any form, the record holds them sealed, bound to the endpoint id, and
// deliveries still verify with the reference library under both.
func TestWebhookSecretsSealedAtRest(t *testing.T) {
	ts, staff := hookedServer(t)
	rc := newHookReceiver(t)
	v := addHook(t, staff, rc.srv.URL, "*")
	mustNotHoldSecret(t, ts.db.Path(), ts.logBuf.String(), v.Secret)
	var rot webhookSecretView
	staff.do("POST", "/api/v1/admin/webhooks/"+v.ID.String()+"/rotate-secret", nil).want(t, 200, "").data(t, &rot)
	rc.trust(v.Secret, rot.Secret)
	staff.do("POST", "/api/v1/admin/webhooks/"+v.ID.String()+"/test", nil).want(t, 202, "")
	rc.wait(t, evWebhookTest, 1)
	rc.mustVerifyAll(t)
	mustNotHoldSecret(t, ts.db.Path(), ts.logBuf.String(), v.Secret, rot.Secret)

	// Not vacuous: the record holds both, sealed and bound to its id.
	var w *store.Webhook
	if err := ts.db.View(func(tx *store.Tx) (err error) { w, err = tx.Webhook(v.ID); return err }); err != nil {
		t.Fatal(err)
	}
	for sealed, want := range map[string]string{string(w.Secret): rot.Secret, string(w.PreviousSecret): v.Secret} {
		if got, err := unseal(ts.srv.sealer, v.ID, []byte(sealed)); err != nil || string(got) != want {
			t.Errorf("sealed secret opens to %.12q, %v", got, err)
		}
		if _, err := unseal(ts.srv.sealer, store.NewID(), []byte(sealed)); err == nil {
			t.Error("a sealed secret opens bound to another endpoint id")
		}
	}
}

// writeClearWebhookStore makes dir's store as the code of schema 5 left
// it: one endpoint in the JSON form with its secrets in clear.
func writeClearWebhookStore(t *testing.T, dir string, id uuid.UUID, secret string) {
	t.Helper()
	db, err := OpenStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	path := db.Path()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	rec, _ := json.Marshal(map[string]any{"id": id, "url": "http://127.0.0.1:1/", "events": []string{"*"}, "description": "old",
		"enabled": true, "secret": secret, "created_at": now, "updated_at": now})
	err = bdb.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("webhooks")).Put(id[:], rec); err != nil {
			return err
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], 5)
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), v[:])
	})
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestWebhookClearSecretsSealedAtServeStart (as SEC-34 for cookies: no secret in the store file): a store of
// schema 5 with a clear secret is sealed when the server starts (a count
// logged, never the secret), and its deliveries still verify with that
// secret in the reference library.
func TestWebhookClearSecretsSealedAtServeStart(t *testing.T) {
	secret := webhook.NewSecret()
	id := store.NewID()
	cfg := testConfig(t)
	cfg.Addr, cfg.DevSMTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	writeClearWebhookStore(t, cfg.DataDir, id, secret)

	var logBuf testutil.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	ready, served := make(chan struct{}), make(chan error, 1)
	go func() {
		served <- Serve(ctx, cfg, slog.New(slog.NewJSONHandler(&logBuf, nil)), io.Discard, ServeOptions{Ready: func(string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-served:
		t.Fatalf("Serve: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("Serve not ready")
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if !strings.Contains(logBuf.String(), `"msg":"webhook signing secrets sealed","endpoints":1`) {
		t.Errorf("no count logged:\n%s", logBuf.String())
	}
	// Every value of every bucket (the free pages may still hold the clear
	// record until bbolt reuses them: docs/upgrading.md says to rotate).
	mustNotHoldSecretInValues(t, filepath.Join(cfg.DataDir, StoreFile), secret)
	if strings.Contains(logBuf.String(), strings.TrimPrefix(secret, webhook.SecretPrefix)) {
		t.Error("the log holds the secret")
	}

	ts := newTestServer(t, func(c *Config) { c.DataDir = cfg.DataDir })
	startWebhooks(t, ts)
	rc := newHookReceiver(t)
	rc.trust(secret)
	staff := ts.staff("staff@example.test")
	staff.do("PATCH", "/api/v1/admin/webhooks/"+id.String(), map[string]any{"url": rc.srv.URL}).want(t, 200, "")
	staff.do("POST", "/api/v1/admin/webhooks/"+id.String()+"/test", nil).want(t, 202, "")
	rc.wait(t, evWebhookTest, 1)
	rc.mustVerifyAll(t)
	// Sealing again finds nothing.
	if err := ts.srv.SealWebhookSecrets(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(ts.logBuf.String(), "webhook signing secrets sealed"); n != 0 {
		t.Errorf("sealed again %d times", n)
	}
}

// TestWebhookSecretOfAnotherKey (as SEC-34 for cookies: no secret in the store file): an endpoint whose secret
// was sealed under another secret key (a backup restored on a server with
// a new MARBELLE_SECRET_KEY) gets no request: its deliveries fail with the
// clear error and a log line; rotating the secret mends it.
func TestWebhookSecretOfAnotherKey(t *testing.T) {
	ts, staff := hookedServer(t)
	rc := newHookReceiver(t)
	other, err := newSealer(sealerKey("another-secret-key-0123456789-abcdefghijklm"))
	if err != nil {
		t.Fatal(err)
	}
	id := store.NewID()
	sealed, err := sealWebhookSecret(other, id, webhook.NewSecret())
	if err != nil {
		t.Fatal(err)
	}
	now := ts.clock.Now()
	err = ts.db.Update(func(tx *store.Tx) error {
		return tx.PutWebhook(&store.Webhook{ID: id, URL: rc.srv.URL, Events: []string{"*"}, Enabled: true, Secret: sealed, CreatedAt: now, UpdatedAt: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	staff.do("POST", "/api/v1/admin/webhooks/"+id.String()+"/test", nil).want(t, 202, "")
	var failed string
	testutil.WaitFor(t, 10*time.Second, func() error {
		for _, d := range hookDeliveries(t, ts, id.String()) {
			if d.Attempts > 0 && d.LastError == errWebhookSecretUnreadable.Error() {
				failed = d.ID.String()
				return nil
			}
		}
		return io.EOF
	})
	if n := len(rc.ofType(evWebhookTest)); n != 0 {
		t.Fatalf("%d requests sent with an unreadable secret", n)
	}
	if !strings.Contains(ts.logBuf.String(), "webhook signing secret unreadable") {
		t.Error("no log line")
	}

	var rot webhookSecretView
	staff.do("POST", "/api/v1/admin/webhooks/"+id.String()+"/rotate-secret", nil).want(t, 200, "").data(t, &rot)
	if rot.RotationEndsAt != nil {
		t.Errorf("a rotation keeps an unreadable secret signing until %v", rot.RotationEndsAt)
	}
	rc.trust(rot.Secret)
	staff.do("POST", "/api/v1/admin/webhook-deliveries/"+failed+"/retry", nil).want(t, 200, "")
	rc.wait(t, evWebhookTest, 1) // the failed delivery, sent again, now signed
	rc.mustVerifyAll(t)
}

// TestWebhookAddCommandSealsWithTheServersKey: `webhook add` seals with
// the key the server takes (MARBELLE_SECRET_KEY, else the data dir's
// development secret): a server on that store signs with the secret it
// printed; production without a key is refused with ErrNoSecretKey.
func TestWebhookAddCommandSealsWithTheServersKey(t *testing.T) {
	rc := newHookReceiver(t)
	for _, withKey := range []bool{true, false} {
		cfg := testConfig(t)
		env := map[string]string{}
		if withKey {
			env["MARBELLE_SECRET_KEY"] = cfg.SecretKey
		}
		secret, _, err := WebhookAdd(WebhookAddInput{DataDir: cfg.DataDir, URL: rc.srv.URL, Events: []string{"*"}, Getenv: func(k string) string { return env[k] }})
		if err != nil {
			t.Fatal(err)
		}
		mustNotHoldSecret(t, filepath.Join(cfg.DataDir, StoreFile), "", secret)
		ts := newTestServer(t, func(c *Config) {
			c.DataDir = cfg.DataDir
			if !withKey {
				c.SecretKey = ""
				if err := fillSecretKey(c); err != nil {
					t.Fatal(err)
				}
			}
		})
		startWebhooks(t, ts)
		rc.trust(secret)
		staff := ts.staff("staff@example.test")
		var id string
		_ = ts.db.View(func(tx *store.Tx) error { hooks, _ := tx.Webhooks(); id = hooks[0].ID.String(); return nil })
		n := len(rc.ofType(evWebhookTest))
		staff.do("POST", "/api/v1/admin/webhooks/"+id+"/test", nil).want(t, 202, "")
		rc.wait(t, evWebhookTest, n+1)
		rc.mustVerifyAll(t)
	}
	env := map[string]string{"MARBELLE_ENV": "production"}
	_, _, err := WebhookAdd(WebhookAddInput{DataDir: t.TempDir(), URL: "https://orders.example/", Events: []string{"*"}, Getenv: func(k string) string { return env[k] }})
	if err != ErrNoSecretKey {
		t.Fatalf("production without a key: %v", err)
	}
}
