package mail

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/marbelle/marbelle/internal/retry"
)

// Pending is one queued mail, already decrypted by the Queue implementation.
type Pending struct {
	ID       string
	From     string // envelope sender
	To       []string
	Raw      []byte // full RFC 5322 message
	Attempts int    // attempts made so far
}

// Queue is the durable outbox the Deliverer works from.
type Queue interface {
	// Due returns up to limit queued mails whose next attempt time is at or before now, oldest due first.
	Due(now time.Time, limit int) ([]Pending, error)
	// Sent marks a mail delivered (the implementation erases its body).
	Sent(id string, at time.Time) error
	// Retry records a failed attempt and when to try next.
	Retry(id string, attempts int, lastErr string, next time.Time) error
	// Failed records the last failed attempt; the mail is not tried again until an admin re-queues it.
	Failed(id string, attempts int, lastErr string) error
}

// DeliveryOptions tune a Deliverer; zero fields take the defaults.
type DeliveryOptions struct {
	Interval     time.Duration    // how often to look for due mail when not notified; default 5 s
	BaseBackoff  time.Duration    // delay after the first failure; default 30 s; doubles each attempt
	MaxBackoff   time.Duration    // cap; default 10 min
	MaxAttempts  int              // temporary failures (network, 4xx): default 12, then Failed
	MaxPermanent int              // permanent failures (5xx): default 3, then Failed
	BatchSize    int              // default 20
	Now          func() time.Time // default time.Now
}

// attemptTimeout bounds one send; the attempt is not tied to Run's context
// so that shutdown lets it finish instead of recording a spurious failure.
const attemptTimeout = 30 * time.Second

// maxLastErr caps the error text stored with a mail; relays can be wordy.
const maxLastErr = 1000

// Deliverer sends queued mail, one at a time, retrying with backoff.
type Deliverer struct {
	q    Queue
	s    Sender
	log  *slog.Logger
	opts DeliveryOptions
	wake retry.Wake
}

// NewDeliverer returns a Deliverer; log may be nil.
func NewDeliverer(q Queue, s Sender, log *slog.Logger, opts DeliveryOptions) *Deliverer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = 30 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Minute
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.BaseBackoff)
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 12
	}
	if opts.MaxPermanent <= 0 {
		opts.MaxPermanent = 3
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Deliverer{q: q, s: s, log: log, opts: opts, wake: retry.NewWake()}
}

// Notify wakes Run to look for due mail now. It never blocks; several
// notifications before Run looks again count as one.
func (d *Deliverer) Notify() { d.wake.Notify() }

// Run delivers due mail until ctx is cancelled, then returns after the
// attempt in progress (if any) ends. Queue errors are logged and retried on
// the next tick. Run must not be called twice at once.
func (d *Deliverer) Run(ctx context.Context) { retry.Loop(ctx, d.opts.Interval, d.wake, d.pass) }

// pass sends everything due now, batch after batch.
func (d *Deliverer) pass(ctx context.Context) {
	// tried guards against a Queue that keeps returning a mail whose
	// outcome it failed to record: each mail gets one attempt per pass.
	tried := make(map[string]bool)
	for ctx.Err() == nil {
		batch, err := d.q.Due(d.opts.Now(), d.opts.BatchSize)
		if err != nil {
			d.log.Error("mail queue: listing due mail failed", "error", err)
			return
		}
		progressed := false
		for _, p := range batch {
			if ctx.Err() != nil {
				return
			}
			if tried[p.ID] {
				continue
			}
			tried[p.ID], progressed = true, true
			if err := d.attempt(ctx, p); err != nil {
				d.log.Error("mail queue: recording delivery outcome failed", "id", p.ID, "error", err)
				return
			}
		}
		if !progressed || len(batch) < d.opts.BatchSize {
			return
		}
	}
}

// attempt sends p once and records the outcome; the error is the Queue's.
func (d *Deliverer) attempt(ctx context.Context, p Pending) error {
	n := p.Attempts + 1
	d.log.Debug("mail sending", "id", p.ID, "attempt", n, "to", p.To)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), attemptTimeout)
	err := d.s.Send(sctx, p.From, p.To, p.Raw)
	cancel()
	now := d.opts.Now()
	if err == nil {
		faultAfterSMTP() // does nothing except in a -tags faults build (faults_on.go)
		if err := d.q.Sent(p.ID, now); err != nil {
			return err
		}
		d.log.Info("mail sent", "id", p.ID, "attempt", n)
		return nil
	}

	lastErr := retry.Truncate(err.Error(), maxLastErr)
	// Relays often quote the recipient in errors; keep addresses out of
	// non-debug logs.
	logErr := lastErr
	for _, to := range p.To {
		if to != "" {
			logErr = strings.ReplaceAll(logErr, to, "<recipient>")
		}
	}
	perm := Permanent(err)
	limit := d.opts.MaxAttempts
	if perm {
		// One attempt counter serves both limits: a 5xx after earlier
		// temporary failures ends delivery once n reaches MaxPermanent.
		limit = d.opts.MaxPermanent
	}
	if n >= limit {
		if err := d.q.Failed(p.ID, n, lastErr); err != nil {
			return err
		}
		d.log.Error("mail delivery failed; giving up", "id", p.ID, "attempt", n, "permanent", perm, "error", logErr)
		return nil
	}
	next := now.Add(retry.Backoff(n, d.opts.BaseBackoff, d.opts.MaxBackoff))
	if err := d.q.Retry(p.ID, n, lastErr, next); err != nil {
		return err
	}
	d.log.Warn("mail delivery failed; will retry", "id", p.ID, "attempt", n, "permanent", perm, "error", logErr, "next_attempt", next)
	return nil
}
