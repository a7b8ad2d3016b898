package password

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/marbelle/marbelle/app/internal/password/argon2"
)

var cheap = Params{Memory: 256, Time: 1, Threads: 1}

func TestHasherRoundTripAndRehash(t *testing.T) {
	h, err := NewHasher(cheap, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=256,t=1,p=1$") {
		t.Fatalf("PHC string: got %q", enc)
	}
	for pw, want := range map[string]bool{"correct horse battery staple": true, "Correct horse battery staple": false, "correct horse battery stapl": false, " correct horse battery staple": false} {
		ok, rehash, err := h.Verify(context.Background(), enc, pw)
		if err != nil || ok != want || rehash {
			t.Fatalf("verify %q: got ok=%v rehash=%v err=%v, want ok=%v", pw, ok, rehash, err, want)
		}
	}
	stronger, _ := NewHasher(Params{Memory: 512, Time: 2, Threads: 1}, 1, time.Second)
	if ok, rehash, _ := stronger.Verify(context.Background(), enc, "correct horse battery staple"); !ok || !rehash {
		t.Fatalf("changed parameters: got ok=%v rehash=%v, want both true", ok, rehash)
	}
	strongEnc, _ := stronger.Hash(context.Background(), "correct horse battery staple")
	if ok, rehash, _ := h.Verify(context.Background(), strongEnc, "correct horse battery staple"); !ok || rehash {
		t.Fatalf("stronger stored hash: got ok=%v rehash=%v, want ok and no rehash", ok, rehash)
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if ok, _, err := h.Verify(context.Background(), bad, "x"); ok || err != nil {
			t.Fatalf("foreign hash %q: got ok=%v err=%v, want a plain failure", bad, ok, err)
		}
	}
}

// TestHasherBusy: with every slot taken, a hash waits at most the bound and
// then reports busy (app answers it 503 with Retry-After:
// TestHasherBusyIsUnavailable).
func TestHasherBusy(t *testing.T) {
	h, _ := NewHasher(cheap, 1, 20*time.Millisecond)
	mem := <-h.free // the only slot is taken
	_, err := h.Hash(context.Background(), "anything at all here")
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("got %v, want ErrBusy", err)
	}
	h.free <- mem
	if _, err := h.Hash(context.Background(), "anything at all here"); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestCommonPasswordList(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(commonPasswords, "\n"), "\n")
	if len(lines) < 10000 {
		t.Fatalf("list has %d entries, want at least 10,000", len(lines))
	}
	for i := 1; i < len(lines); i++ {
		if lines[i-1] >= lines[i] {
			t.Fatalf("list not sorted at line %d: %q >= %q", i, lines[i-1], lines[i])
		}
	}
	// Every entry is found by the in-place search: first, last and a sample.
	for i := 0; i < len(lines); i += 97 {
		if !isCommonPassword(lines[i]) {
			t.Fatalf("entry %q not found", lines[i])
		}
	}
	for _, pw := range []string{lines[0], lines[len(lines)-1], "password1234", "QwertyUIOP", "1234567890"} {
		if !isCommonPassword(pw) {
			t.Fatalf("%q: want common", pw)
		}
	}
	for _, pw := range []string{"tangerine walrus umbrella 42", "", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "\x00"} {
		if isCommonPassword(pw) {
			t.Fatalf("%q: want not common", pw)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	cases := []struct {
		pw, email, first, last string
		ok                     bool
	}{
		{"tangerine walrus umbrella 42", "ann@example.test", "Ann", "Lee", true},
		{"🐙🦊🐢🦉🐝🦋🐬🦀", "a@example.test", "Ann", "Lee", true}, // 8 code points
		{"🐙🦊🐢🦉", "a@example.test", "Ann", "Lee", false},    // 16 bytes, 4 code points
		{strings.Repeat("ab", 64), "a@example.test", "Ann", "Lee", true},
		{strings.Repeat("ab", 64) + "c", "a@example.test", "Ann", "Lee", false},
		{"password1234", "a@example.test", "Ann", "Lee", false},
		{"marigold77 is my password", "marigold77@example.test", "Ann", "Lee", false},
		{"zebulon-rides-again", "z@example.test", "Zebulon", "Lee", false},
		{"correct horse battery staple", "c@example.test", "Ann", "Lee", true},
		{"ééééééééééé1", "c@example.test", "Ann", "Lee", true},
		{"line\nbreak password", "c@example.test", "Ann", "Lee", false},
	}
	for _, c := range cases {
		msgs := Check(c.pw, 8, c.email, c.first, c.last)
		if (len(msgs) == 0) != c.ok {
			t.Fatalf("%q: got %v, want ok=%v", c.pw, msgs, c.ok)
		}
	}
}

// TestHasherGivesIdleMemoryBack: a slot's memory stays resident between
// hashes and is given back once no hash has run for idleRelease; hashing
// afterwards is still right.
func TestHasherGivesIdleMemoryBack(t *testing.T) {
	if !argon2.KeepsMemory() {
		t.Skip("hash memory is not kept on this system")
	}
	h, err := NewHasher(Params{Memory: 2048, Time: 1, Threads: 1}, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// slots are the hasher's slot memories, noted before any hash. Reading
	// their residency (mincore) needs no slot: a poll that took the slots
	// could hold them just when the idle timer fires, and that release,
	// finding no free slot, would give nothing back and not run again.
	var slots []*argon2.Memory
	for range cap(h.free) {
		slots = append(slots, <-h.free)
	}
	for _, mem := range slots {
		h.free <- mem
	}
	resident := func() (total int) {
		for _, mem := range slots {
			n, err := mem.Resident()
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
		return total
	}
	ctx := context.Background()
	h.idleRelease = time.Hour
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	n := resident()
	if n < 2000*1024 {
		t.Fatalf("after a hash: %d bytes resident, want the slot's 2 MiB", n)
	}
	h.idleRelease = 20 * time.Millisecond
	if ok, _, err := h.Verify(ctx, enc, "correct horse battery staple"); !ok || err != nil {
		t.Fatalf("verify: ok=%v err=%v", ok, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for n = resident(); n > 0 && time.Now().Before(deadline); n = resident() {
		time.Sleep(10 * time.Millisecond)
	}
	if n > 0 {
		t.Fatalf("%d bytes still resident 5 s after the last hash, want 0", n)
	}
	if ok, _, err := h.Verify(ctx, enc, "correct horse battery staple"); !ok || err != nil {
		t.Fatalf("verify in released memory: ok=%v err=%v", ok, err)
	}
}
