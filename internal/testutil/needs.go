package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Missing ends a test that cannot run here because something it needs (a
// tool, a browser) is not installed: a skip that says how to install it, or
// a failure when the environment variable env is "1", as CI sets it, so that
// a missing tool never passes there unnoticed.
func Missing(t testing.TB, env, msg string) {
	t.Helper()
	if os.Getenv(env) == "1" {
		t.Fatalf("%s; %s=1 makes that a failure", msg, env)
	}
	t.Skip(msg)
}

// Tool is the path of the program name on PATH, or Missing's skip (a
// failure with env=1) saying "name is missing: " and how to install it.
func Tool(t testing.TB, env, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, env, fmt.Sprintf("%s is missing: %s", name, install))
	}
	return p
}

// Chromium is the browser the browser tests drive: MARBELLE_CHROMIUM, else
// /usr/bin/chromium; where there is none, Missing's skip (a failure with
// MARBELLE_BROWSER_TESTS=1).
func Chromium(t testing.TB) string {
	t.Helper()
	p := os.Getenv("MARBELLE_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil { // #nosec G703 -- the test runner's own setting names the browser to run
		Missing(t, "MARBELLE_BROWSER_TESTS", fmt.Sprintf("browser tests need Chromium at %s (%v): run `apt-get install chromium` (or set MARBELLE_CHROMIUM to a Chromium binary)", p, err))
	}
	return p
}
