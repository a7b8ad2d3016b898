package app

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

// TestOutboxWaitsWhileSMTPIsDown: with the SMTP target down, registrations
// still answer at once and their mail waits in the outbox with growing
// attempts; once the target comes up each mail is delivered exactly once,
// marked sent, and its sealed body erased.
func TestOutboxWaitsWhileSMTPIsDown(t *testing.T) {
	// A port with nothing listening (yet).
	smtpAddr := testutil.FreePort(t)

	cfg := testConfig(t)
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	db, err := OpenStore(cfg.DataDir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hs := httptest.NewUnstartedServer(nil)
	srv, err := New(cfg, db, log, Options{BaseURL: "http://" + hs.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = srv.Handler()
	hs.Start()
	defer hs.Close()
	sender, err := mail.NewSMTPSender("smtp://"+smtpAddr, "localhost", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := mail.NewDeliverer(srv.MailQueue(), sender, log, mail.DeliveryOptions{Interval: 20 * time.Millisecond, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, MaxAttempts: 1000})
	srv.SetMailWaker(d.Notify)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	ts := &testServer{t: t, srv: srv, http: hs, db: db, URL: "http://" + hs.Listener.Addr().String()}
	emails := []string{"a@example.test", "b@example.test", "c@example.test"}
	for _, e := range emails {
		ts.client().do("POST", "/api/v1/auth/register", registerBody(e, testPassword)).want(t, 201, "")
	}
	outbox := func() []store.Mail {
		var out []store.Mail
		db.View(func(tx *store.Tx) error {
			var err error
			out, err = tx.DueMail(time.Now().Add(time.Hour), 100)
			return err
		})
		return out
	}
	// Wait until every mail has failed at least twice.
	deadline := time.Now().Add(10 * time.Second)
	for {
		queued := outbox()
		retried := 0
		for _, m := range queued {
			if m.Status == store.MailQueued && m.Attempts >= 2 && m.LastError != "" {
				retried++
			}
		}
		if len(queued) == 3 && retried == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want 3 queued mails retried at least twice, got %+v", queued)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The target comes up.
	ln, err := net.Listen("tcp", smtpAddr)
	if err != nil {
		t.Fatalf("bring the SMTP target up: %v", err)
	}
	sink := mail.NewSink(100, log)
	go sink.Serve(ln)
	defer sink.Close()
	deadline = time.Now().Add(10 * time.Second)
	for len(sink.List()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of 3 after the target came up", len(sink.List()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // room for a wrong duplicate to show up
	got := map[string]int{}
	for _, m := range sink.List() {
		got[m.To[0]]++
	}
	for _, e := range emails {
		if got[e] != 1 {
			t.Fatalf("mails to %s: got %d, want 1 (all: %v)", e, got[e], got)
		}
	}
	deadline = time.Now().Add(5 * time.Second)
	for len(outbox()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still queued after delivery: %+v", outbox())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStoreFileHoldsNoToken: while queued the mail is sealed, and once
// sent its body is erased, so the raw store file never holds a token.
func TestStoreFileHoldsNoToken(t *testing.T) {
	ts := newTestServer(t, nil)
	tok := ts.registered("sealed@example.test")
	// Let the delivery loop mark the mail sent.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var sent bool
		ts.db.View(func(tx *store.Tx) error {
			due, _ := tx.DueMail(ts.clock.Now().Add(time.Hour), 10)
			sent = len(due) == 0
			return nil
		})
		if sent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("mail never marked sent")
		}
		time.Sleep(10 * time.Millisecond)
	}
	raw, err := os.ReadFile(ts.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(tok)) {
		t.Fatalf("the store file holds the token in clear")
	}
	if !bytes.Contains(raw, []byte("sealed@example.test")) {
		t.Fatalf("sanity: the store file should hold the address")
	}
}

// TestQueuedMailIsSealed: a mail still waiting holds no token in clear.
func TestQueuedMailIsSealed(t *testing.T) {
	cfg := testConfig(t)
	db, err := OpenStore(cfg.DataDir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv, err := New(cfg, db, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), Options{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	secret := newSecret()
	err = srv.update(context.Background(), func(tx *txn) error {
		return tx.queueMail(mail.KindVerifyEmail, "q@example.test", store.NewID(), mail.Data{FirstName: "Q", Email: "q@example.test", Link: srv.link("/verify-email", secret), TTL: "1 hour"})
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(db.Path())
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatalf("the store file holds a queued token in clear")
	}
	db.View(func(tx *store.Tx) error {
		due, _ := tx.DueMail(time.Now().Add(time.Hour), 10)
		if len(due) != 1 {
			t.Fatalf("got %d queued mails, want 1", len(due))
		}
		for _, m := range due {
			if bytes.Contains(m.Sealed, []byte(secret)) || len(m.Sealed) == 0 {
				t.Fatalf("queued mail is not sealed")
			}
			plain, err := unseal(srv.sealer, m.ID, m.Sealed)
			if err != nil || !bytes.Contains(plain, []byte(secret)) {
				t.Fatalf("unseal: %v", err)
			}
			if _, err := unseal(srv.sealer, store.NewID(), m.Sealed); err == nil {
				t.Fatalf("sealed mail must be bound to its id")
			}
		}
		return nil
	})
}
