package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"

	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/mail"
)

// flakySMTP is a go-smtp relay on 127.0.0.1 whose answer tests choose:
// 451 or 550 to RCPT, or accept.
type flakySMTP struct {
	mode     atomic.Value // "451", "550" or "accept"
	mu       sync.Mutex
	accepted [][]byte
	srv      *smtp.Server
}

func (f *flakySMTP) NewSession(*smtp.Conn) (smtp.Session, error) { return &flakySession{f: f}, nil }

func (f *flakySMTP) received() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.accepted...)
}

type flakySession struct{ f *flakySMTP }

func (s *flakySession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *flakySession) Rcpt(string, *smtp.RcptOptions) error {
	switch s.f.mode.Load() {
	case "451":
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	case "550":
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	return nil
}
func (s *flakySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.f.mu.Lock()
	s.f.accepted = append(s.f.accepted, b)
	s.f.mu.Unlock()
	return nil
}
func (s *flakySession) Reset()        {}
func (s *flakySession) Logout() error { return nil }

// outboxRow is an entry of GET /api/v1/admin/outbox.
type outboxRow struct {
	ID            uuid.UUID  `json:"id"`
	To            string     `json:"to"`
	Kind          string     `json:"kind"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
}

// TestOutboxRelayDownThen451Then550ThenRetried runs app.Serve with
// small backoffs against a relay that is first down, then answers 451 to
// RCPT, then 550, then accepts, and reads the outbox as staff through
// GET /api/v1/admin/outbox:
//   - while the relay is down or answers 451, the mail stays queued with
//     rising attempts and a growing next_attempt_at; each delay is at
//     least the exponential backoff and at most its cap (plus slack);
//   - after MaxAttempts temporary failures it is failed, with last_error;
//   - a 550 fails a mail after MaxPermanent attempts, with last_error;
//   - the admin retry re-queues both, and once the relay accepts each is
//     delivered exactly once and marked sent;
//   - the raw store file holds no token while the mail is queued (relay
//     down) nor after it was sent.
func TestOutboxRelayDownThen451Then550ThenRetried(t *testing.T) {
	// A port with nothing listening yet.
	relayAddr := testutil.FreePort(t)

	cfg := testConfig(t)
	cfg.Addr = "127.0.0.1:0"
	cfg.DevSMTPAddr = ""
	cfg.SMTPURL = "smtp://" + relayAddr
	const staffEmail, staffPassword = "staff@example.test", "tangerine walrus umbrella 42"
	if _, err := AdminCreate(context.Background(), AdminCreateInput{DataDir: cfg.DataDir, Email: staffEmail, Password: staffPassword, Hash: cfg.PasswordHash, MinLength: 8}); err != nil {
		t.Fatalf("admin create: %v", err)
	}
	opts := mail.DeliveryOptions{Interval: 50 * time.Millisecond, BaseBackoff: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, MaxAttempts: 6, MaxPermanent: 3}
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, cfg, discardLogger(), io.Discard, ServeOptions{Delivery: opts, Ready: func(u string) { ready <- u }})
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-served:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-served; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	defer stop()

	cl := (&testServer{t: t, URL: base}).client()
	cl.http.Timeout = 10 * time.Second
	call := func(method, path string, body any) (int, json.RawMessage) {
		t.Helper()
		r := cl.do(method, path, body)
		return r.Status, r.Env.Data
	}
	if st, _ := call("POST", "/api/v1/auth/login", map[string]string{"email": staffEmail, "password": staffPassword}); st != 200 {
		t.Fatalf("staff login: got %d, want 200", st)
	}
	outboxTo := func(to string) outboxRow {
		t.Helper()
		st, data := call("GET", "/api/v1/admin/outbox", nil)
		if st != 200 {
			t.Fatalf("admin outbox: got %d, want 200", st)
		}
		var rows []outboxRow
		if err := json.Unmarshal(data, &rows); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.To == to && r.Kind == "verify_email" {
				return r
			}
		}
		t.Fatalf("no verify_email mail to %s in the outbox: %+v", to, rows)
		return outboxRow{}
	}
	// watch polls the mail's row until done says so (10 s at most) and
	// returns every distinct row seen.
	watch := func(to string, done func(outboxRow) bool) []outboxRow {
		t.Helper()
		var seen []outboxRow
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := outboxTo(to)
			if len(seen) == 0 || seen[len(seen)-1].Attempts != r.Attempts || seen[len(seen)-1].Status != r.Status {
				seen = append(seen, r)
			}
			if done(r) {
				return seen
			}
			if time.Now().After(deadline) {
				t.Fatalf("mail to %s: last seen %+v", to, r)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// 1. The relay is down.
	if st, _ := call("POST", "/api/v1/auth/register", registerBody("one@example.test", testPassword)); st != 201 {
		t.Fatalf("register: got %d, want 201", st)
	}
	seen := watch("one@example.test", func(r outboxRow) bool { return r.Attempts >= 2 })
	last := seen[len(seen)-1]
	if last.Status != "queued" || last.LastError == "" || last.NextAttemptAt == nil {
		t.Fatalf("relay down: got %+v, want queued with last_error and next_attempt_at", last)
	}
	// The raw store file, while the mail waits, has the address and no link.
	queuedFile, err := os.ReadFile(filepath.Join(cfg.DataDir, StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(queuedFile, []byte("one@example.test")) {
		t.Fatalf("sanity: the store file should hold the address")
	}

	// 2. The relay answers 451: still temporary, until MaxAttempts.
	relay := &flakySMTP{}
	relay.mode.Store("451")
	relay.srv = smtp.NewServer(relay)
	relay.srv.Domain = "localhost"
	ln, err := net.Listen("tcp", relayAddr)
	if err != nil {
		t.Fatalf("bring the relay up on %s: %v", relayAddr, err)
	}
	go relay.srv.Serve(ln)
	defer relay.srv.Close()
	seen = append(seen, watch("one@example.test", func(r outboxRow) bool { return r.Status != "queued" })...)
	last = seen[len(seen)-1]
	if last.Status != "failed" || last.Attempts != opts.MaxAttempts || !strings.Contains(last.LastError, "451") {
		t.Fatalf("after %d temporary failures: got %+v, want failed with a 451 last_error", opts.MaxAttempts, last)
	}
	// Attempts rose one by one, next_attempt_at grew by at least the
	// backoff each time and by no more than its cap plus 1 s of slack.
	var prev *outboxRow
	gaps := 0
	for i := range seen {
		r := &seen[i]
		if r.Status != "queued" || r.NextAttemptAt == nil || r.Attempts == 0 || prev != nil && r.Attempts == prev.Attempts {
			continue // not yet tried, or the same state seen again
		}
		if prev != nil && r.Attempts == prev.Attempts+1 {
			gaps++
			gap := r.NextAttemptAt.Sub(*prev.NextAttemptAt)
			want := min(opts.BaseBackoff<<(r.Attempts-1), opts.MaxBackoff)
			if gap < want || gap > opts.MaxBackoff+time.Second {
				t.Fatalf("attempt %d: next_attempt_at moved by %v, want %v to %v (capped exponential backoff)", r.Attempts, gap, want, opts.MaxBackoff+time.Second)
			}
		}
		if prev != nil && r.Attempts < prev.Attempts {
			t.Fatalf("attempts went from %d to %d", prev.Attempts, r.Attempts)
		}
		prev = r
	}
	if gaps < 2 || prev.Attempts < 4 {
		t.Fatalf("saw too few queued states (%d gaps) to check the backoff: %+v", gaps, seen)
	}

	// 3. The relay answers 550: permanent, failed after MaxPermanent.
	relay.mode.Store("550")
	if st, _ := call("POST", "/api/v1/auth/register", registerBody("two@example.test", testPassword)); st != 201 {
		t.Fatalf("register: got %d, want 201", st)
	}
	two := watch("two@example.test", func(r outboxRow) bool { return r.Status != "queued" })
	if r := two[len(two)-1]; r.Status != "failed" || r.Attempts != opts.MaxPermanent || !strings.Contains(r.LastError, "550") {
		t.Fatalf("after 550s: got %+v, want failed after %d attempts with a 550 last_error", r, opts.MaxPermanent)
	}
	if len(relay.received()) != 0 {
		t.Fatalf("the relay accepted %d mails while refusing", len(relay.received()))
	}

	// 4. The relay accepts; staff re-queue both; each arrives once.
	relay.mode.Store("accept")
	oneID, twoID := last.ID, two[len(two)-1].ID
	for _, id := range []uuid.UUID{oneID, twoID} {
		if st, _ := call("POST", "/api/v1/admin/outbox/"+id.String()+"/retry", nil); st != 200 {
			t.Fatalf("admin retry %s: got %d, want 200", id, st)
		}
	}
	for _, to := range []string{"one@example.test", "two@example.test"} {
		if r := watch(to, func(r outboxRow) bool { return r.Status == "sent" }); r[len(r)-1].Attempts != 1 {
			t.Fatalf("%s: got %+v, want sent at the first attempt after the retry", to, r[len(r)-1])
		}
	}
	if st, _ := call("POST", "/api/v1/admin/outbox/"+oneID.String()+"/retry", nil); st != 400 {
		t.Fatalf("admin retry of a sent mail: got %d, want 400", st)
	}
	time.Sleep(200 * time.Millisecond) // room for a wrong duplicate
	got := relay.received()
	if len(got) != 2 {
		t.Fatalf("the relay received %d mails, want 2 (each once)", len(got))
	}
	var tokens []string
	for _, m := range got {
		plain := strings.ReplaceAll(strings.ReplaceAll(string(m), "=\r\n", ""), "=3D", "=")
		match := testutil.TokenRE["verify-email"].FindStringSubmatch(plain)
		if match == nil {
			t.Fatalf("delivered mail has no verification link: %s", m)
		}
		tokens = append(tokens, match[1])
	}
	// The delivered links work, and the store file never held them.
	if st, _ := call("POST", "/api/v1/auth/verify-email", map[string]string{"token": tokens[0]}); st != 200 {
		t.Fatalf("verify with the delivered link: got %d, want 200", st)
	}
	stop()
	sentFile, err := os.ReadFile(filepath.Join(cfg.DataDir, StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		if bytes.Contains(queuedFile, []byte(tok)) {
			t.Fatalf("the store file held a token in clear while its mail was queued")
		}
		if bytes.Contains(sentFile, []byte(tok)) {
			t.Fatalf("the store file holds a token in clear after its mail was sent")
		}
	}
	if faults, err := Check(filepath.Join(cfg.DataDir, StoreFile)); err != nil || len(faults) > 0 {
		t.Fatalf("check: %v %v", faults, err)
	}
}
