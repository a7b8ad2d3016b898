package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// timeKey is the 8-byte big-endian Unix-nanosecond form of t, so that byte
// order is time order (times before 1970 clamp to zero).
func timeKey(t time.Time) []byte {
	n := t.UnixNano()
	if n < 0 {
		n = 0
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	return b[:]
}

func join(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

// NormalizeEmail is the form under which emails are unique (the
// users_by_email key and User.Email): trimmed and lower-cased, the local
// part in Unicode NFC and the domain in its IDNA ASCII form, so that
// composed and decomposed, Unicode and punycode spellings of one address
// are one account. A domain IDNA refuses stays as it is, lower-cased: the
// app refuses such addresses, so they only come in as lookups, which find
// nothing (or an account stored before these rules; see upgradeTo3).
func NormalizeEmail(email string) string {
	e, _ := CanonicalEmail(email)
	return e
}

var errNoDomain = errors.New("the address has no domain")

// CanonicalEmail is NormalizeEmail that also returns the reason when the
// part after the last "@" is not a domain name IDNA accepts (idna.Lookup);
// the form returned then is NormalizeEmail's.
func CanonicalEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	at := strings.LastIndexByte(e, '@')
	if at < 0 {
		return norm.NFC.String(e), errNoDomain
	}
	local, domain := norm.NFC.String(e[:at]), e[at+1:]
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return local + "@" + domain, err
	}
	return local + "@" + ascii, nil
}

// emailSearchForms are the spellings under which a search text q (already
// trimmed and lower-cased) can appear in a stored email: q itself and its
// normal form, so that staff find "user@xn--mnchen-3ya.de" by
// "user@münchen.de" or "münchen". A text without "@" is taken as part of a
// domain when IDNA accepts it.
func emailSearchForms(q string) []string {
	forms := []string{q}
	add := func(f string) {
		if f != "" && !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	if strings.Contains(q, "@") {
		add(NormalizeEmail(q))
		return forms
	}
	add(norm.NFC.String(q))
	if ascii, err := idna.Lookup.ToASCII(q); err == nil {
		add(ascii)
	}
	return forms
}

// HashSecret is how session secrets and tokens are keyed: only the SHA-256
// of a secret is ever stored.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// NewID returns a new time-ordered id.
func NewID() uuid.UUID {
	return uuid.Must(uuid.NewV7())
}

func idFromBytes(b []byte) (uuid.UUID, bool) {
	id, err := uuid.FromBytes(b)
	return id, err == nil
}
