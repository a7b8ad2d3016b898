//go:build !batchtwice

package store

// rehearse is a test hook; only a build with -tags batchtwice has one that
// does something (batch_twice.go). This one is inlined away.
func (db *DB) rehearse(func(*Tx) error) {}
