//go:build bench

package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

// BenchSeedOptions size a store for the load scripts in scripts/bench.
type BenchSeedOptions struct {
	Readers   int    // verified users with 10 addresses, a cookie session and a token session each
	Writers   int    // verified users with no address and a session each (for the create test)
	Extra     int    // further users without sessions (for the start-up test)
	Tokens    int    // unspent tokens spread over all users
	Expired   int    // of Tokens, how many are already expired (for the sweeper)
	Password  string // every seeded user's password (one hash, shared)
	OutDir    string // where readers.txt, writers.txt, logins.txt and bearers.txt are written
	BatchSize int    // records per write transaction (default 5000)
}

// BenchSeed writes users, addresses, sessions and tokens straight into the
// store of cfg.DataDir (which no server may hold), fast, and writes the
// session cookies (one Cookie header value per line), session tokens (one
// per line) and login bodies the wrk scripts read. cfg.SecretKey must be the one the server will run with.
func BenchSeed(ctx context.Context, cfg Config, o BenchSeedOptions, stdout io.Writer) error {
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	db, err := OpenStore(cfg.DataDir, false)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := New(cfg, db, discardLogger(), Options{BaseURL: "http://127.0.0.1"})
	if err != nil {
		return err
	}
	hash, err := s.timeHashing(ctx, o.Password, stdout)
	if err != nil {
		return err
	}
	if fsync, err := timeFsync(cfg.DataDir); err == nil {
		fmt.Fprintf(stdout, "fsync_ms=%.2f (a 4 KiB write and fsync, median of 50)\n", float64(fsync.Microseconds())/1000)
	}
	files, closeFiles, err := createSeedFiles(o.OutDir)
	if err != nil {
		return err
	}
	defer closeFiles()
	start := time.Now()
	seed := benchSeeder{s: s, o: o, hash: hash, now: start, files: files}
	if err := seed.users(db); err != nil {
		return err
	}
	if err := seed.tokens(db); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d users (%d with 10 addresses, a cookie session and a token session, %d with a session and no address), %d tokens (%d expired) in %v\n",
		o.Readers+o.Writers+o.Extra, o.Readers, o.Writers, o.Tokens, o.Expired, time.Since(start).Round(time.Millisecond))
	return nil
}

// timeHashing prints the median time of one hash of password and the rate
// with every core hashing at once, and returns a hash for the seeded users
// to share. The login target is a share of cores ÷ hash time.
func (s *Server) timeHashing(ctx context.Context, password string, stdout io.Writer) (string, error) {
	var hash string
	var times []time.Duration
	for range 5 {
		t0 := time.Now()
		var err error
		if hash, err = s.hasher.Hash(ctx, password); err != nil {
			return "", err
		}
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	median := times[2]
	fmt.Fprintf(stdout, "hash_ms=%.1f (median of 5, %s)\n", float64(median.Microseconds())/1000, s.cfg.PasswordHash)
	cores := runtime.NumCPU()
	rate, err := s.hashRate(ctx, password, cores)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(stdout, "hash_rate=%.1f (%d hashes at once, %.0f%% of cores ÷ hash time)\n", rate, cores, 100*rate/(float64(cores)/median.Seconds()))
	return hash, nil
}

// hashRate is hashes per second with every core hashing at once: the
// ceiling of the login test, which concurrent hashes lower by sharing
// memory bandwidth and caches.
func (s *Server) hashRate(ctx context.Context, password string, cores int) (float64, error) {
	var wg sync.WaitGroup
	errs := make([]error, cores)
	t0 := time.Now()
	for i := range cores {
		wg.Go(func() {
			for range 3 {
				if _, err := s.hasher.Hash(ctx, password); err != nil {
					errs[i] = err
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return float64(3*cores) / time.Since(t0).Seconds(), nil
}

// createSeedFiles creates the files the wrk scripts read, in dir: cookies
// of readers.txt and writers.txt, bodies of logins.txt, the readers'
// session tokens of bearers.txt. closeFiles flushes and closes them.
func createSeedFiles(dir string) (files map[string]*bufio.Writer, closeFiles func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	names := []string{"readers.txt", "writers.txt", "logins.txt", "bearers.txt"}
	files = map[string]*bufio.Writer{}
	var opened []*os.File // in the order of names
	closeFiles = func() {
		for i := len(opened) - 1; i >= 0; i-- {
			files[names[i]].Flush()
			opened[i].Close()
		}
	}
	for _, name := range names {
		f, err := os.Create(filepath.Join(dir, name)) // #nosec G304 -- bench-seed output dir named by the operator
		if err != nil {
			closeFiles()
			return nil, nil, err
		}
		opened = append(opened, f)
		files[name] = bufio.NewWriter(f)
	}
	return files, closeFiles, nil
}

// benchSeeder writes the seeded records, a batch per write transaction.
type benchSeeder struct {
	s     *Server
	o     BenchSeedOptions
	hash  string // every user's password hash
	now   time.Time
	files map[string]*bufio.Writer // by name, from createSeedFiles
	ids   []uuid.UUID              // the users created, for the tokens
}

// users creates the readers, then the writers, then the extra users.
func (b *benchSeeder) users(db *store.DB) error {
	total := b.o.Readers + b.o.Writers + b.o.Extra
	for from := 0; from < total; from += b.o.BatchSize {
		to := min(from+b.o.BatchSize, total)
		err := db.Update(func(tx *store.Tx) error {
			for i := from; i < to; i++ {
				if err := b.user(tx, i); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// user creates user i: a reader has 10 addresses, a cookie session and a
// token session, a writer a cookie session only, an extra user neither.
// Every user gets a line in logins.txt; one with a session gets its cookie
// in its list, and a reader its token in bearers.txt.
func (b *benchSeeder) user(tx *store.Tx, i int) error {
	u := &store.User{ID: store.NewID(), Email: fmt.Sprintf("bench%d@example.test", i), FirstName: "Bench", LastName: fmt.Sprint("User", i),
		PasswordHash: b.hash, EmailVerified: true, Active: true, DateJoined: b.now, UpdatedAt: b.now}
	if err := tx.CreateUser(u); err != nil {
		return err
	}
	b.ids = append(b.ids, u.ID)
	var list string
	switch {
	case i < b.o.Readers:
		list = "readers.txt"
		if err := b.addresses(tx, u); err != nil {
			return err
		}
	case i < b.o.Readers+b.o.Writers:
		list = "writers.txt"
	}
	fmt.Fprintf(b.files["logins.txt"], `{"email":%q,"password":%q}`+"\n", u.Email, b.o.Password)
	if list == "" {
		return nil
	}
	wrk := client{IP: "127.0.0.1", UserAgent: "wrk"}
	secret := newSessionSecret()
	if _, err := b.s.newSession(tx, u, secret, passwordSignIn(false), wrk, b.now); err != nil {
		return err
	}
	c, err := b.s.sessionCookie(secret, time.Hour)
	if err != nil {
		return err
	}
	fmt.Fprintf(b.files[list], "%s=%s\n", c.Name, c.Value)
	if list != "readers.txt" {
		return nil
	}
	// A reader is also signed in from an app, with a token session.
	token := newSessionSecret()
	if _, err := b.s.newSession(tx, u, token, passwordSignIn(true), wrk, b.now); err != nil {
		return err
	}
	fmt.Fprintln(b.files["bearers.txt"], token)
	return nil
}

// addresses fills u's address book.
func (b *benchSeeder) addresses(tx *store.Tx, u *store.User) error {
	for a := range store.MaxAddresses {
		addr := &store.Address{ID: store.NewID(), UserID: u.ID, Label: fmt.Sprint("Address ", a), FirstName: "Bench", LastName: "User",
			StreetAddress: fmt.Sprint("Hauptstr. ", a+1), City: "Berlin", PostalCode: "10115", Country: "DE", CreatedAt: b.now, UpdatedAt: b.now}
		if _, err := tx.CreateAddress(addr, false); err != nil {
			return err
		}
	}
	return nil
}

// tokens issues o.Tokens undo tokens round-robin over the users, the first
// o.Expired of them already expired.
func (b *benchSeeder) tokens(db *store.DB) error {
	for from := 0; from < b.o.Tokens; from += b.o.BatchSize {
		to := min(from+b.o.BatchSize, b.o.Tokens)
		err := db.Update(func(tx *store.Tx) error {
			for i := from; i < to; i++ {
				expires := b.now.Add(time.Hour)
				if i < b.o.Expired {
					expires = b.now.Add(-8 * 24 * time.Hour) // past the sweeper's grace
				}
				t := &store.Token{Kind: store.TokenUndo, UserID: b.ids[i%len(b.ids)], CreatedAt: b.now, ExpiresAt: expires}
				if err := tx.IssueToken(newSecret(), t); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// timeFsync is the median time to write a 4 KiB page and fsync it in dir:
// a store commit needs two such syncs.
func timeFsync(dir string) (time.Duration, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	var times []time.Duration
	for i := range 50 {
		t0 := time.Now()
		if _, err := f.WriteAt(page, int64(i%8)*4096); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}
