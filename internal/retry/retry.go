// Package retry holds what the mail outbox and the webhook deliverer
// share about failed attempts: the growing delay and the stored error text.
package retry

import (
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
