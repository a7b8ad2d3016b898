package main

import (
	"context"
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
