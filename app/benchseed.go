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
	Readers   int    // verified users with 10 addresses and a session each
	Writers   int    // verified users with no address and a session each (for the create test)
	Extra     int    // further users without sessions (for the start-up test)
	Tokens    int    // unspent tokens spread over all users
	Expired   int    // of Tokens, how many are already expired (for the sweeper)
	Password  string // every seeded user's password (one hash, shared)
	OutDir    string // where readers.txt, writers.txt and logins.txt are written
	BatchSize int    // records per write transaction (default 5000)
}

// BenchSeed writes users, addresses, sessions and tokens straight into the
// store of cfg.DataDir (which no server may hold), fast, and writes the
// session cookies (one Cookie header value per line) and login bodies the
// wrk scripts read. cfg.SecretKey must be the one the server will run with.
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
	// Time a few hashes: the login target is a share of cores ÷ hash time.
	var hash string
	var times []time.Duration
	for range 5 {
		t0 := time.Now()
		if hash, err = s.hasher.Hash(ctx, o.Password); err != nil {
			return err
		}
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	fmt.Fprintf(stdout, "hash_ms=%.1f (median of 5, %s)\n", float64(times[2].Microseconds())/1000, cfg.PasswordHash)
	// What this machine gives with every core hashing at once: the ceiling
	// of the login test, which concurrent hashes lower by sharing memory
	// bandwidth and caches.
	cores := runtime.NumCPU()
	var wg sync.WaitGroup
	errs := make([]error, cores)
	t0 := time.Now()
	for i := range cores {
		wg.Go(func() {
			for range 3 {
				if _, err := s.hasher.Hash(ctx, o.Password); err != nil {
					errs[i] = err
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	rate := float64(3*cores) / time.Since(t0).Seconds()
	fmt.Fprintf(stdout, "hash_rate=%.1f (%d hashes at once, %.0f%% of cores ÷ hash time)\n", rate, cores, 100*rate/(float64(cores)/times[2].Seconds()))
	if fsync, err := timeFsync(cfg.DataDir); err == nil {
		fmt.Fprintf(stdout, "fsync_ms=%.2f (a 4 KiB write and fsync, median of 50)\n", float64(fsync.Microseconds())/1000)
	}
	if err := os.MkdirAll(o.OutDir, 0o700); err != nil {
		return err
	}
	files := map[string]*bufio.Writer{}
	for _, name := range []string{"readers.txt", "writers.txt", "logins.txt"} {
		f, err := os.Create(filepath.Join(o.OutDir, name)) // #nosec G304 -- bench-seed output dir named by the operator
		if err != nil {
			return err
		}
		defer f.Close()
		w := bufio.NewWriter(f)
		defer w.Flush()
		files[name] = w
	}
	start, now := time.Now(), time.Now()
	total := o.Readers + o.Writers + o.Extra
	var ids []uuid.UUID
	for from := 0; from < total; from += o.BatchSize {
		to := min(from+o.BatchSize, total)
		err := db.Update(func(tx *store.Tx) error {
			for i := from; i < to; i++ {
				u := &store.User{ID: store.NewID(), Email: fmt.Sprintf("bench%d@example.test", i), FirstName: "Bench", LastName: fmt.Sprint("User", i),
					PasswordHash: hash, EmailVerified: true, Active: true, DateJoined: now, UpdatedAt: now}
				if err := tx.CreateUser(u); err != nil {
					return err
				}
				ids = append(ids, u.ID)
				var list string
				switch {
				case i < o.Readers:
					list = "readers.txt"
					for a := range store.MaxAddresses {
						addr := &store.Address{ID: store.NewID(), UserID: u.ID, Label: fmt.Sprint("Address ", a), FirstName: "Bench", LastName: "User",
							StreetAddress: fmt.Sprint("Hauptstr. ", a+1), City: "Berlin", PostalCode: "10115", Country: "DE", CreatedAt: now, UpdatedAt: now}
						if _, err := tx.CreateAddress(addr, false); err != nil {
							return err
						}
					}
				case i < o.Readers+o.Writers:
					list = "writers.txt"
				}
				fmt.Fprintf(files["logins.txt"], `{"email":%q,"password":%q}`+"\n", u.Email, o.Password)
				if list == "" {
					continue
				}
				secret := newSecret()
				if _, err := s.newSession(tx, u, secret, client{IP: "127.0.0.1", UserAgent: "wrk"}, now); err != nil {
					return err
				}
				c, err := s.sessionCookie(secret, time.Hour)
				if err != nil {
					return err
				}
				fmt.Fprintf(files[list], "%s=%s\n", c.Name, c.Value)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for from := 0; from < o.Tokens; from += o.BatchSize {
		to := min(from+o.BatchSize, o.Tokens)
		err := db.Update(func(tx *store.Tx) error {
			for i := from; i < to; i++ {
				expires := now.Add(time.Hour)
				if i < o.Expired {
					expires = now.Add(-8 * 24 * time.Hour) // past the sweeper's grace
				}
				t := &store.Token{Kind: store.TokenUndo, UserID: ids[i%len(ids)], CreatedAt: now, ExpiresAt: expires}
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
	fmt.Fprintf(stdout, "seeded %d users (%d with 10 addresses and a session, %d with a session and no address), %d tokens (%d expired) in %v\n",
		total, o.Readers, o.Writers, o.Tokens, o.Expired, time.Since(start).Round(time.Millisecond))
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
