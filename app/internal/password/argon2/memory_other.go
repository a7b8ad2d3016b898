//go:build !linux

package argon2

// NewMemory on this system keeps no memory between hashes: each hash
// allocates its blocks on the heap, as upstream does (Holds is false).
func NewMemory(kib uint32) (*Memory, error) { return &Memory{}, nil }

// Release has nothing to give back here.
func (m *Memory) Release() error { return nil }

// Resident is 0: no memory is kept here.
func (m *Memory) Resident() (int, error) { return 0, nil }

// KeepsMemory is false: each hash allocates its blocks on the heap.
func KeepsMemory() bool { return false }
