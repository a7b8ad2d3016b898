package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNoSyncNeverSet: no non-test source sets bbolt's NoSync or
// NoGrowSync, which would let a commit be answered before it is on disk.
func TestNoSyncNeverSet(t *testing.T) {
	re := regexp.MustCompile(`\bNo(Grow)?Sync\s*(:|=[^=])`)
	files := 0
	err := filepath.WalkDir(".", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (strings.HasPrefix(e.Name(), ".") && path != "." || e.Name() == "testdata" || e.Name() == "dist") {
			return filepath.SkipDir
		}
		if e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for i, line := range strings.Split(string(src), "\n") {
			if re.MatchString(line) {
				t.Errorf("%s:%d sets bbolt's %s: %s", path, i+1, re.FindString(line), strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("scanned %d Go files, want the whole module (run from its root)", files)
	}
	// The pattern catches what it must.
	for _, bad := range []string{"bolt.Options{NoSync: true}", "db.NoSync = true", "o := bolt.Options{Timeout: 1, NoGrowSync:true}"} {
		if !re.MatchString(bad) {
			t.Fatalf("the pattern misses %q", bad)
		}
	}
	if re.MatchString("// NoSync is never set") || re.MatchString("if db.NoSync == false {") {
		t.Fatalf("the pattern matches a comment or a comparison")
	}
}
