package app

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are argon2id's cost parameters.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// argon2Floor is OWASP's minimum (m=19 MiB, t=2, p=1); production refuses less.
var argon2Floor = Argon2Params{Memory: 19456, Time: 2, Threads: 1}

// AtLeast reports whether p costs at least as much as min in memory and time.
func (p Argon2Params) AtLeast(min Argon2Params) bool {
	return p.Memory >= min.Memory && p.Time >= min.Time && p.Threads >= min.Threads
}

func (p Argon2Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

func parseArgon2Params(v string) (Argon2Params, error) {
	var p Argon2Params
	seen := 0
	for _, item := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		n, err := strconv.ParseUint(val, 10, 32)
		if !ok || err != nil || n == 0 {
			return p, fmt.Errorf("%q: want m=<KiB>,t=<passes>,p=<lanes>", v)
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return p, fmt.Errorf("p must be at most 255")
			}
			p.Threads = uint8(n)
		default:
			return p, fmt.Errorf("%q: unknown parameter %q", v, k)
		}
		seen++
	}
	if seen != 3 || p.Memory == 0 || p.Time == 0 || p.Threads == 0 {
		return p, fmt.Errorf("%q: want m=<KiB>,t=<passes>,p=<lanes>", v)
	}
	if p.Memory < 8*uint32(p.Threads) {
		return p, fmt.Errorf("m must be at least 8 KiB per lane")
	}
	return p, nil
}

const (
	saltLen = 16
	keyLen  = 32
)

var errHasherBusy = errors.New("password hasher busy")

// Hasher computes argon2id hashes, at most `slots` at a time, so that a
// flood of logins cannot take more than slots × m of memory.
type Hasher struct {
	params Argon2Params
	slots  chan struct{}
	wait   time.Duration
	dummy  string // verified against for unknown emails, so they cost one hash too
}

// NewHasher makes a hasher running at most slots hashes at once; a request
// waits at most wait for a slot before errHasherBusy.
func NewHasher(p Argon2Params, slots int, wait time.Duration) (*Hasher, error) {
	if slots < 1 {
		slots = 1
	}
	h := &Hasher{params: p, slots: make(chan struct{}, slots), wait: wait}
	// The dummy needs the current parameters, not a real password: random
	// salt and key cost the same to verify against, and computing a real
	// hash at start-up would take m of memory and time for nothing.
	salt, key := make([]byte, saltLen), make([]byte, keyLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	rand.Read(key)
	b64 := base64.RawStdEncoding
	h.dummy = fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
	return h, nil
}

func (h *Hasher) acquire(ctx context.Context) error {
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-t.C:
		return errHasherBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release frees a slot. The hash that held it left m of dead memory:
// collecting it first means the next hash reuses it instead of adding a
// third block, so peak memory stays at slots × m (a collection of a heap
// of a few large pointer-free blocks takes about a millisecond).
func (h *Hasher) release() {
	runtime.GC()
	<-h.slots
}

func (h *Hasher) hashNow(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.Memory, h.params.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.params.Memory, h.params.Time, h.params.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Hash returns the PHC string of password. Errors: errHasherBusy, ctx's.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hashNow(password)
}

// Verify checks password against encoded (an empty or foreign hash costs a
// hash all the same and fails). A hash imported from Django is checked as
// Django would (verifyDjango), in a slot all the same. rehash is true when
// encoded is weaker than the current parameters or is a Django hash.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, rehash bool, err error) {
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	// Before decodePHC, which would also take Django's "argon2$argon2id$…".
	if ok, recognised := verifyDjango(encoded, password); recognised {
		return ok, ok, nil
	}
	p, salt, want, perr := decodePHC(encoded)
	if perr != nil {
		p, salt, want, _ = decodePHC(h.dummy)
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want))) // #nosec G115 -- decodePHC bounds len(want) to 16..128
	ok = subtle.ConstantTimeCompare(got, want) == 1 && perr == nil
	return ok, ok && !p.AtLeast(h.params), nil
}

// VerifyDummy costs what Verify costs and always fails: used when the email
// is unknown, so timing does not tell whether it exists.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, h.dummy, password+"\x00")
	return err
}

func decodePHC(s string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return p, nil, nil, errors.New("not an argon2id v19 PHC string")
	}
	var m, t, par uint64
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &par); err != nil || m == 0 || t == 0 || par == 0 || par > 255 || m > 1<<22 || t > 100 {
		return p, nil, nil, errors.New("bad argon2id parameters")
	}
	p = Argon2Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(par)}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, errors.New("bad salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, errors.New("bad key")
	}
	return p, salt, key, nil
}

const maxPasswordLength = 128

// commonPasswords is a sorted, lower-cased list of common passwords of at
// least 8 characters (docs/security.md names its source). It is searched in
// place, so it costs no heap.
//
//go:embed commonpasswords.txt
var commonPasswords string

func isCommonPassword(pw string) bool {
	pw = strings.ToLower(pw)
	lo, hi := 0, len(commonPasswords)
	for lo < hi {
		mid := (lo + hi) / 2
		// The line containing mid.
		start := strings.LastIndexByte(commonPasswords[:mid], '\n') + 1
		end := start + strings.IndexByte(commonPasswords[start:], '\n')
		line := commonPasswords[start:end]
		switch {
		case line == pw:
			return true
		case line < pw:
			lo = end + 1
		default:
			hi = start
		}
	}
	return false
}

// checkPassword applies the policy: length in code points, the common
// list, and no context words (the email's local part, the user's names).
// It returns the messages for errors.password (or the field named).
func checkPassword(pw string, minLen int, email, firstName, lastName string) []string {
	var msgs []string
	n := utf8.RuneCountInString(pw)
	switch {
	case n < minLen:
		msgs = append(msgs, fmt.Sprintf("Use at least %d characters.", minLen))
	case n > maxPasswordLength:
		msgs = append(msgs, fmt.Sprintf("Use at most %d characters.", maxPasswordLength))
	}
	if n >= minLen && isCommonPassword(pw) {
		msgs = append(msgs, "This password is too common; choose one that is harder to guess.")
	}
	lower := strings.ToLower(pw)
	local, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(email)), "@")
	for _, word := range []struct{ w, what string }{{local, "your email address"}, {strings.ToLower(strings.TrimSpace(firstName)), "your name"}, {strings.ToLower(strings.TrimSpace(lastName)), "your name"}} {
		if utf8.RuneCountInString(word.w) >= 3 && strings.Contains(lower, word.w) {
			msgs = append(msgs, "The password must not contain "+word.what+".")
			break
		}
	}
	for _, r := range pw {
		if r == 0 || (unicode.IsControl(r) && r != '\t') {
			msgs = append(msgs, "The password must not contain control characters.")
			break
		}
	}
	return msgs
}
