//go:build linux

package store

import (
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// ReleaseMappedPages unmaps, from this process only, the store file's pages
// that reads have brought in: madvise(MADV_DONTNEED) over bbolt's read-only
// shared mapping. The pages stay in the kernel's page cache, where they are
// shared and reclaimable, as a store read with pread(2) keeps them; the
// next read of one maps it again with a minor fault. It runs inside a read
// transaction, which keeps bbolt from remapping the file meanwhile.
func (db *DB) ReleaseMappedPages() error {
	return db.bolt.View(func(btx *bolt.Tx) error {
		size := btx.Size()
		if size <= 0 {
			return nil
		}
		_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, db.bolt.Info().Data, uintptr(size), syscall.MADV_DONTNEED)
		if errno != 0 {
			return errno
		}
		return nil
	})
}
