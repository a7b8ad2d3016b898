package store_test

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marbelle/marbelle/store"
)

// mappedKiB is the resident size of this process's mapping of path, from
// /proc/self/smaps.
func mappedKiB(t testing.TB, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps")
	}
	defer f.Close()
	kib, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-"):
			in = len(fields) == 6 && fields[5] == path
		case in && fields[0] == "Rss:":
			n, _ := strconv.Atoi(fields[1])
			kib += n
		}
	}
	return kib
}

// The store's pages brought in by reads leave the process's resident set,
// and every record reads the same afterwards, also with readers running
// while the pages are released.
func TestReleaseMappedPages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("madvise release is Linux only")
	}
	db := mustOpen(t)
	const users = 4000
	for i := range users / 500 {
		if err := db.Update(func(tx *store.Tx) error {
			for j := range 500 {
				u := &store.User{ID: store.NewID(), Email: fmt.Sprintf("r%d-%d@example.test", i, j), FirstName: strings.Repeat("n", 200), DateJoined: time.Now()}
				if err := tx.CreateUser(u); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	readAll := func() int {
		n := 0
		mustView(t, db, func(tx *store.Tx) error {
			page, err := tx.Users("", 0, users)
			if err != nil {
				return err
			}
			for _, u := range page.Users {
				if len(u.FirstName) == 200 {
					n++
				}
			}
			return nil
		})
		return n
	}
	if n := readAll(); n != users {
		t.Fatalf("read %d users, want %d", n, users)
	}
	before := mappedKiB(t, db.Path())
	if err := db.ReleaseMappedPages(); err != nil {
		t.Fatal(err)
	}
	after := mappedKiB(t, db.Path())
	if before < 512 || after > before/4 {
		t.Fatalf("mapped store pages: %d KiB before the release, %d KiB after; want a drop to under a quarter", before, after)
	}

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if n := readAll(); n != users {
					t.Errorf("read %d users during releases, want %d", n, users)
					return
				}
			}
		})
	}
	for range 50 {
		if err := db.ReleaseMappedPages(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	mustView(t, db, func(tx *store.Tx) error {
		if f := tx.Check(); len(f) > 0 {
			t.Fatalf("check: %v", f)
		}
		return nil
	})
}

func BenchmarkReleaseMappedPages(b *testing.B) {
	db := mustOpen(b)
	for i := range 20 {
		if err := db.Update(func(tx *store.Tx) error {
			for j := range 1000 {
				if err := tx.CreateUser(&store.User{ID: store.NewID(), Email: fmt.Sprintf("b%d-%d@example.test", i, j), FirstName: strings.Repeat("n", 500), DateJoined: time.Now()}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("store: %d MiB", db.Size()>>20)
	for b.Loop() {
		if err := db.ReleaseMappedPages(); err != nil {
			b.Fatal(err)
		}
	}
}
