package webhook

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/marbelle/marbelle/internal/testutil"
)

// memQueue is a Queue in memory, recording every outcome.
type memQueue struct {
	mu    sync.Mutex
	items map[string]*memItem
	order []string
}

type memItem struct {
	p         Pending
	due       time.Time
	status    string // pending, delivered, failed
	codes     []int
	nexts     []time.Time
	delivered time.Time
}

func newMemQueue() *memQueue { return &memQueue{items: map[string]*memItem{}} }

func (q *memQueue) add(id, endpoint, url string, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items[id] = &memItem{p: Pending{ID: id, EndpointID: endpoint, URL: url, EventID: "evt_" + id, Body: []byte(`{"type":"webhook.test"}`),
		Secrets: []string{testSecret}, Since: at}, due: at, status: "pending"}
	q.order = append(q.order, id)
}

func (q *memQueue) Due(now time.Time, limit int, room func(endpointID string) int, skip func(id string) bool) ([]Pending, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids := slices.Clone(q.order)
	sort.SliceStable(ids, func(i, j int) bool { return q.items[ids[i]].due.Before(q.items[ids[j]].due) })
	var out []Pending
	taken := map[string]int{}
	for _, id := range ids {
		it := q.items[id]
		if len(out) >= limit || it.status != "pending" || it.due.After(now) || skip(id) || taken[it.p.EndpointID] >= room(it.p.EndpointID) {
			continue
		}
		taken[it.p.EndpointID]++
		out = append(out, it.p)
	}
	return out, nil
}

func (q *memQueue) Record(outs []Outcome) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, o := range outs {
		it := q.items[o.ID]
		it.p.Attempts = o.Attempts
		it.codes = append(it.codes, o.StatusCode)
		switch {
		case o.Delivered():
			it.status, it.delivered = "delivered", o.At
		case o.Next.IsZero():
			it.status = "failed"
		default:
			it.due = o.Next
			it.nexts = append(it.nexts, o.Next)
		}
	}
	return nil
}

func (q *memQueue) status(id string) (string, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.items[id].status, q.items[id].p.Attempts
}

var testSecret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestSignMatchesTheReferenceLibrary: Sign gives what the Standard
// Webhooks reference implementation gives, and two secrets give two
// signatures that each verify there.
func TestSignMatchesTheReferenceLibrary(t *testing.T) {
	at := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	ref, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ref.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", at, body)
	got, err := Sign([]string{testSecret}, "msg_p5jXN8AQM9LWM0D4loKWxJek", at, body)
	if err != nil || got != want {
		t.Fatalf("Sign = %q, %v; the reference library says %q", got, err, want)
	}
	other := NewSecret()
	both, _ := Sign([]string{other, testSecret}, "msg_1", time.Now(), body)
	h := http.Header{"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}, "Webhook-Signature": {both}}
	for _, s := range []string{other, testSecret} {
		wh, _ := standardwebhooks.NewWebhook(s)
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("secret %d of the pair: %v", len(s), err)
		}
	}
	if _, err := Sign([]string{"nope"}, "x", at, body); err == nil {
		t.Error("a malformed secret signed")
	}
}

func startDeliverer(t *testing.T, q Queue, opts Options) *Deliverer {
	d := NewDeliverer(q, nil, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

// TestSlowEndpointDoesNotDelayOthers: while one endpoint holds every
// request it gets, another endpoint's deliveries all go through.
func TestSlowEndpointDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer slow.Close()
	defer close(release)
	var fastHits atomic.Int32
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fastHits.Add(1) }))
	defer fast.Close()
	q := newMemQueue()
	now := time.Now()
	for i := range 20 { // the slow endpoint's backlog comes first
		q.add("s"+strconv.Itoa(i), "slow", slow.URL, now.Add(-time.Minute))
	}
	for i := range 10 {
		q.add("f"+strconv.Itoa(i), "fast", fast.URL, now)
	}
	d := startDeliverer(t, q, Options{Interval: 10 * time.Millisecond, Workers: 4, PerEndpoint: 2, Timeout: time.Minute, FlushEvery: 5 * time.Millisecond})
	testutil.WaitFor(t, 10*time.Second, func() error {
		d.Notify()
		for i := range 10 {
			if st, _ := q.status("f" + strconv.Itoa(i)); st != "delivered" {
				return fmt.Errorf("f%d is %s", i, st)
			}
		}
		return nil
	})
	if st, n := q.status("s0"); st != "pending" || n != 0 {
		t.Fatalf("the slow endpoint's first delivery is %s after %d attempts", st, n)
	}
}

// TestRedirectIsNotFollowed: a 3xx is a failed attempt; the target of the
// redirect is never called.
func TestRedirectIsNotFollowed(t *testing.T) {
	var targetHits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { targetHits.Add(1) }))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer redirect.Close()
	clock := testutil.NewClock(time.Now())
	q := newMemQueue()
	q.add("r", "redir", redirect.URL, clock.Now())
	d := NewDeliverer(q, nil, Options{Now: clock.Now})
	d.dispatch(context.Background())
	d.running.Wait()
	d.flush()
	it := q.items["r"]
	if it.status != "pending" || !slices.Equal(it.codes, []int{307}) || targetHits.Load() != 0 {
		t.Fatalf("status %s, codes %v, target hit %d times", it.status, it.codes, targetHits.Load())
	}
}

// TestRetriesGrowThenFail: a failing endpoint is retried with growing
// delays, the first within 30 s, for at least 24 h, then failed. The
// clock is moved to each next attempt; nothing sleeps.
func TestRetriesGrowThenFail(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	clock := testutil.NewClock(start)
	q := newMemQueue()
	q.add("x", "e", srv.URL, start)
	d := NewDeliverer(q, nil, Options{Now: clock.Now})
	for i := 0; i < 200; i++ {
		d.dispatch(context.Background())
		d.running.Wait()
		d.flush()
		if st, _ := q.status("x"); st != "pending" {
			break
		}
		it := q.items["x"]
		clock.Set(it.nexts[len(it.nexts)-1])
	}
	it := q.items["x"]
	if it.status != "failed" {
		t.Fatalf("status %s after %d attempts", it.status, it.p.Attempts)
	}
	if first := it.nexts[0].Sub(start); first > 30*time.Second {
		t.Errorf("first retry after %v, want within 30 s", first)
	}
	prev := time.Duration(0)
	at := start
	for _, next := range it.nexts {
		gap := next.Sub(at)
		if gap < prev {
			t.Errorf("delay shrank: %v after %v", gap, prev)
		}
		prev, at = gap, next
	}
	if span := clock.Now().Sub(start); span < 24*time.Hour {
		t.Errorf("gave up after %v, want at least 24 h", span)
	}
	if int(hits.Load()) != it.p.Attempts {
		t.Errorf("%d requests for %d attempts", hits.Load(), it.p.Attempts)
	}
	t.Logf("%d attempts over %v", it.p.Attempts, clock.Now().Sub(start))
}

// TestFaultyReceiverRecovers: a receiver that answers 500, hangs past the
// timeout or resets the connection has its deliveries retried while a
// healthy endpoint keeps receiving; once it recovers, everything arrives.
func TestFaultyReceiverRecovers(t *testing.T) {
	var mode atomic.Value
	mode.Store("500")
	faulty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load().(string) {
		case "500":
			w.WriteHeader(http.StatusInternalServerError)
		case "hang":
			select {
			case <-r.Context().Done():
			case <-time.After(time.Second): // past the 200 ms timeout
			}
		case "reset":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
		}
	}))
	defer faulty.Close()
	var healthy atomic.Int32
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { healthy.Add(1) }))
	defer good.Close()
	q := newMemQueue()
	now := time.Now()
	for i := range 6 {
		q.add("bad"+strconv.Itoa(i), "bad", faulty.URL, now)
	}
	d := startDeliverer(t, q, Options{Interval: 10 * time.Millisecond, BaseBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Timeout: 200 * time.Millisecond, FlushEvery: 5 * time.Millisecond, CoolDown: 5 * time.Millisecond})
	for n, m := range []string{"500", "hang", "reset"} {
		mode.Store(m)
		testutil.WaitFor(t, 10*time.Second, func() error {
			if _, a := q.status("bad0"); a < 2*(n+1) {
				return fmt.Errorf("bad0 tried %d times", a)
			}
			return nil
		})
		id := "good" + strconv.Itoa(n)
		q.add(id, "good", good.URL, time.Now())
		d.Notify()
		testutil.WaitFor(t, 10*time.Second, func() error {
			if st, _ := q.status(id); st != "delivered" {
				return fmt.Errorf("%s is %s while the other endpoint %s", id, st, m)
			}
			return nil
		})
	}
	mode.Store("ok")
	testutil.WaitFor(t, 10*time.Second, func() error {
		for i := range 6 {
			if st, _ := q.status("bad" + strconv.Itoa(i)); st != "delivered" {
				return fmt.Errorf("bad%d is %s", i, st)
			}
		}
		return nil
	})
}
