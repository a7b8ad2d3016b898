//go:build !linux

package store

// ReleaseMappedPages does nothing where madvise's MADV_DONTNEED is not
// known to keep a shared file mapping's contents (see release_linux.go).
func (db *DB) ReleaseMappedPages() error { return nil }
