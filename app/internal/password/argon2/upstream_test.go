package argon2

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/modfile"
)

// TestGoModRequiresUpstreamVersion: go.mod requires the golang.org/x/crypto
// this package was taken from. The equality tests compare against the
// x/crypto go.mod selects, so after a bump they would pass against code
// the fork no longer matches line for line; this fails instead, until
// the fork is re-synced (UPSTREAM.md) and upstreamVersion bumped.
func TestGoModRequiresUpstreamVersion(t *testing.T) {
	path := goMod(t)
	data, err := os.ReadFile(path) // #nosec G304 -- the module's own go.mod, found above this directory
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.ParseLax(path, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	const crypto = "golang.org/x/crypto"
	for _, r := range f.Replace {
		if r.Old.Path == crypto {
			t.Fatalf("%s replaces %s with %s %s: the fork is of %s %s; see UPSTREAM.md", path, crypto, r.New.Path, r.New.Version, crypto, upstreamVersion)
		}
	}
	for _, r := range f.Require {
		if r.Mod.Path == crypto {
			if r.Mod.Version != upstreamVersion {
				t.Fatalf("%s requires %s %s, but this fork is of %s: re-sync it as UPSTREAM.md says, then bump upstreamVersion", path, crypto, r.Mod.Version, upstreamVersion)
			}
			return
		}
	}
	t.Fatalf("%s does not require %s", path, crypto)
}

// goMod is the path of the go.mod nearest above the working directory
// (the package's directory under go test).
func goMod(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		path := filepath.Join(dir, "go.mod")
		if _, err := os.Stat(path); err == nil {
			return path
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package's directory")
		}
		dir = parent
	}
}
