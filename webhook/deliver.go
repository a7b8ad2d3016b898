package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/marbelle/marbelle/internal/retry"
)

// Pending is one delivery due, as the Queue hands it over.
type Pending struct {
	ID         string
	EndpointID string
	URL        string
	EventID    string // the webhook-id: the same on every attempt
	Body       []byte
	Secrets    []string  // signing secrets (two during a rotation), in clear: only in memory
	Attempts   int       // attempts made so far
	Since      time.Time // start of the retry window
	// SecretErr, when set, says why the signing secret cannot be had: the
	// attempt fails with it, sending nothing, and is retried as any other.
	SecretErr error
}

// Outcome is what one attempt came to.
type Outcome struct {
	ID         string
	Attempts   int       // attempts made, this one included
	StatusCode int       // 0 when no answer came
	Err        string    // "" for a 2xx: delivered
	Next       time.Time // when to try again; zero with Err set: failed (given up)
	At         time.Time
}

// Delivered reports whether the attempt succeeded.
func (o Outcome) Delivered() bool { return o.Err == "" }

// Queue is the durable store of deliveries the Deliverer works from.
type Queue interface {
	// Due returns up to limit pending deliveries due at or before now:
	// for each endpoint up to room(endpoint) of them, earliest first,
	// passing over those skip names.
	Due(now time.Time, limit int, room func(endpointID string) int, skip func(id string) bool) ([]Pending, error)
	// Record stores the outcomes of attempts, all in one commit.
	Record(outcomes []Outcome) error
}

// Options tune a Deliverer; zero fields take the defaults.
type Options struct {
	Interval    time.Duration    // how often to look for due deliveries when not woken; default 5 s
	BaseBackoff time.Duration    // delay after the first failure; default 15 s; doubles each attempt
	MaxBackoff  time.Duration    // cap; default 1 h
	RetryFor    time.Duration    // failures go on being retried this long; default 25 h
	Timeout     time.Duration    // one attempt; default 10 s
	Workers     int              // deliveries in flight at once; default 16
	PerEndpoint int              // of those, to one endpoint; default 2
	FlushEvery  time.Duration    // outcomes are recorded together at most this often; default 100 ms
	CoolDown    time.Duration    // an endpoint that failed rests this long, doubling per failure in a row (up to 5 min or MaxBackoff); default 1 s
	Client      *http.Client     // default: a client that follows no redirect
	Now         func() time.Time // default time.Now
}

// maxLastErr caps the error text stored with a delivery.
const maxLastErr = 500

// Deliverer posts due deliveries in the background: at most Workers at
// once and at most PerEndpoint to any one endpoint, so that a slow or dead
// endpoint holds only its own slots and never delays the others.
type Deliverer struct {
	q    Queue
	log  *slog.Logger
	opts Options
	wake retry.Wake

	mu         sync.Mutex
	inFlight   map[string]bool // delivery ids attempted and not yet recorded
	attempting int             // of those, attempts not yet ended: the slots in use
	byEndpoint map[string]int  // attempts not yet ended, per endpoint
	outcomes   []Outcome       // ended, to be recorded
	// An endpoint whose last attempts failed rests until resting[e]: its
	// new deliveries wait instead of each costing a failed request, so a
	// dead endpoint costs the server next to nothing.
	resting  map[string]time.Time
	failures map[string]int // failed attempts in a row, per endpoint
	running  sync.WaitGroup
}

// NewDeliverer returns a Deliverer; log may be nil.
func NewDeliverer(q Queue, log *slog.Logger, opts Options) *Deliverer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts.Interval = orDefault(opts.Interval, 5*time.Second)
	opts.BaseBackoff = orDefault(opts.BaseBackoff, 15*time.Second)
	opts.MaxBackoff = max(orDefault(opts.MaxBackoff, time.Hour), opts.BaseBackoff)
	opts.RetryFor = orDefault(opts.RetryFor, 25*time.Hour)
	opts.Timeout = orDefault(opts.Timeout, 10*time.Second)
	opts.FlushEvery = orDefault(opts.FlushEvery, 100*time.Millisecond)
	opts.CoolDown = orDefault(opts.CoolDown, time.Second)
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.PerEndpoint <= 0 {
		opts.PerEndpoint = 2
	}
	if opts.Client == nil {
		opts.Client = NewClient(opts.Timeout)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Deliverer{q: q, log: log, opts: opts, wake: retry.NewWake(), inFlight: map[string]bool{}, byEndpoint: map[string]int{},
		resting: map[string]time.Time{}, failures: map[string]int{}}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// NewClient is an HTTP client for deliveries: it never follows a redirect
// (a 3xx is a failed attempt) and gives up after timeout.
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Notify wakes Run to look for due deliveries now; it never blocks.
func (d *Deliverer) Notify() { d.wake.Notify() }

// Run delivers until ctx ends, then waits for the attempts in flight
// (each bounded by the timeout) and records them. Run must not be called
// twice at once.
//
// Outcomes are recorded together, at most every FlushEvery (sooner when
// every slot has ended): one commit for many deliveries, so deliveries
// cost requests few fsyncs, and a dead endpoint almost none. A crash
// between an answer and its record sends that delivery again (at least once).
func (d *Deliverer) Run(ctx context.Context) {
	t := time.NewTicker(d.opts.Interval)
	defer t.Stop()
	f := time.NewTicker(d.opts.FlushEvery)
	defer f.Stop()
	for {
		d.dispatch(ctx)
		select {
		case <-ctx.Done():
			d.running.Wait()
			d.flush()
			return
		case <-t.C:
		case <-f.C:
			d.flush()
		case <-d.wake:
			d.mu.Lock()
			full := len(d.outcomes) >= d.opts.Workers
			d.mu.Unlock()
			if full {
				d.flush()
			}
		}
	}
}

// flush records the ended attempts in one commit; only then may their
// deliveries be picked again (they are still pending in the store until
// it). On an error they wait for the next flush.
func (d *Deliverer) flush() {
	d.mu.Lock()
	outs := d.outcomes
	d.outcomes = nil
	d.mu.Unlock()
	if len(outs) == 0 {
		return
	}
	if err := d.q.Record(outs); err != nil {
		d.log.Error("webhooks: recording outcomes failed; will try again", "deliveries", len(outs), "error", err)
		d.mu.Lock()
		d.outcomes = append(outs, d.outcomes...)
		d.mu.Unlock()
		return
	}
	d.mu.Lock()
	for _, o := range outs {
		delete(d.inFlight, o.ID)
	}
	d.mu.Unlock()
	d.Notify() // what was held back may be due
}

// dispatch starts an attempt for each due delivery there is a free slot for.
func (d *Deliverer) dispatch(ctx context.Context) {
	// The attempts in flight are copied before the store is read: one
	// that ends after the copy is skipped though its outcome may already
	// be committed, and one that ended before it committed its outcome
	// before the read began, so no delivery is started twice.
	d.mu.Lock()
	free := d.opts.Workers - d.attempting
	inFlight, busy, resting := maps.Clone(d.inFlight), maps.Clone(d.byEndpoint), maps.Clone(d.resting)
	d.mu.Unlock()
	if free <= 0 || ctx.Err() != nil {
		return
	}
	now := d.opts.Now()
	room := func(endpoint string) int {
		if now.Before(resting[endpoint]) {
			return 0
		}
		return d.opts.PerEndpoint - busy[endpoint]
	}
	due, err := d.q.Due(now, free, room, func(id string) bool { return inFlight[id] })
	if err != nil {
		d.log.Error("webhooks: listing due deliveries failed", "error", err)
		return
	}
	for _, p := range due {
		d.mu.Lock()
		d.inFlight[p.ID] = true
		d.attempting++
		d.byEndpoint[p.EndpointID]++
		d.mu.Unlock()
		d.running.Go(func() {
			o := d.attempt(ctx, p)
			d.mu.Lock()
			d.outcomes = append(d.outcomes, o)
			d.noteEndpoint(p.EndpointID, o)
			d.attempting--
			if d.byEndpoint[p.EndpointID]--; d.byEndpoint[p.EndpointID] <= 0 {
				delete(d.byEndpoint, p.EndpointID)
			}
			d.mu.Unlock()
			d.Notify() // a slot is free
		})
	}
}

// noteEndpoint lets an endpoint rest after a failure, longer for each
// failure in a row, and ends its rest at a success. Called with d.mu held.
func (d *Deliverer) noteEndpoint(endpoint string, o Outcome) {
	if o.Delivered() {
		delete(d.failures, endpoint)
		delete(d.resting, endpoint)
		return
	}
	d.failures[endpoint]++
	d.resting[endpoint] = o.At.Add(retry.Backoff(d.failures[endpoint], d.opts.CoolDown, max(d.opts.CoolDown, min(5*time.Minute, d.opts.MaxBackoff))))
}

// attempt posts p once and says what came of it.
func (d *Deliverer) attempt(ctx context.Context, p Pending) Outcome {
	o := Outcome{ID: p.ID, Attempts: p.Attempts + 1}
	code, err := d.post(ctx, p)
	o.StatusCode, o.At = code, d.opts.Now()
	if err == nil {
		d.log.Info("webhook delivered", "delivery_id", p.ID, "event_id", p.EventID, "attempt", o.Attempts, "status", code)
		return o
	}
	o.Err = retry.Truncate(err.Error(), maxLastErr)
	if o.At.Sub(p.Since) >= d.opts.RetryFor {
		d.log.Error("webhook delivery failed; giving up", "delivery_id", p.ID, "attempt", o.Attempts, "error", o.Err)
		return o
	}
	o.Next = o.At.Add(retry.Backoff(o.Attempts, d.opts.BaseBackoff, d.opts.MaxBackoff))
	d.log.Warn("webhook delivery failed; will retry", "delivery_id", p.ID, "attempt", o.Attempts, "error", o.Err, "next_attempt", o.Next)
	return o
}

// post sends one signed request. Any 2xx is success; the status code is
// returned whenever there was an answer.
func (d *Deliverer) post(ctx context.Context, p Pending) (int, error) {
	if p.SecretErr != nil {
		return 0, p.SecretErr
	}
	now := d.opts.Now()
	sig, err := Sign(p.Secrets, p.EventID, now, p.Body)
	if err != nil {
		return 0, err
	}
	// Not tied to Run's context: shutdown lets an attempt finish rather
	// than record a spurious failure; the client's timeout bounds it.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, p.URL, bytes.NewReader(p.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Marbelle-Webhooks/1")
	req.Header.Set("webhook-id", p.EventID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}
