package app

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/marbelle/marbelle/app/internal/ratelimit"
)

// TestIssue14IPv6LimitKeyedOnSlash64: one subscriber's /64 holds 2^64
// addresses, so the per-IP limits count an IPv6 client on its /64, while
// audit and the session list keep the full address.
func TestIssue14IPv6LimitKeyedOnSlash64(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.RateLimits = ratelimit.Defaults() // login: 5 a minute per client
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	n := 0
	login := func(xff string) *response {
		n++ // a new email each time: the per-account failure limit stays out of it
		return secLogin(t, ts.client(), fmt.Sprintf("issue14-v6-%d@example.test", n), "wrong password guess", secHeader("X-Forwarded-For", xff))
	}

	// Six addresses of one /64, written every which way, within a minute
	// (the test clock does not move): the 6th is refused.
	for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:DB8:1:2:a:b:c:d", "2001:db8:1:2::", "2001:db8:1:2:8000::42"} {
		r := login(ip)
		if i < 5 {
			r.want(t, 401, CodeUnauthenticated)
			continue
		}
		r.want(t, 429, CodeRateLimited)
		secRetryAfter(t, r)
	}
	// The neighbouring /64 has its own budget.
	login("2001:db8:1:3::1").want(t, 401, CodeUnauthenticated)

	// IPv4 is counted per address: six neighbours of one /24 all get through.
	for i := 1; i <= 6; i++ {
		login(fmt.Sprintf("198.51.100.%d", i)).want(t, 401, CodeUnauthenticated)
	}
	// An IPv4-mapped IPv6 address is that IPv4 address, not a /64.
	for i := 1; i <= 6; i++ {
		ip := "203.0.113.9"
		if i%2 == 0 {
			ip = "::ffff:203.0.113.9"
		}
		r := login(ip)
		if i <= 5 {
			r.want(t, 401, CodeUnauthenticated)
			continue
		}
		r.want(t, 429, CodeRateLimited)
	}
	login("203.0.113.10").want(t, 401, CodeUnauthenticated)

	// The full address is kept for what the owner and staff see.
	const email = "issue14-v6-owner@example.test"
	ts.mustUser(email, testPassword)
	c := ts.client()
	secLogin(t, c, email, testPassword, secHeader("X-Forwarded-For", "2001:db8:1:3::abcd")).want(t, 200, "")
	var sessions []sessionView
	c.do("GET", "/api/v1/auth/sessions", nil).want(t, 200, "").data(t, &sessions)
	if len(sessions) != 1 || sessions[0].IP != "2001:db8:1:3::abcd" {
		t.Fatalf("sessions: got %+v, want one from 2001:db8:1:3::abcd", sessions)
	}
}

func TestIssue14LimiterKey(t *testing.T) {
	for _, tc := range []struct{ ip, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"0.0.0.0", "0.0.0.0"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"64:ff9b::192.0.2.1", "192.0.2.1"},
		{"64:ff9b::c000:201", "192.0.2.1"},
		{"64:ff9b:0:0:1::1", "64:ff9b::/64"}, // outside the /96: an IPv6 client like any other
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::", "2001:db8:1:2::/64"},
		{"2001:DB8:1:2:FFFF:FFFF:FFFF:FFFF", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"2001:db8::1", "2001:db8::/64"},
		{"::1", "::/64"},
		{"::", "::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"fe80::2%eth1", "fe80::/64"},
		{"not an ip", "not an ip"},
		{"", ""},
	} {
		if got := limiterKey(tc.ip); got != tc.want {
			t.Errorf("limiterKey(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
	// No IPv4 key is ever an IPv6 key.
	if limiterKey("0.0.0.0") == limiterKey("::") || limiterKey("::ffff:0.0.0.0") == limiterKey("::") {
		t.Fatal("an IPv4 key equals an IPv6 one")
	}
}
