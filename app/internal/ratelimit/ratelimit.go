// Package ratelimit limits events per key (a client address, an email):
// Limiter is a keyed GCRA with bounded memory, and Limits are the named
// limits of the contract, which Parse reads from a setting.
package ratelimit

import (
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is N events per Per.
type Rate struct {
	N   int
	Per time.Duration
}

// Limits are the named limits of the contract; Off turns them all off.
type Limits struct {
	Off                                                bool
	Login, Register, Token, LoginFailures, EmailChange Rate
	// UserWrites bounds a signed-in user's state-changing requests, so one
	// session cannot grow the store and the audit log without end.
	UserWrites Rate
	// MailRecipient bounds the mail anyone can have sent to one address
	// (verification, resend, reset, "already registered", email change).
	MailRecipient Rate
}

// Defaults are the limits when nothing overrides them.
func Defaults() Limits {
	return Limits{
		Login:         Rate{5, time.Minute},
		Register:      Rate{5, time.Minute},
		Token:         Rate{3, time.Minute},
		LoginFailures: Rate{10, 15 * time.Minute},
		EmailChange:   Rate{5, time.Hour},
		UserWrites:    Rate{120, time.Minute},
		MailRecipient: Rate{5, time.Hour},
	}
}

// Parse reads "login=5/1m,register=5/1m,…" over the defaults, or "off".
// An empty value is the defaults.
func Parse(v string) (Limits, error) {
	rl := Defaults()
	if strings.EqualFold(strings.TrimSpace(v), "off") {
		rl.Off = true
		return rl, nil
	}
	targets := map[string]*Rate{
		"login": &rl.Login, "register": &rl.Register, "token": &rl.Token,
		"login_failures": &rl.LoginFailures, "email_change": &rl.EmailChange,
		"user_writes": &rl.UserWrites, "mail_recipient": &rl.MailRecipient,
	}
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, val, ok := strings.Cut(item, "=")
		target := targets[strings.TrimSpace(name)]
		if !ok || target == nil {
			return rl, fmt.Errorf("unknown limit %q (known: login, register, token, login_failures, email_change, user_writes, mail_recipient)", item)
		}
		n, per, ok := strings.Cut(strings.TrimSpace(val), "/")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || count < 1 {
			return rl, fmt.Errorf("%q: want N/duration, e.g. 5/1m", item)
		}
		d, err := time.ParseDuration(per)
		if err != nil || d <= 0 {
			return rl, fmt.Errorf("%q: want N/duration, e.g. 5/1m", item)
		}
		*target = Rate{count, d}
	}
	return rl, nil
}

const limiterShards = 32

// Limiter is a keyed GCRA limiter: per key it keeps one time (the
// theoretical arrival time), which allows a burst of N and then one event
// every Per/N. Memory is bounded: keys whose time has passed are dropped,
// and a shard at its cap drops arbitrary keys to take a new one.
type Limiter struct {
	rate     Rate
	interval time.Duration
	maxKeys  int // per shard
	seed     maphash.Seed
	shards   [limiterShards]limiterShard
	off      bool
}

type limiterShard struct {
	mu  sync.Mutex
	tat map[string]time.Time
}

// New limits to rate, holding at most maxKeys keys; when off it allows
// everything.
func New(rate Rate, maxKeys int, off bool) *Limiter {
	l := &Limiter{rate: rate, interval: rate.Per / time.Duration(rate.N), maxKeys: max(maxKeys/limiterShards, 16), seed: maphash.MakeSeed(), off: off}
	for i := range l.shards {
		l.shards[i].tat = map[string]time.Time{}
	}
	return l
}

func (l *Limiter) shard(key string) *limiterShard {
	return &l.shards[maphash.String(l.seed, key)%limiterShards]
}

// Allow takes one event for key at now; when refused it says how long until
// the next would be allowed.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	if l.off {
		return true, 0
	}
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, ok := s.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	next := tat.Add(l.interval)
	if over := next.Sub(now) - l.rate.Per; over > 0 {
		return false, over
	}
	if !ok && len(s.tat) >= l.maxKeys {
		s.evict(now, l.maxKeys)
	}
	s.tat[key] = next
	return true, 0
}

// Refund gives back one event for key (a login that turned out right).
func (l *Limiter) Refund(key string) {
	if l.off {
		return
	}
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if tat, ok := s.tat[key]; ok {
		s.tat[key] = tat.Add(-l.interval)
	}
}

// Len is the number of keys held (for tests and metrics).
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += len(l.shards[i].tat)
		l.shards[i].mu.Unlock()
	}
	return n
}

// evict drops every expired key, then arbitrary keys until a quarter of
// the cap is free, so that eviction is rare and its cost amortised.
func (s *limiterShard) evict(now time.Time, maxKeys int) {
	for k, t := range s.tat {
		if !t.After(now) {
			delete(s.tat, k)
		}
	}
	for k := range s.tat {
		if len(s.tat) <= maxKeys*3/4 {
			break
		}
		delete(s.tat, k)
	}
}
