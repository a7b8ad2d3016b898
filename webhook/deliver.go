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
	"unicode/utf8"
)

// Pending is one delivery due, as the Queue hands it over.
type Pending struct {
	ID         string
	EndpointID string
	URL        string
	EventID    string // the webhook-id: the same on every attempt
	Body       []byte
	Secrets    []string  // signing secrets (two during a rotation)
	Attempts   int       // attempts made so far
	Since      time.Time // start of the retry window
}

// Queue is the durable store of deliveries the Deliverer works from.
type Queue interface {
	// Due returns up to limit pending deliveries due at or before now,
	// earliest first, passing over those skip refuses.
	Due(now time.Time, limit int, skip func(id, endpointID string) bool) ([]Pending, error)
	// Delivered records a 2xx answer.
	Delivered(id string, attempts, statusCode int, at time.Time) error
	// Retry records a failed attempt and when to try next.
	Retry(id string, attempts, statusCode int, lastErr string, next time.Time) error
	// Failed records the last failed attempt; only an admin retry sends it again.
	Failed(id string, attempts, statusCode int, lastErr string, at time.Time) error
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
	wake chan struct{}

	mu         sync.Mutex
	inFlight   map[string]bool // delivery ids being attempted
	byEndpoint map[string]int
	running    sync.WaitGroup
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
	return &Deliverer{q: q, log: log, opts: opts, wake: make(chan struct{}, 1), inFlight: map[string]bool{}, byEndpoint: map[string]int{}}
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
func (d *Deliverer) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for the attempts in flight
// (each bounded by the timeout). Run must not be called twice at once.
func (d *Deliverer) Run(ctx context.Context) {
	t := time.NewTicker(d.opts.Interval)
	defer t.Stop()
	defer d.running.Wait()
	for {
		d.dispatch(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
	}
}

// dispatch starts an attempt for each due delivery there is a free slot for.
func (d *Deliverer) dispatch(ctx context.Context) {
	// The attempts in flight are copied before the store is read: one
	// that ends after the copy is skipped though its outcome may already
	// be committed, and one that ended before it committed its outcome
	// before the read began, so no delivery is started twice.
	d.mu.Lock()
	free := d.opts.Workers - len(d.inFlight)
	inFlight, busy := maps.Clone(d.inFlight), maps.Clone(d.byEndpoint)
	d.mu.Unlock()
	if free <= 0 || ctx.Err() != nil {
		return
	}
	skip := func(id, endpoint string) bool {
		if inFlight[id] || busy[endpoint] >= d.opts.PerEndpoint {
			return true
		}
		busy[endpoint]++
		return false
	}
	due, err := d.q.Due(d.opts.Now(), free, skip)
	if err != nil {
		d.log.Error("webhooks: listing due deliveries failed", "error", err)
		return
	}
	for _, p := range due {
		d.mu.Lock()
		d.inFlight[p.ID] = true
		d.byEndpoint[p.EndpointID]++
		d.mu.Unlock()
		d.running.Go(func() {
			if err := d.attempt(ctx, p); err != nil {
				d.log.Error("webhooks: recording the outcome failed", "delivery_id", p.ID, "error", err)
			}
			d.mu.Lock()
			delete(d.inFlight, p.ID)
			if d.byEndpoint[p.EndpointID]--; d.byEndpoint[p.EndpointID] <= 0 {
				delete(d.byEndpoint, p.EndpointID)
			}
			d.mu.Unlock()
			d.Notify() // a slot is free
		})
	}
}

// attempt posts p once and records the outcome; the error is the Queue's.
func (d *Deliverer) attempt(ctx context.Context, p Pending) error {
	n := p.Attempts + 1
	code, err := d.post(ctx, p)
	now := d.opts.Now()
	if err == nil {
		d.log.Info("webhook delivered", "delivery_id", p.ID, "event_id", p.EventID, "attempt", n, "status", code)
		return d.q.Delivered(p.ID, n, code, now)
	}
	lastErr := truncate(err.Error(), maxLastErr)
	if now.Sub(p.Since) >= d.opts.RetryFor {
		d.log.Error("webhook delivery failed; giving up", "delivery_id", p.ID, "attempt", n, "error", lastErr)
		return d.q.Failed(p.ID, n, code, lastErr, now)
	}
	next := now.Add(Backoff(n, d.opts.BaseBackoff, d.opts.MaxBackoff))
	d.log.Warn("webhook delivery failed; will retry", "delivery_id", p.ID, "attempt", n, "error", lastErr, "next_attempt", next)
	return d.q.Retry(p.ID, n, code, lastErr, next)
}

// post sends one signed request. Any 2xx is success; the status code is
// returned whenever there was an answer.
func (d *Deliverer) post(ctx context.Context, p Pending) (int, error) {
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

// Backoff is the delay after the n-th failure (1-based):
// min(base * 2^(n-1), limit), computed without overflow.
func Backoff(n int, base, limit time.Duration) time.Duration {
	b := base
	for i := 1; i < n; i++ {
		if b >= limit/2 {
			return limit
		}
		b *= 2
	}
	return min(b, limit)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
