// Package testutil holds the test helpers that the tests of several
// packages share: a buffer safe for concurrent use, a clock tests move,
// free loopback ports, waiting for a condition with a deadline, the links
// that mails carry, and reading a development server's captured mail over
// HTTP.
//
// Only tests import it. It imports nothing of this module, so that any
// package's own tests (package mail, package app) can use it without an
// import cycle. Helpers that need a package's unexported types stay in that
// package's tests (app's newTestServer, e2e's startChild, mail's
// startSink).
package testutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is a bytes.Buffer that one goroutine may write (a logger, a
// child's stderr) while another reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Clock is a clock that a test sets and moves, while a server or a
// delivery loop reads it from other goroutines (its Now is the injected
// time source).
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock that reads t until it is set or moved.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set makes the clock read t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// FreePort returns a loopback address ("127.0.0.1:PORT") on which nothing
// listened a moment ago: for a server a test starts later, or for a relay
// that is down.
func FreePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WaitFor calls cond every 10 ms until it returns nil, and fails the test
// with cond's last error once within has passed (cond runs at least once).
// It checks an outcome, not how long it took: give within generously.
func WaitFor(tb testing.TB, within time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("waited %v: %v", within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// DjangoPasswords reads the Django fixture's password table (JSON with
// "passwords", by email, and "default_cost", a list of emails) from path:
// the plaintext passwords and which hashes were made at Django's defaults.
// It panics on a broken file, which is a broken test tree.
func DjangoPasswords(path string) (map[string]string, map[string]bool) {
	b, err := os.ReadFile(path) // #nosec G304 -- a testdata path
	if err != nil {
		panic(err)
	}
	var f struct {
		Passwords   map[string]string `json:"passwords"`
		DefaultCost []string          `json:"default_cost"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		panic(fmt.Sprintf("%s: %v", path, err))
	}
	cost := map[string]bool{}
	for _, e := range f.DefaultCost {
		cost[e] = true
	}
	return f.Passwords, cost
}
