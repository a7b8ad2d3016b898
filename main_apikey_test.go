package main

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marbelle/marbelle/internal/testutil"
)

// TestAPIKeyCommands: `marbelle api-key create|list|revoke` on a stopped
// store; the key is printed once, alone on stdout, and never listed; a
// server takes it (and records its use at shutdown); the commands refuse
// while a server holds the store, pointing at the admin pages; a key
// revoked here is refused by the next server.
func TestAPIKeyCommands(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	runOut := func(args ...string) (string, string, error) {
		t.Helper()
		var out, errs testutil.SyncBuffer
		err := run(ctx, args, cliEnv(dir), strings.NewReader(""), &out, &errs)
		return out.String(), errs.String(), err
	}

	// Usage and input faults, named by flag.
	_, _, err := runOut("api-key")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("api-key alone: %v, want exit 2", err)
	}
	if _, _, err := runOut("api-key", "create", "--name", "x", "--scope", "users:read,root"); err == nil || !strings.Contains(err.Error(), `--scope: Unknown scopes: "root"`) {
		t.Fatalf("unknown scope: %v", err)
	}
	if _, _, err := runOut("api-key", "create", "--scope", "users:read"); err == nil || !strings.Contains(err.Error(), "--name") {
		t.Fatalf("no name: %v", err)
	}

	out, summary, err := runOut("api-key", "create", "--name", "checkout", "--scope", "users:read", "--scope", "addresses:read,sessions:introspect")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	key := strings.TrimSpace(out)
	if !regexp.MustCompile(`^mbk_[A-Za-z0-9_-]{43}$`).MatchString(key) || !strings.Contains(summary, "shown only this once") {
		t.Fatalf("create printed %q and %q; want the key alone on stdout", out, summary)
	}
	id := regexp.MustCompile(`\(([0-9a-f-]{36})\)`).FindStringSubmatch(summary)
	if id == nil {
		t.Fatalf("create: no id in %q", summary)
	}
	list, _, err := runOut("api-key", "list")
	if err != nil || !strings.Contains(list, `"checkout"`) || !strings.Contains(list, "users:read,addresses:read,sessions:introspect") || strings.Contains(list, key) || strings.Contains(list, key[4:]) {
		t.Fatalf("list: %v\n%s", err, list)
	}

	url, stop := startServe(t, dir)
	get := func(path string) int {
		t.Helper()
		return testutil.BearerStatus(t, url+path, key)
	}
	if got := get("/api/v1/admin/users"); got != 200 {
		t.Fatalf("key on a running server: %d, want 200", got)
	}
	start := time.Now()
	if _, _, err := runOut("api-key", "revoke", id[1]); err == nil || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), "/api/v1/admin/api-keys") || time.Since(start) > 10*time.Second {
		t.Fatalf("revoke while serving: %v, want a quick 'in use' pointing at the admin API", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// The use was written at shutdown.
	list, _, _ = runOut("api-key", "list")
	if row := strings.Split(list, "\n")[1]; strings.Count(row, "never") != 1 { // expires never, last used not
		t.Fatalf("list after a use: %s", list)
	}

	if out, _, err := runOut("api-key", "revoke", id[1]); err != nil || !strings.Contains(out, `Revoked API key "checkout"`) {
		t.Fatalf("revoke: %v %s", err, out)
	}
	if out, _, err := runOut("api-key", "revoke", id[1]); err != nil || !strings.Contains(out, "already revoked") {
		t.Fatalf("revoke again: %v %s", err, out)
	}
	if _, _, err := runOut("api-key", "revoke", "0190aaaa-0000-7000-8000-000000000000"); err == nil || !strings.Contains(err.Error(), "no API key") {
		t.Fatalf("revoke unknown: %v", err)
	}
	if list, _, _ := runOut("api-key", "list"); !strings.Contains(list, "revoked 20") {
		t.Fatalf("list after revoking: %s", list)
	}
	url, stop = startServe(t, dir)
	defer stop()
	if got := get("/api/v1/admin/users"); got != 401 {
		t.Fatalf("revoked key: %d, want 401", got)
	}
}
