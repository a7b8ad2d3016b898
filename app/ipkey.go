package app

import "net/netip"

// limiterKey is what per-IP rate limits count a client IP under. An IPv6
// client is counted on its /64, the smallest block a subscriber is given,
// so that walking through the addresses of one's own /64 gains nothing. An
// IPv4 address is counted as itself, also when written IPv4-mapped or
// under RFC 6052's NAT64 prefix 64:ff9b::/96 (behind a stateless
// translator every IPv4 client arrives there, and one /64 would put them
// all on one budget). Audit and logs keep the full address; only the
// limiter's key changes.
func limiterKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip // not an IP: clientIP passes an unparsable peer on as it is
	}
	a6 := a.WithZone("")
	nat64 := netip.PrefixFrom(netip.AddrFrom16([16]byte{0, 0x64, 0xff, 0x9b}), 96)
	switch {
	case a.Is4():
		return ip
	case a.Is4In6():
		return a.Unmap().String()
	case nat64.Contains(a6):
		b := a6.As16()
		return netip.AddrFrom4([4]byte(b[12:])).String()
	}
	p, _ := a6.Prefix(64) // cannot fail: an IPv6 address has 128 bits
	return p.String()
}
