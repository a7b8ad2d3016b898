package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marbelle/marbelle/internal/testutil"
)

// TestReadmeWalkthroughRuns runs the README's curl walk-through, exactly
// as written, against a real server, so the documented commands stay true.
// It needs curl and jq; CI sets MARBELLE_DOCS_TESTS=1 so that their
// absence fails instead of skipping.
func TestReadmeWalkthroughRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the README walk-through")
	}
	for _, tool := range []string{"bash", "curl", "jq"} {
		testutil.Tool(t, "MARBELLE_DOCS_TESTS", tool, "apt-get install -y curl jq, then go test -run TestReadmeWalkthroughRuns .")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "### A walk through the API with curl")
	if start < 0 {
		t.Fatal("README has no walk-through section")
	}
	section = section[start:]
	if end := strings.Index(section[4:], "\n## "); end >= 0 {
		section = section[:end+4]
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) < 10 {
		t.Fatalf("found %d sh blocks in the walk-through, want the whole journey", len(blocks))
	}

	dir := t.TempDir()
	url, stop := startServeEnv(t, dir, map[string]string{}) // default rate limits: the walk-through must fit them
	defer stop()

	var script strings.Builder
	script.WriteString("set -u\ncd " + dir + "\n")
	for _, b := range blocks {
		if strings.Contains(b[1], "go run") {
			continue // how to start a server, not a step of the walk-through
		}
		for _, line := range strings.Split(strings.TrimRight(b[1], "\n"), "\n") {
			switch {
			case strings.HasPrefix(line, "B="):
				line = "B=" + url
			case strings.HasPrefix(line, "TOKEN=") || strings.HasPrefix(line, "SID="):
				// Mail reaches the sink a moment after the answer: retry, as the README says.
				name := line[:strings.Index(line, "=")]
				line = "for _try in $(seq 100); do " + line + "; [ -n \"$" + name + "\" ] && break; sleep 0.1; done; [ -n \"$" + name + "\" ] || { echo '" + name + " stayed empty' >&2; exit 1; }"
			}
			script.WriteString(line + "\n")
		}
	}
	path := filepath.Join(dir, "walkthrough.sh")
	os.WriteFile(path, []byte(script.String()), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", path).CombinedOutput()
	if err != nil {
		t.Fatalf("walk-through failed: %v\n%s", err, out)
	}
	if strings.Contains(string(out), `"success": false`) {
		t.Fatalf("a documented request failed:\n%s", out)
	}
	if got := strings.Count(string(out), `"success": true`); got < 12 {
		t.Fatalf("got %d successful answers, want the whole journey (≥ 12):\n%s", got, out)
	}
	if !strings.Contains(string(out), "Your account and everything stored with it are deleted.") {
		t.Fatalf("the walk-through did not reach the account deletion:\n%s", out)
	}
}
