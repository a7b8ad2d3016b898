package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"time"

	"github.com/google/uuid"
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

// NormalizeEmail is the form under which emails are unique: trimmed and lower-cased.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
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
