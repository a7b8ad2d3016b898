package argon2

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"
)

// NewMemory maps room for hashes of up to kib KiB. The mapping costs no
// resident memory until a hash touches it; Release gives the pages back.
// The mapping is removed when the Memory is no longer reachable.
func NewMemory(kib uint32) (*Memory, error) {
	if kib == 0 {
		return &Memory{}, nil
	}
	data, err := syscall.Mmap(-1, 0, int(kib)*1024, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("argon2: map %d KiB: %w", kib, err)
	}
	// A block is 1 KiB of uint64s and the mapping is page-aligned.
	m := &Memory{blocks: unsafe.Slice((*block)(unsafe.Pointer(&data[0])), kib)} // #nosec G103 -- reinterprets the mapping as blocks; bounds are the mapping's
	runtime.AddCleanup(m, func(data []byte) { _ = syscall.Munmap(data) }, data)
	return m, nil
}

// Release gives m's pages back to the system (they read as zeros after);
// the next hash faults in what it touches. It must not run during a hash.
func (m *Memory) Release() error {
	if m == nil || len(m.blocks) == 0 {
		return nil
	}
	data := unsafe.Slice((*byte)(unsafe.Pointer(&m.blocks[0])), len(m.blocks)*blockLength*8) // #nosec G103 -- the bytes of m's own mapping
	return syscall.Madvise(data, syscall.MADV_DONTNEED)
}

// Resident is how many bytes of m's mapping are in memory now (mincore).
func (m *Memory) Resident() (int, error) {
	if m == nil || len(m.blocks) == 0 {
		return 0, nil
	}
	size := len(m.blocks) * blockLength * 8
	page := syscall.Getpagesize()
	vec := make([]byte, (size+page-1)/page)
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&m.blocks[0])), uintptr(size), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 { // #nosec G103 -- mincore reads m's own mapping
		return 0, errno
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n * page, nil
}

// KeepsMemory reports whether NewMemory keeps memory outside the Go heap
// on this system (so hashes put nothing on the heap).
func KeepsMemory() bool { return true }
