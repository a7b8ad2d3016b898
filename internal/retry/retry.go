// Package retry holds what the mail outbox, the webhook deliverer and the
// sweeper share about work done again and again: the loop that runs a pass
// each interval or when woken, the growing delay after a failed attempt and
// the stored error text.
package retry

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"
)

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

// Truncate cuts s to at most n bytes without splitting a UTF-8 sequence,
// saying how much it cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + fmt.Sprintf("… (%d bytes cut)", len(s)-n)
}

// Wake is a one-slot signal to a Loop: Notify never blocks, and several
// notifications before the loop looks again count as one.
type Wake chan struct{}

// NewWake returns a Wake that no one has notified yet.
func NewWake() Wake { return make(Wake, 1) }

// Notify wakes the loop that waits on w, unless it is woken already.
func (w Wake) Notify() {
	select {
	case w <- struct{}{}:
	default:
	}
}

// Loop runs pass at once, then again every interval and whenever wake is
// notified (a nil wake never is), until ctx ends. A pass in progress is
// not cut short: Loop returns after it.
func Loop(ctx context.Context, interval time.Duration, wake Wake, pass func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
	}
}
