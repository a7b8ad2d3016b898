package argon2

import (
	"bytes"
	"fmt"
	"testing"

	upstream "golang.org/x/crypto/argon2"
)

// The changed first pass must give upstream's output whatever the memory
// held before: one Memory is reused, dirty, across every case, released
// in the middle, and too small for the largest cases (heap fallback).
func TestIDKeyMatchesUpstreamInReusedMemory(t *testing.T) {
	mem, err := NewMemory(512)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, memory := range []uint32{8, 64, 300, 512, 1024} {
		for _, time := range []uint32{1, 2, 3} {
			for _, threads := range []uint8{1, 2, 4} {
				for _, keyLen := range []uint32{4, 32, 65} {
					if memory < 8*uint32(threads) {
						continue
					}
					n++
					if n%7 == 0 {
						if err := mem.Release(); err != nil {
							t.Fatal(err)
						}
					}
					pw, salt := []byte(fmt.Sprintf("password %d", n)), []byte(fmt.Sprintf("salt-of-case-%04d", n))
					want := upstream.IDKey(pw, salt, time, memory, threads, keyLen)
					if got := IDKey(mem, pw, salt, time, memory, threads, keyLen); !bytes.Equal(got, want) {
						t.Fatalf("m=%d t=%d p=%d len=%d: %x, upstream %x", memory, time, threads, keyLen, got, want)
					}
					if got := IDKey(nil, pw, salt, time, memory, threads, keyLen); !bytes.Equal(got, want) {
						t.Fatalf("m=%d t=%d p=%d len=%d without memory: %x, upstream %x", memory, time, threads, keyLen, got, want)
					}
				}
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d cases ran", n)
	}
}

// RFC 9106 §5.3's argon2id vector needs a secret and associated data,
// which IDKey does not take; deriveKey does.
func TestRFC9106Vector(t *testing.T) {
	rep := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	want := []byte{
		0x0d, 0x64, 0x0d, 0xf5, 0x8d, 0x78, 0x76, 0x6c, 0x08, 0xc0, 0x37, 0xa3, 0x4a, 0x8b, 0x53, 0xc9,
		0xd0, 0x1e, 0xf0, 0x45, 0x2d, 0x75, 0xb6, 0x5e, 0xb5, 0x25, 0x20, 0xe9, 0x6b, 0x01, 0xe6, 0x59,
	}
	mem, err := NewMemory(32)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second run is in memory the first left dirty
		got := deriveKey(mem, argon2id, rep(1, 32), rep(2, 16), rep(3, 8), rep(4, 12), 3, 32, 4, 32)
		if !bytes.Equal(got, want) {
			t.Fatalf("run %d: %x, want %x", i, got, want)
		}
	}
}

func TestHolds(t *testing.T) {
	mem, err := NewMemory(1024)
	if err != nil {
		t.Fatal(err)
	}
	if !KeepsMemory() {
		t.Skip("memory is not kept on this system")
	}
	for _, c := range []struct {
		memory  uint32
		threads uint8
		want    bool
	}{{1024, 1, true}, {1027, 1, true}, {1028, 1, false}, {4, 1, true}, {2048, 1, false}, {1024, 8, true}} {
		if got := mem.Holds(c.memory, c.threads); got != c.want {
			t.Errorf("Holds(%d, %d) = %v, want %v", c.memory, c.threads, got, c.want)
		}
	}
	var none *Memory
	if none.Holds(8, 1) {
		t.Error("a nil Memory holds nothing")
	}
}

// At the default m = 64 MiB: the reused mapping against upstream's
// allocation per hash.
func BenchmarkIDKey64MiB(b *testing.B) {
	pw, salt := []byte("password"), []byte("0123456789abcdef")
	b.Run("reused", func(b *testing.B) {
		mem, err := NewMemory(64 * 1024)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			IDKey(mem, pw, salt, 3, 64*1024, 1, 32)
		}
	})
	b.Run("upstream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			upstream.IDKey(pw, salt, 3, 64*1024, 1, 32)
		}
	})
}

// A hash makes its memory resident; Release gives it back, and the next
// hash in the released memory is still right.
func TestReleaseGivesPagesBack(t *testing.T) {
	mem, err := NewMemory(4096)
	if err != nil {
		t.Fatal(err)
	}
	if !KeepsMemory() {
		t.Skip("memory is not kept on this system")
	}
	want := upstream.IDKey([]byte("pw"), []byte("0123456789abcdef"), 1, 4096, 1, 32)
	for round := range 2 {
		if got := IDKey(mem, []byte("pw"), []byte("0123456789abcdef"), 1, 4096, 1, 32); !bytes.Equal(got, want) {
			t.Fatalf("round %d: wrong key", round)
		}
		if n, err := mem.Resident(); err != nil || n < 4000*1024 {
			t.Fatalf("round %d after a hash: %d bytes resident (%v), want the 4 MiB", round, n, err)
		}
		if err := mem.Release(); err != nil {
			t.Fatal(err)
		}
		if n, err := mem.Resident(); err != nil || n != 0 {
			t.Fatalf("round %d after Release: %d bytes resident (%v), want 0", round, n, err)
		}
	}
}
