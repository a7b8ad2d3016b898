package main

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/marbelle/marbelle/internal/testutil"
)

// TestWebhookCommands: `marbelle webhook add|list|remove` on a stopped
// store; the secret is printed once, alone on stdout, and never listed;
// bad input names the flag.
func TestWebhookCommands(t *testing.T) {
	dir := t.TempDir()
	runOut := func(args ...string) (string, string, error) {
		t.Helper()
		var out, errs testutil.SyncBuffer
		err := run(context.Background(), args, cliEnv(dir), strings.NewReader(""), &out, &errs)
		return out.String(), errs.String(), err
	}
	if _, _, err := runOut("webhook", "add", "--url", "ftp://x.example/", "--event", "*"); err == nil || !strings.Contains(err.Error(), "--url") {
		t.Fatalf("ftp url: %v", err)
	}
	if _, _, err := runOut("webhook", "add", "--url", "https://x.example/", "--event", "user.exploded"); err == nil || !strings.Contains(err.Error(), `"user.exploded"`) {
		t.Fatalf("unknown event: %v", err)
	}
	out, summary, err := runOut("webhook", "add", "--url", "https://orders.example/hooks", "--event", "user.registered,address.created", "--description", "orders")
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(out)
	if !regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`).MatchString(secret) {
		t.Fatalf("add printed %q", out)
	}
	id := regexp.MustCompile(`\(([0-9a-f-]{36})\)`).FindStringSubmatch(summary)
	if id == nil {
		t.Fatalf("no id in %q", summary)
	}
	list, _, err := runOut("webhook", "list")
	if err != nil || !strings.Contains(list, "https://orders.example/hooks") || !strings.Contains(list, "user.registered,address.created") || strings.Contains(list, "whsec_") {
		t.Fatalf("list: %v\n%s", err, list)
	}
	if out, _, err := runOut("webhook", "remove", id[1]); err != nil || !strings.Contains(out, "Removed") {
		t.Fatalf("remove: %v %s", err, out)
	}
	if list, _, _ := runOut("webhook", "list"); !strings.Contains(list, "No webhook endpoints") {
		t.Fatalf("after remove: %s", list)
	}
}

// TestWebhookAddWithoutSecretKey: in production without
// MARBELLE_SECRET_KEY, `webhook add` cannot seal the secret as the server
// would: exit status 2, saying why, and nothing written.
func TestWebhookAddWithoutSecretKey(t *testing.T) {
	dir := t.TempDir()
	env := cliEnv(dir)
	getenv := func(k string) string {
		if k == "MARBELLE_ENV" {
			return "production"
		}
		return env(k)
	}
	var out, errs testutil.SyncBuffer
	err := run(context.Background(), []string{"webhook", "add", "--url", "https://orders.example/", "--event", "*"}, getenv, strings.NewReader(""), &out, &errs)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "MARBELLE_SECRET_KEY") || out.String() != "" {
		t.Fatalf("got %v, stdout %q", err, out.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("wrote %v", entries)
	}
}
