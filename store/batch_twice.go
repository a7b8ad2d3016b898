//go:build batchtwice

package store

// rehearse runs fn once in a write transaction that is then rolled back,
// before Batch queues it for real. Batch may run a closure more than once
// (a failed neighbour in its group rolls the group back and runs the rest
// again), but rarely does; in a -tags batchtwice build every closure runs
// twice, so a closure that leaves effects outside its transaction, or
// counts on running once, shows in the tests. What it returns, or a panic,
// is the real run's business.
func (db *DB) rehearse(fn func(*Tx) error) {
	btx, err := db.bolt.Begin(true)
	if err != nil {
		return
	}
	defer btx.Rollback()
	defer func() { _ = recover() }()
	_ = fn(&Tx{tx: btx})
}
