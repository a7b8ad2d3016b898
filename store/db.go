package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DB is the open store file.
type DB struct {
	bolt  *bolt.DB
	group groupCommit
	stats commitStats
}

// commitStats counts the shared commits of Batch.
type commitStats struct {
	commits atomic.Uint64 // transactions committed by the group committer
	writes  atomic.Uint64 // Batch calls they carried
	nanos   atomic.Uint64 // time from Begin to the end of the fsynced commit
}

// WriteStats is a snapshot of the store's write activity since Open.
type WriteStats struct {
	GroupCommits   uint64        // commits of shared Batch groups
	GroupedWrites  uint64        // Batch calls committed in them
	GroupCommitDur time.Duration // their total time, work and fsyncs
	PagesWritten   uint64        // pages written by all commits (bbolt)
	FreePages      uint64        // free pages in the file (reused before it grows)
	FreelistBytes  uint64        // size of the freelist written with each commit
}

// WriteStats reports the store's commit activity.
func (db *DB) WriteStats() WriteStats {
	bs := db.bolt.Stats()
	return WriteStats{
		GroupCommits:   db.stats.commits.Load(),
		GroupedWrites:  db.stats.writes.Load(),
		GroupCommitDur: time.Duration(db.stats.nanos.Load()), // #nosec G115 -- a duration sum, never negative
		PagesWritten:   uint64(bs.TxStats.GetWrite()),        // #nosec G115 -- a count, never negative
		FreePages:      uint64(bs.FreePageN),                 // #nosec G115 -- a count, never negative
		FreelistBytes:  uint64(bs.FreelistInuse),             // #nosec G115 -- a count, never negative
	}
}

// groupCommit gathers concurrent Batch calls into shared commits: while one
// commit is being written and fsynced, every call that arrives waits in
// the queue, and the next commit applies them all. A lone writer waits for
// nothing (unlike bbolt's Batch, which waits a fixed delay).
type groupCommit struct {
	mu      sync.Mutex
	queue   []*batchCall
	running bool
	// want is, while the committer gathers a group, the queue length it
	// waits for; the Batch call that reaches it sends on filled.
	want   int
	filled chan struct{}
}

type batchCall struct {
	fn   func(*Tx) error
	done chan error
}

// maxGroup bounds one shared commit, so one transaction stays short.
const maxGroup = 256

// maxGather bounds how long the committer waits for the writers of its
// last commit to come back (see commitGroups): about two commits' fsyncs
// on a VM's disk.
const maxGather = 2 * time.Millisecond

// Options tune Open.
type Options struct {
	// Timeout bounds the wait for the file lock; another process holding it
	// makes Open fail with ErrInUse instead of waiting forever. Default 1 s.
	Timeout time.Duration
	// ReadOnly opens with a shared lock (marbelle check); nothing is created or migrated.
	ReadOnly bool
	// Logger takes what a migration reports: its warnings (accounts that
	// version 3's email rules made one spelling) and, at Info, the progress
	// of a long one (version 4 rewrites every user). nil drops them.
	Logger *slog.Logger
}

// Open opens (creating if needed) the store at path, creates every bucket
// and brings the schema up to date. Errors: ErrInUse, ErrSchemaTooNew (a
// *SchemaTooNewError, which names both versions), or an I/O error.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	_, statErr := os.Stat(path)
	isNew := errors.Is(statErr, os.ErrNotExist)
	if isNew && opts.ReadOnly {
		return nil, fmt.Errorf("store: %s does not exist", path)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, ErrInUse
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db := &DB{bolt: bdb, group: groupCommit{filled: make(chan struct{}, 1)}}
	if opts.ReadOnly {
		if err := db.View(func(tx *Tx) error { return tx.checkVersion() }); err != nil {
			bdb.Close()
			return nil, err
		}
		return db, nil
	}
	// A current store needs no write at open: start-up reads, never waits
	// for a commit (and two fsyncs of a large file).
	current := false
	db.View(func(tx *Tx) error { current = tx.upToDate(); return nil })
	if !current {
		if err := db.migrate(opts.Logger); err != nil {
			bdb.Close()
			return nil, err
		}
	}
	if isNew {
		// A crash right after creating the file must not leave a directory
		// entry pointing at nothing (bbolt README caveat on first init).
		if err := syncDir(filepath.Dir(path)); err != nil {
			bdb.Close()
			return nil, err
		}
	}
	return db, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir) // #nosec G304 -- the store's own directory
	if err != nil {
		return fmt.Errorf("store: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: sync dir: %w", err)
	}
	return nil
}

// Close closes the file.
func (db *DB) Close() error { return db.bolt.Close() }

// Path is the file's path.
func (db *DB) Path() string { return db.bolt.Path() }

// View runs fn in a read transaction.
func (db *DB) View(fn func(*Tx) error) error {
	return db.bolt.View(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// Update runs fn in the write transaction; it returns only once the commit
// is on disk (bbolt fsyncs every commit; NoSync is never set).
func (db *DB) Update(fn func(*Tx) error) error {
	return db.bolt.Update(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// Batch is Update for concurrent writers that may share one commit: it
// returns once fn's writes are committed and on disk, or with fn's error
// (then nothing of fn is written). fn may run more than once, so it must
// only depend on its arguments and the transaction, and side effects
// belong after Batch returns (a -tags batchtwice build runs every fn
// twice, to show the ones that break this). Each fn sees the writes of the
// ones before it in the same commit, so invariants hold exactly as with
// Update.
func (db *DB) Batch(fn func(*Tx) error) error {
	db.rehearse(fn) // runs fn once more in a -tags batchtwice build only
	call := &batchCall{fn: fn, done: make(chan error, 1)}
	g := &db.group
	g.mu.Lock()
	g.queue = append(g.queue, call)
	if g.want > 0 && len(g.queue) >= g.want {
		g.want = 0
		select {
		case g.filled <- struct{}{}:
		default: // cannot happen: the committer drains it before setting want
		}
	}
	if !g.running {
		g.running = true
		go db.commitGroups()
	}
	g.mu.Unlock()
	return <-call.done
}

// commitGroups runs queued calls in shared commits until the queue is empty.
//
// A commit's time is mostly its two fsyncs, whatever it carries, so the
// committer gathers: writers answered by one commit tend to send their
// next write at once, and started without them the next commit would carry
// only the writers that queued meanwhile; the load would split into
// cohorts taking turns, each waiting out the others' fsyncs. So after a
// commit the committer waits until the queue holds the calls already
// queued plus as many as the last commit carried, or maxGather has passed.
// A lone writer coming back completes the group it is waited for, so it
// does not wait; a write waits at most maxGather for company.
func (db *DB) commitGroups() {
	g := &db.group
	last := 0 // calls in the last commit
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for gathered := false; ; {
		g.mu.Lock()
		n := min(len(g.queue), maxGroup)
		if last > 0 && n < maxGroup && !gathered {
			g.want = min(n+last, maxGroup)
			g.mu.Unlock()
			timer.Reset(maxGather)
			select {
			case <-g.filled:
				timer.Stop()
			case <-timer.C:
			}
			g.mu.Lock()
			g.want = 0
			select { // a signal sent as the timer fired
			case <-g.filled:
			default:
			}
			g.mu.Unlock()
			gathered = true
			continue
		}
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		gathered = false
		calls := g.queue[:n:n]
		g.queue = g.queue[n:]
		g.mu.Unlock()
		db.commitGroup(calls)
		last = n
	}
}

// commitGroup applies calls in one transaction. When one fails, the ones
// before it are committed on their own, it is answered with its error from
// a transaction of its own, and the rest are tried again as a group.
func (db *DB) commitGroup(calls []*batchCall) {
	for len(calls) > 0 {
		failed := -1
		start := time.Now()
		err := db.bolt.Update(func(btx *bolt.Tx) error {
			for i, c := range calls {
				if err := runCall(c, btx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		switch {
		case err == nil:
			db.stats.commits.Add(1)
			db.stats.writes.Add(uint64(len(calls)))
			db.stats.nanos.Add(uint64(time.Since(start))) // #nosec G115 -- elapsed time, never negative
			for _, c := range calls {
				c.done <- nil
			}
			return
		case failed < 0: // the commit itself failed
			for _, c := range calls {
				c.done <- err
			}
			return
		}
		if failed > 0 {
			db.commitGroup(calls[:failed])
		}
		bad := calls[failed]
		bad.done <- db.bolt.Update(func(btx *bolt.Tx) error { return runCall(bad, btx) })
		calls = calls[failed+1:]
	}
}

// runCall runs one call's fn, turning a panic into that call's error so one
// bad request cannot take the committer (and every writer) down.
func runCall(c *batchCall, btx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: panic in transaction: %v", p)
		}
	}()
	return c.fn(&Tx{tx: btx})
}

// Ping answers whether the store can run a read transaction.
func (db *DB) Ping() error {
	return db.View(func(*Tx) error { return nil })
}

// Backup writes a consistent copy of the whole store to w, from one read
// transaction, while writers go on. The transaction lasts as long as w
// takes: a commit that must grow the memory map waits for it, and every
// later transaction waits behind that commit. So w must be fast (a file,
// not a network client); see Snapshot.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(btx *bolt.Tx) error {
		var err error
		n, err = btx.WriteTo(w)
		return err
	})
	return n, err
}

// snapshotInfix marks snapshot files: "<store file>.backup-<random>.tmp"
// beside the store.
const snapshotInfix, snapshotSuffix = ".backup-", ".tmp"

// Snapshot is a consistent copy of the store in a file beside it, for a
// reader as slow as it likes: no transaction stays open while it reads.
type Snapshot struct {
	f    *os.File
	size int64
}

// Snapshot copies the store, in one read transaction (as Backup), to a
// new file beside it (mode 0600) and returns that file opened for
// reading. The store's directory needs free space about the size of the
// store. The caller must Close the snapshot, which removes the file.
func (db *DB) Snapshot() (*Snapshot, error) {
	dir, base := filepath.Split(db.Path())
	f, err := os.CreateTemp(dir, base+snapshotInfix+"*"+snapshotSuffix)
	if err != nil {
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	name := f.Name()
	n, err := db.Backup(f)
	if cerr := f.Close(); err == nil {
		err = cerr // a write error can show only at close
	}
	if err == nil {
		f, err = os.Open(name) // #nosec G304 -- the file just created beside the store
	}
	if err != nil {
		os.Remove(name)
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	return &Snapshot{f: f, size: n}, nil
}

// Size is the snapshot's length in bytes.
func (s *Snapshot) Size() int64 { return s.size }

// WriteTo copies the snapshot to w.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) { return io.Copy(w, s.f) }

// Close closes the snapshot's file and removes it.
func (s *Snapshot) Close() error {
	err := s.f.Close()
	if rerr := os.Remove(s.f.Name()); err == nil {
		err = rerr
	}
	return err
}

// RemoveSnapshots removes the snapshot files beside the store that a
// process ended in mid-backup left, and returns how many. Call it right
// after Open, before any Snapshot of this process: the writer's file lock
// is what makes sure no other process is still reading them.
func (db *DB) RemoveSnapshots() (int, error) {
	dir, base := filepath.Split(db.Path())
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("store: remove snapshots: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, base+snapshotInfix) || !strings.HasSuffix(name, snapshotSuffix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("store: remove snapshots: %w", err)
	}
	return n, nil
}

// Size is the size of the store file in bytes.
func (db *DB) Size() int64 {
	var n int64
	_ = db.bolt.View(func(btx *bolt.Tx) error { n = btx.Size(); return nil })
	return n
}

// Tx is one transaction, read or write.
type Tx struct {
	tx  *bolt.Tx
	log *slog.Logger // set only while Open migrates: see warn
}

// warn logs a migration's warning to Options.Logger, if there is one.
func (tx *Tx) warn(msg string, args ...any) {
	if tx.log != nil {
		tx.log.Warn(msg, args...)
	}
}

func (tx *Tx) bucket(name []byte) *bolt.Bucket { return tx.tx.Bucket(name) }

// migrate creates the buckets and brings the file to SchemaVersion.
// Migrations run in order, in one write transaction with the version they
// reach, up to one with a records part: that part runs in transactions of
// its own (a crash between them leaves the file at the old version, and
// the next Open runs it again), then the next round goes on from there.
func (db *DB) migrate(log *slog.Logger) error {
	ran := uint64(SchemaVersion) // whose records part has run: none yet
	for {
		var v uint64
		err := db.Update(func(tx *Tx) error {
			tx.log = log
			var err error
			v, err = tx.initialise(ran)
			return err
		})
		if err != nil || v == SchemaVersion {
			return err
		}
		if err := migrationFrom(v).records(db, log); err != nil {
			return fmt.Errorf("store: migrate from %d: %w", v, err)
		}
		ran = v
	}
}

// initialise creates missing buckets and runs the migrations from the
// file's version on, stopping before one whose records part has not run
// (ran is the version whose has), and records the version reached.
func (tx *Tx) initialise(ran uint64) (uint64, error) {
	for _, name := range allBuckets() {
		if _, err := tx.tx.CreateBucketIfNotExists(name); err != nil {
			return 0, fmt.Errorf("store: create bucket %s: %w", name, err)
		}
	}
	v := tx.version()
	if v > SchemaVersion {
		return v, &SchemaTooNewError{File: v, Binary: SchemaVersion}
	}
	for ; v < SchemaVersion; v++ {
		m := migrationFrom(v)
		if m.records != nil && v != ran && !tx.allEmpty(m.reads) {
			break
		}
		if m.tx == nil {
			continue
		}
		if err := m.tx(tx); err != nil {
			return v, fmt.Errorf("store: migrate from %d: %w", v, err)
		}
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return v, tx.bucket(bucketMeta).Put(keySchemaVersion, b[:])
}

// allEmpty reports whether every bucket named is empty.
func (tx *Tx) allEmpty(names [][]byte) bool {
	for _, name := range names {
		if k, _ := tx.bucket(name).Cursor().First(); k != nil {
			return false
		}
	}
	return true
}

// upToDate reports whether every bucket exists and the schema is current.
func (tx *Tx) upToDate() bool {
	for _, name := range allBuckets() {
		if tx.bucket(name) == nil {
			return false
		}
	}
	return tx.version() == SchemaVersion
}

func (tx *Tx) version() uint64 {
	meta := tx.bucket(bucketMeta)
	if meta == nil {
		return 0
	}
	v := meta.Get(keySchemaVersion)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func (tx *Tx) checkVersion() error {
	v := tx.version()
	if v > SchemaVersion {
		return &SchemaTooNewError{File: v, Binary: SchemaVersion}
	}
	if v < SchemaVersion {
		return fmt.Errorf("store: schema %d is older than %d; start the server once to migrate it", v, SchemaVersion)
	}
	return nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode: %w", err)
	}
	return b.Put(key, data)
}

func getJSONBytes(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("store: decode: %w", err)
	}
	return nil
}

// getJSON decodes the value at key into v; ErrNotFound when absent.
func getJSON(b *bolt.Bucket, key []byte, v any) error {
	data := b.Get(key)
	if data == nil {
		return ErrNotFound
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("store: decode %x: %w", key, err)
	}
	return nil
}
