//go:build faults

package e2e

// Fault-injection tests: go test -tags faults -run Fault ./...
// They start a `go build -tags faults` binary whose hooks (app/faults_on.go,
// mail/faults_on.go) are switched on by MARBELLE_FAULTS at start.

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/app"
	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

var faultTokenRE = testutil.TokenRE["verify-email"]

// devTokens returns the verification tokens mailed to addr that the dev
// sink holds, newest first.
func devTokens(t *testing.T, c *crashClient, base, addr string) []string {
	t.Helper()
	return testutil.DevTokens(t, c.http, base, addr, "verify-email")
}

// waitDevTokens waits (5 s at most) until the sink holds n tokens for addr.
func waitDevTokens(t *testing.T, c *crashClient, base, addr string, n int) []string {
	t.Helper()
	return testutil.WaitDevTokens(t, c.http, base, addr, "verify-email", n, 5*time.Second)
}

// TestFaultAfterCommit: a write that fails after its commit and before its
// answer (the client gets 500 internal, as from a crash at that instant) is
// there after a restart, and a client's retry is answered as any repeat:
// a second registration answers 201 alike and mails a fresh link that
// voids the first; a second address create makes a second address
// (creates are not idempotent: there is no idempotency key).
func TestFaultAfterCommit(t *testing.T) {
	bin := buildBinary(t, "faults")
	dir := t.TempDir()
	env := map[string]string{"MARBELLE_ADDR": testutil.FreePort(t)}
	api := func(c *child) string { return c.URL + "/api/v1/auth" }

	// 1. No fault: an account with a session.
	srv := startChild(t, bin, dir, env)
	srv.waitReady(5 * time.Second)
	d := newCrashDriver(srv.URL, 0)
	ann := d.client()
	if st, _, err := ann.post(api(srv)+"/register", registerJSON("ann@example.test", crashPassword)); err != nil || st != 201 {
		t.Fatalf("register: got %d %v, want 201", st, err)
	}
	tok := waitDevTokens(t, ann, srv.URL, "ann@example.test", 1)[0]
	if st, _, err := ann.post(api(srv)+"/verify-email", map[string]string{"token": tok}); err != nil || st != 200 {
		t.Fatalf("verify: got %d %v, want 200", st, err)
	}
	if st, _, err := ann.post(api(srv)+"/login", map[string]string{"email": "ann@example.test", "password": crashPassword}); err != nil || st != 200 {
		t.Fatalf("login: got %d %v, want 200", st, err)
	}
	if code := srv.term(30 * time.Second); code != 0 {
		t.Fatalf("exit: got %d, want 0", code)
	}

	// 2. Every write fails after its commit.
	env["MARBELLE_FAULTS"] = "after-commit:1"
	srv = startChild(t, bin, dir, env)
	srv.waitReady(5 * time.Second)
	if !strings.Contains(srv.stderr.String(), "FAULT INJECTION BUILD") {
		t.Fatalf("a faults build must say so at start; stderr: %s", srv.stderr.String())
	}
	address := map[string]any{"label": "Home", "first_name": "Ann", "last_name": "Lee", "street_address": "Main St 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}
	if st, _, err := ann.post(api(srv)+"/addresses", address); err != nil || st != 500 {
		t.Fatalf("address create with the fault: got %d %v, want 500", st, err)
	}
	bob := d.client()
	if st, _, err := bob.post(api(srv)+"/register", registerJSON("bob@example.test", crashPassword)); err != nil || st != 500 {
		t.Fatalf("register with the fault: got %d %v, want 500", st, err)
	}
	firstBobToken := waitDevTokens(t, bob, srv.URL, "bob@example.test", 1)[0]
	srv.kill()

	// 3. Restart without the fault: both writes are there.
	delete(env, "MARBELLE_FAULTS")
	srv = startChild(t, bin, dir, env)
	srv.waitReady(5 * time.Second)
	listAddresses := func() []uuid.UUID {
		t.Helper()
		st, data, err := ann.do(context.Background(), "GET", api(srv)+"/addresses", nil)
		if err != nil || st != 200 {
			t.Fatalf("list addresses: got %d %v", st, err)
		}
		var list []struct {
			ID uuid.UUID `json:"id"`
		}
		if err := json.Unmarshal(data, &list); err != nil {
			t.Fatal(err)
		}
		var ids []uuid.UUID
		for _, a := range list {
			ids = append(ids, a.ID)
		}
		return ids
	}
	if got := listAddresses(); len(got) != 1 {
		t.Fatalf("addresses after the restart: got %d, want 1 (the create answered 500 after its commit)", len(got))
	}
	// The client retries: a second address.
	if st, _, err := ann.post(api(srv)+"/addresses", address); err != nil || st != 201 {
		t.Fatalf("retried address create: got %d %v, want 201", st, err)
	}
	if got := listAddresses(); len(got) != 2 {
		t.Fatalf("addresses after the retry: got %d, want 2 (a create is not idempotent)", len(got))
	}
	// The retried registration answers as any repeat, and its fresh link
	// voids the one mailed by the failed attempt.
	if st, _, err := bob.post(api(srv)+"/register", registerJSON("bob@example.test", crashPassword)); err != nil || st != 201 {
		t.Fatalf("retried register: got %d %v, want 201", st, err)
	}
	// (The first mail may be sent again at start, had the kill come before
	// it was marked sent: wait for the other one.)
	var secondBobToken string
	for deadline := time.Now().Add(5 * time.Second); secondBobToken == ""; {
		for _, tok := range devTokens(t, bob, srv.URL, "bob@example.test") {
			if tok != firstBobToken {
				secondBobToken = tok
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no second verification mail to bob after the retry")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, _, _ := bob.post(api(srv)+"/verify-email", map[string]string{"token": firstBobToken}); st != 400 {
		t.Fatalf("the first link after the retry: got %d, want 400 (voided by the newer one)", st)
	}
	if st, _, _ := bob.post(api(srv)+"/verify-email", map[string]string{"token": secondBobToken}); st != 200 {
		t.Fatalf("the newest link: got %d, want 200", st)
	}
	if code := srv.term(30 * time.Second); code != 0 {
		t.Fatalf("exit: got %d, want 0", code)
	}
	mustCheck(t, bin, dir)
	db, err := store.Open(filepath.Join(dir, app.StoreFile), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *store.Tx) error {
		if page, _ := tx.Users("bob@", 0, 10); page.Total != 1 {
			t.Fatalf("accounts for bob: got %d, want 1", page.Total)
		}
		return nil
	})
}

// TestFaultAfterSMTP: when the process dies after the relay accepted a
// mail and before the outbox marked it sent, the mail is sent again after
// the restart: delivery is at least once, and the receiver sees the same
// message (same link) twice.
func TestFaultAfterSMTP(t *testing.T) {
	bin := buildBinary(t, "faults")
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := mail.NewSink(100, nil)
	go sink.Serve(ln)
	defer sink.Close()
	env := map[string]string{
		"MARBELLE_ADDR":          testutil.FreePort(t),
		"MARBELLE_DEV_SMTP_ADDR": "off",
		"MARBELLE_SMTP_URL":      "smtp://" + ln.Addr().String(),
		"MARBELLE_FAULTS":        "after-smtp:1",
	}
	srv := startChild(t, bin, dir, env)
	srv.waitReady(5 * time.Second)
	d := newCrashDriver(srv.URL, 0)
	c := d.client()
	if st, _, err := c.post(srv.URL+"/api/v1/auth/register", registerJSON("carol@example.test", crashPassword)); err != nil || st != 201 {
		t.Fatalf("register: got %d %v, want 201", st, err)
	}
	// The relay accepts the mail; the process kills itself.
	if code := srv.wait(10 * time.Second); code != -1 {
		t.Fatalf("exit status: got %d, want -1 (killed by the fault)", code)
	}
	if n := len(sink.List()); n != 1 {
		t.Fatalf("mails at the relay after the crash: got %d, want 1", n)
	}
	outbox := func() []store.Mail {
		t.Helper()
		db, err := store.Open(filepath.Join(dir, app.StoreFile), store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var list []store.Mail
		db.View(func(tx *store.Tx) error { list, err = tx.OutboxList("", 100); return err })
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	if got := outbox(); len(got) != 1 || got[0].Status != store.MailQueued {
		t.Fatalf("outbox after the crash: got %+v, want one queued mail", got)
	}

	delete(env, "MARBELLE_FAULTS")
	srv = startChild(t, bin, dir, env)
	srv.waitReady(5 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for len(sink.List()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("mails at the relay after the restart: got %d, want 2", len(sink.List()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // room for a wrong third copy
	got := sink.List()
	if len(got) != 2 || got[0].Text != got[1].Text || got[0].To[0] != "carol@example.test" || !faultTokenRE.MatchString(got[0].Text) {
		t.Fatalf("got %d mails, want the same verification mail twice: %+v", len(got), got)
	}
	tok := faultTokenRE.FindStringSubmatch(got[0].Text)[1]
	if st, _, err := c.post(srv.URL+"/api/v1/auth/verify-email", map[string]string{"token": tok}); err != nil || st != 200 {
		t.Fatalf("verify with the twice-sent link: got %d %v, want 200", st, err)
	}
	if code := srv.term(30 * time.Second); code != 0 {
		t.Fatalf("exit: got %d, want 0", code)
	}
	mustCheck(t, bin, dir)
	if got := outbox(); len(got) != 1 || got[0].Status != store.MailSent || got[0].Attempts != 1 {
		t.Fatalf("outbox after the restart: got %+v, want the one mail sent", got)
	}
}

// TestFaultBuildHasHooks is the counterpart of
// TestProductionBuildHasNoFaultHooks: the string it looks for is there.
func TestFaultBuildHasHooks(t *testing.T) {
	if !binaryContains(t, buildBinary(t, "faults"), "MARBELLE_FAULTS") {
		t.Fatalf("the -tags faults binary does not mention MARBELLE_FAULTS")
	}
}
