package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/marbelle/marbelle/internal/retry"
	"github.com/marbelle/marbelle/internal/testutil"
)

// fakeQueue is an in-memory Queue.
type fakeQueue struct {
	mu      sync.Mutex
	items   map[string]*queued
	dueErrs int // how many Due calls fail before it works
}

type queued struct {
	p       Pending
	next    time.Time
	state   string // "queued", "sent", "failed"
	lastErr string
	sentAt  time.Time
}

func newFakeQueue() *fakeQueue { return &fakeQueue{items: make(map[string]*queued)} }

func (q *fakeQueue) add(id string, due time.Time, raw string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items[id] = &queued{
		p:     Pending{ID: id, From: "no-reply@shop.example", To: []string{"bob@example.com"}, Raw: []byte(raw)},
		next:  due,
		state: "queued",
	}
}

func (q *fakeQueue) get(id string) queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	return *q.items[id]
}

func (q *fakeQueue) Due(now time.Time, limit int) ([]Pending, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dueErrs > 0 {
		q.dueErrs--
		return nil, errors.New("store unavailable")
	}
	var due []*queued
	for _, it := range q.items {
		if it.state == "queued" && !it.next.After(now) {
			due = append(due, it)
		}
	}
	slices.SortFunc(due, func(a, b *queued) int {
		if c := a.next.Compare(b.next); c != 0 {
			return c
		}
		return strings.Compare(a.p.ID, b.p.ID)
	})
	var out []Pending
	for _, it := range due[:min(limit, len(due))] {
		out = append(out, it.p)
	}
	return out, nil
}

func (q *fakeQueue) Sent(id string, at time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	it := q.items[id]
	it.state, it.sentAt, it.p.Raw = "sent", at, nil
	return nil
}

func (q *fakeQueue) Retry(id string, attempts int, lastErr string, next time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	it := q.items[id]
	it.p.Attempts, it.lastErr, it.next = attempts, lastErr, next
	return nil
}

func (q *fakeQueue) Failed(id string, attempts int, lastErr string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	it := q.items[id]
	it.p.Attempts, it.lastErr, it.state = attempts, lastErr, "failed"
	return nil
}

// fakeSender fails the first `fails` sends with err, then succeeds.
type fakeSender struct {
	mu    sync.Mutex
	fails int
	err   error
	calls int
	block chan struct{} // when set, Send waits for it to close
	ctxOK []bool        // whether Send's ctx was still live when it ended
}

func (s *fakeSender) Send(ctx context.Context, from string, to []string, raw []byte) error {
	s.mu.Lock()
	block := s.block
	s.calls++
	s.mu.Unlock()
	if block != nil {
		<-block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctxOK = append(s.ctxOK, ctx.Err() == nil)
	if s.fails > 0 {
		s.fails--
		return s.err
	}
	return nil
}

func (s *fakeSender) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// startDeliverer runs d until the test ends and checks Run returns.
func startDeliverer(t *testing.T, d *Deliverer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		d.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
}

// t0 is the fake clock's starting point.
func t0() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }

func TestBackoff(t *testing.T) {
	base, limit := 30*time.Second, 10*time.Minute
	for n, want := range map[int]time.Duration{
		1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 4: 4 * time.Minute,
		5: 8 * time.Minute, 6: 10 * time.Minute, 12: 10 * time.Minute, 1000: 10 * time.Minute,
	} {
		if got := retry.Backoff(n, base, limit); got != want {
			t.Fatalf("backoff(%d): got %v, want %v", n, got, want)
		}
	}
	if got, want := retry.Backoff(80, time.Hour, time.Duration(1<<62)), time.Duration(1<<62); got != want {
		t.Fatalf("backoff without overflow: got %v, want %v", got, want)
	}
}

func TestDelivererRetriesWithBackoff(t *testing.T) {
	clock := testutil.NewClock(t0()) // the injected DeliveryOptions.Now
	q := newFakeQueue()
	q.add("m1", t0(), "Subject: hi\r\n\r\nhttp://x/verify-email?token=SECRETTOKEN\r\n")
	s := &fakeSender{fails: 3, err: &smtp.SMTPError{Code: 451, Message: "try later, bob@example.com"}}
	var logs testutil.SyncBuffer // read here, written from Run's goroutine
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d := NewDeliverer(q, s, log, DeliveryOptions{
		Interval:    time.Hour, // only Notify drives this test
		BaseBackoff: time.Minute,
		MaxBackoff:  3 * time.Minute,
		Now:         clock.Now,
	})
	startDeliverer(t, d)

	now := t0()
	for attempt, wantDelay := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute} {
		n := attempt + 1
		waitFor(t, fmt.Sprintf("attempt %d", n), func() bool { return q.get("m1").p.Attempts == n })
		it := q.get("m1")
		if it.state != "queued" || !it.next.Equal(now.Add(wantDelay)) {
			t.Fatalf("after attempt %d: got state %s next %v, want queued at %v", n, it.state, it.next, now.Add(wantDelay))
		}
		if !strings.Contains(it.lastErr, "451") {
			t.Fatalf("after attempt %d: last error %q, want the 451 reply", n, it.lastErr)
		}
		// Not due yet: a wake-up must not send it early.
		d.Notify()
		clock.Set(it.next.Add(-time.Second))
		d.Notify()
		now = it.next
		clock.Set(now)
		d.Notify()
	}
	waitFor(t, "sent", func() bool { return q.get("m1").state == "sent" })
	if it := q.get("m1"); !it.sentAt.Equal(now) || it.p.Raw != nil {
		t.Fatalf("got sentAt %v raw %q, want %v and an erased body", it.sentAt, it.p.Raw, now)
	}
	if got := s.callCount(); got != 4 {
		t.Fatalf("got %d sends, want 4 (3 failures, 1 success)", got)
	}
	// "mail sent" is logged just after the outcome is recorded.
	waitFor(t, "the sent log line", func() bool { return strings.Contains(logs.String(), "attempt=4") })
	out := logs.String()
	if !strings.Contains(out, "id=m1") || !strings.Contains(out, "attempt=4") || !strings.Contains(out, "451") {
		t.Fatalf("log: got %q, want id, attempt and error", out)
	}
	for _, secret := range []string{"SECRETTOKEN", "bob@example.com"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log: got %q in %q, want it kept out of info logs", secret, out)
		}
	}
}

func TestDelivererPermanentFailure(t *testing.T) {
	clock := testutil.NewClock(t0())
	q := newFakeQueue()
	q.add("m1", t0(), "x")
	s := &fakeSender{fails: 100, err: fmt.Errorf("mail: send: %w", &smtp.SMTPError{Code: 550, Message: "mailbox unavailable"})}
	d := NewDeliverer(q, s, nil, DeliveryOptions{
		Interval:     5 * time.Millisecond,
		BaseBackoff:  time.Second,
		MaxPermanent: 3,
		Now:          clock.Now,
	})
	startDeliverer(t, d)
	for n := 1; n < 3; n++ {
		waitFor(t, fmt.Sprintf("attempt %d", n), func() bool { return q.get("m1").p.Attempts == n })
		clock.Set(q.get("m1").next)
	}
	waitFor(t, "failed", func() bool { return q.get("m1").state == "failed" })
	it := q.get("m1")
	if it.p.Attempts != 3 || !strings.Contains(it.lastErr, "550: mailbox unavailable") {
		t.Fatalf("got attempts %d last error %q, want 3 and the 550 reply", it.p.Attempts, it.lastErr)
	}
	// Failed mail is not tried again, however long we wait.
	clock.Set(t0().Add(24 * time.Hour))
	d.Notify()
	q.add("m2", t0(), "y") // a later mail proves the loop went round again
	d.Notify()
	waitFor(t, "m2 attempted", func() bool { return q.get("m2").p.Attempts > 0 || q.get("m2").state != "queued" })
	if got := s.callCount(); got != 4 {
		t.Fatalf("got %d sends, want 3 for m1 and 1 for m2", got)
	}
}

func TestDelivererTemporaryFailureLimit(t *testing.T) {
	clock := testutil.NewClock(t0())
	q := newFakeQueue()
	q.add("m1", t0(), "x")
	s := &fakeSender{fails: 100, err: errors.New("dial tcp: connection refused")}
	d := NewDeliverer(q, s, nil, DeliveryOptions{Interval: 5 * time.Millisecond, MaxAttempts: 2, Now: clock.Now})
	startDeliverer(t, d)
	waitFor(t, "attempt 1", func() bool { return q.get("m1").p.Attempts == 1 })
	if it := q.get("m1"); !it.next.Equal(t0().Add(30 * time.Second)) {
		t.Fatalf("got next %v, want the default 30 s backoff", it.next)
	}
	clock.Set(t0().Add(30 * time.Second))
	waitFor(t, "failed", func() bool { return q.get("m1").state == "failed" })
	if it := q.get("m1"); it.p.Attempts != 2 || !strings.Contains(it.lastErr, "connection refused") {
		t.Fatalf("got %+v, want 2 attempts and the error", it)
	}
}

func TestDelivererNotify(t *testing.T) {
	q := newFakeQueue()
	s := &fakeSender{}
	d := NewDeliverer(q, s, nil, DeliveryOptions{Interval: time.Hour})
	startDeliverer(t, d)
	// Notify must never block, even with nobody listening yet.
	for range 10 {
		d.Notify()
	}
	q.add("m1", time.Now().Add(-time.Second), "x")
	d.Notify()
	waitFor(t, "sent after Notify", func() bool { return q.get("m1").state == "sent" })
}

func TestDelivererQueueErrorsAreRetried(t *testing.T) {
	q := newFakeQueue()
	q.dueErrs = 2
	q.add("m1", time.Now().Add(-time.Second), "x")
	d := NewDeliverer(q, &fakeSender{}, nil, DeliveryOptions{Interval: 5 * time.Millisecond})
	startDeliverer(t, d)
	waitFor(t, "sent after queue errors", func() bool { return q.get("m1").state == "sent" })
}

func TestDelivererBatches(t *testing.T) {
	q := newFakeQueue()
	for i := range 7 {
		q.add(fmt.Sprintf("m%d", i), time.Now().Add(-time.Minute), "x")
	}
	d := NewDeliverer(q, &fakeSender{}, nil, DeliveryOptions{Interval: time.Hour, BatchSize: 2})
	startDeliverer(t, d)
	// One pass drains all batches; no tick or Notify is needed.
	waitFor(t, "all sent", func() bool {
		for i := range 7 {
			if q.get(fmt.Sprintf("m%d", i)).state != "sent" {
				return false
			}
		}
		return true
	})
}

func TestDelivererRunFinishesAttemptOnCancel(t *testing.T) {
	q := newFakeQueue()
	q.add("m1", time.Now().Add(-time.Second), "x")
	s := &fakeSender{block: make(chan struct{})}
	d := NewDeliverer(q, s, nil, DeliveryOptions{Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		d.Run(ctx)
		close(done)
	}()
	waitFor(t, "send started", func() bool { return s.callCount() == 1 })
	cancel()
	close(s.block)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("Run did not return after cancel")
	}
	if it := q.get("m1"); it.state != "sent" {
		t.Fatalf("got state %q, want the in-flight attempt recorded as sent", it.state)
	}
	if s.ctxOK[0] != true {
		t.Fatalf("got the send's context cancelled with Run's, want it left to finish")
	}

	// A cancelled Run returns without sending anything more.
	q.add("m2", time.Now().Add(-time.Second), "y")
	d.Run(ctx)
	if got := s.callCount(); got != 1 {
		t.Fatalf("got %d sends after cancel, want 1", got)
	}
}
