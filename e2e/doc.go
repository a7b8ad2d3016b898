// Package e2e holds the system tests that build the marbelle binary
// (`go build github.com/marbelle/marbelle`, once per test process and set of
// build tags) and run it as a child process, the way an operator does. It has
// no code of its own besides this comment; the tests are in its _test.go
// files:
//
//   - binary_test.go: the helpers (buildBinary, startChild, childEnv, kill,
//     SIGTERM, RSS, `marbelle check`).
//   - crash_test.go: SIGKILL under write load, restart, consistency (R-01,
//     R-02); MARBELLE_CRASH_ITERATIONS, MARBELLE_CRASH_SEED.
//   - fsync_test.go: the fsync order of an acknowledged write, under strace
//     MARBELLE_STRACE_TESTS=1 makes a missing strace a failure.
//   - limits_test.go: slow clients, body and header limits, hash floods,
//     graceful shutdown under load.
//   - flood_test.go, backup_stall_test.go: issue 14's floods and the stalled
//     backup download.
//   - forwardauth_test.go, forwardauth_browser_test.go: forward auth
//     through the real Caddy and nginx, running the configurations of
//     docs/integration.md as written there, and a Chromium login through
//     Caddy's redirect; MARBELLE_PROXY_TESTS=1 makes a missing proxy a
//     failure.
//   - faults_test.go (build tag faults): a `-tags faults` binary that fails
//     after a commit or after SMTP: go test -tags faults -run Fault ./e2e.
//
// Every test here but the fault tests skips under -short. Tests that call
// main's run() in-process (main_test.go, docs_test.go, devpublic_test.go)
// stay in package main at the module root.
package e2e
