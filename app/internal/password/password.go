// Package password hashes and checks passwords: argon2id hashes in PHC
// form, computed in a bounded number of slots that own their memory
// (Hasher); hashes imported from Django, checked as Django checks them
// (djangohash.go); and the policy a new password must meet (Check).
package password

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

	"github.com/marbelle/marbelle/app/internal/password/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// Floor is OWASP's minimum (m=19 MiB, t=2, p=1); production refuses less.
func Floor() Params { return Params{Memory: 19456, Time: 2, Threads: 1} }

// AtLeast reports whether p costs at least as much as min in memory and time.
func (p Params) AtLeast(min Params) bool {
	return p.Memory >= min.Memory && p.Time >= min.Time && p.Threads >= min.Threads
}

func (p Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

// ParseParams reads "m=<KiB>,t=<passes>,p=<lanes>", all three, each at
// least 1, with at least 8 KiB per lane.
func ParseParams(v string) (Params, error) {
	var p Params
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

// ErrBusy is a Hasher's answer when no hashing slot came free within its
// wait.
var ErrBusy = errors.New("password hasher busy")

// hashMemoryIdle is how long a hashing slot's memory stays resident after
// its last hash: a flood of logins reuses it, and a quiet server gives the
// m KiB per slot back.
const hashMemoryIdle = 10 * time.Second

// Hasher computes argon2id hashes, at most `slots` at a time, so that a
// flood of logins cannot take more than slots × m of memory. Each slot
// owns its hash memory (argon2.Memory), reused from hash to hash.
type Hasher struct {
	params Params
	free   chan *argon2.Memory // a slot's memory while no hash holds it
	wait   time.Duration
	dummy  string // verified against for unknown emails, so they cost one hash too
	// idle gives the free slots' pages back hashMemoryIdle after the last
	// hash ended; each release pushes it back.
	idle        *time.Timer
	idleRelease time.Duration
}

// NewHasher makes a hasher running at most slots hashes at once; a request
// waits at most wait for a slot before ErrBusy.
func NewHasher(p Params, slots int, wait time.Duration) (*Hasher, error) {
	if slots < 1 {
		slots = 1
	}
	h := &Hasher{params: p, free: make(chan *argon2.Memory, slots), wait: wait, idleRelease: hashMemoryIdle}
	for range slots {
		mem, err := argon2.NewMemory(p.Memory)
		if err != nil {
			return nil, err
		}
		h.free <- mem
	}
	h.idle = time.AfterFunc(time.Hour, h.releaseIdleMemory)
	h.idle.Stop()
	// The dummy needs the current parameters, not a real password: random
	// salt and key cost the same to verify against, and computing a real
	// hash at start-up would take m of memory and time for nothing.
	salt, key := make([]byte, saltLen), make([]byte, keyLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	rand.Read(key)
	h.dummy = encodePHC(p, salt, key)
	return h, nil
}

// encodePHC is the PHC string of an argon2id key (decodePHC reads it).
func encodePHC(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func (h *Hasher) acquire(ctx context.Context) (*argon2.Memory, error) {
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case mem := <-h.free:
		return mem, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// release frees a slot. A hash that ran outside the slot's memory (a
// system without mapped memory, or a stored hash costlier than the
// current parameters) left its blocks on the heap: collecting them first
// means the next such hash reuses them instead of adding more, so peak
// memory stays at slots × m.
func (h *Hasher) release(mem *argon2.Memory, onHeap bool) {
	if onHeap {
		runtime.GC()
	}
	h.free <- mem
	h.idle.Reset(h.idleRelease)
}

// releaseIdleMemory gives back the pages of every slot that is free now:
// none has hashed for idleRelease, since each release resets the timer.
func (h *Hasher) releaseIdleMemory() {
	var idle []*argon2.Memory
	for range cap(h.free) {
		select {
		case mem := <-h.free:
			idle = append(idle, mem)
		default:
		}
	}
	for _, mem := range idle {
		_ = mem.Release() // only ever fails on a mapping that is not there, and then has nothing to give
		h.free <- mem
	}
}

// KeepsMemory reports whether a Hasher's slots keep their hash memory
// outside the Go heap on this system; where they do not, each hash
// allocates its m KiB on the heap.
func KeepsMemory() bool { return argon2.KeepsMemory() }

// idKey runs argon2id in mem when it is large enough; onHeap says it was not.
func idKey(mem *argon2.Memory, password string, salt []byte, p Params, keyLen uint32) (key []byte, onHeap bool) {
	onHeap = !mem.Holds(p.Memory, p.Threads)
	return argon2.IDKey(mem, []byte(password), salt, p.Time, p.Memory, p.Threads, keyLen), onHeap
}

func (h *Hasher) hashNow(mem *argon2.Memory, password string) (string, bool, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", false, err
	}
	key, onHeap := idKey(mem, password, salt, h.params, keyLen)
	return encodePHC(h.params, salt, key), onHeap, nil
}

// Hash returns the PHC string of password. Errors: ErrBusy, ctx's.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	mem, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	encoded, onHeap, err := h.hashNow(mem, password)
	h.release(mem, onHeap)
	return encoded, err
}

// Verify checks password against encoded (an empty or foreign hash costs a
// hash all the same and fails). A hash imported from Django is checked as
// Django would (verifyDjango), in a slot all the same. rehash is true when
// encoded is weaker than the current parameters or is a Django hash.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, rehash bool, err error) {
	mem, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	// Before decodePHC, which would also take Django's "argon2$argon2id$…".
	// Django's hashers allocate their own memory.
	if ok, recognised := verifyDjango(encoded, password); recognised {
		h.release(mem, true)
		return ok, ok, nil
	}
	p, salt, want, perr := decodePHC(encoded)
	if perr != nil {
		p, salt, want, _ = decodePHC(h.dummy)
	}
	got, onHeap := idKey(mem, password, salt, p, uint32(len(want))) // #nosec G115 -- decodePHC bounds len(want) to 16..128
	h.release(mem, onHeap)
	ok = subtle.ConstantTimeCompare(got, want) == 1 && perr == nil
	return ok, ok && !p.AtLeast(h.params), nil
}

// VerifyDummy costs what Verify costs and always fails: used when the email
// is unknown, so timing does not tell whether it exists.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, h.dummy, password+"\x00")
	return err
}

func decodePHC(s string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return p, nil, nil, errors.New("not an argon2id v19 PHC string")
	}
	var m, t, par uint64
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &par); err != nil || m == 0 || t == 0 || par == 0 || par > 255 || m > 1<<22 || t > 100 {
		return p, nil, nil, errors.New("bad argon2id parameters")
	}
	p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(par)}
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

// MaxLength is the longest password Check accepts, in code points.
const MaxLength = 128

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

// Check applies the policy to pw: at least minLen and at most MaxLength
// code points, not on the common list, and no context words (the email's
// local part, the user's names). It returns the messages for
// errors.password (or the field named), none when pw passes.
func Check(pw string, minLen int, email, firstName, lastName string) []string {
	var msgs []string
	n := utf8.RuneCountInString(pw)
	switch {
	case n < minLen:
		msgs = append(msgs, fmt.Sprintf("Use at least %d characters.", minLen))
	case n > MaxLength:
		msgs = append(msgs, fmt.Sprintf("Use at most %d characters.", MaxLength))
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
