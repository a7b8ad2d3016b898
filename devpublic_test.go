package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/marbelle/marbelle/internal/testutil"
)

// TestIssue14DevModeRefusesPublicAddress: `marbelle serve` in development on
// a non-loopback address exits 2, like any configuration error, before it
// listens; MARBELLE_DEV_ALLOW_PUBLIC=true lets it start.
func TestIssue14DevModeRefusesPublicAddress(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"MARBELLE_ADDR": "0.0.0.0:0"}
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return devEnv(dir)(k)
	}
	var out, errs testutil.SyncBuffer
	err := run(context.Background(), []string{"serve"}, getenv, strings.NewReader(""), &out, &errs)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "MARBELLE_DEV_ALLOW_PUBLIC=true") {
		t.Fatalf("got %v, want exit status 2 naming MARBELLE_DEV_ALLOW_PUBLIC=true", err)
	}
	if strings.Contains(out.String(), "serving on") {
		t.Fatalf("it served: %s", out.String())
	}

	env["MARBELLE_DEV_ALLOW_PUBLIC"] = "true"
	url, stop := startServeEnv(t, dir, env)
	if err := stop(); err != nil {
		t.Fatalf("allowed public development server at %s: stop: %v", url, err)
	}
}
