package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marbelle/marbelle/internal/testutil"
)

func devEnv(dataDir string) func(string) string {
	env := map[string]string{
		"MARBELLE_ADDR":          "127.0.0.1:0",
		"MARBELLE_DEV_SMTP_ADDR": "127.0.0.1:0",
		"MARBELLE_DATA_DIR":      dataDir,
		"MARBELLE_PASSWORD_HASH": "m=256,t=1,p=1",
	}
	return func(k string) string { return env[k] }
}

// startServe runs `marbelle serve` in-process and returns its URL and a
// function that stops it (as SIGTERM would) and returns run's error.
func startServe(t *testing.T, dataDir string) (string, func() error) {
	t.Helper()
	return startServeEnv(t, dataDir, map[string]string{"MARBELLE_RATE_LIMITS": "off"})
}

// startServeEnv is startServe with extra environment settings.
func startServeEnv(t *testing.T, dataDir string, extra map[string]string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errs := &testutil.SyncBuffer{}, &testutil.SyncBuffer{}
	done := make(chan error, 1)
	getenv := func(k string) string {
		if v, ok := extra[k]; ok {
			return v
		}
		return devEnv(dataDir)(k)
	}
	go func() { done <- run(ctx, []string{"serve"}, getenv, strings.NewReader(""), out, errs) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := testutil.ServingRE.FindStringSubmatch(out.String()); m != nil {
			return m[1], func() error { cancel(); return <-done }
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended early: %v\n%s", err, errs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s %s", out.String(), errs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeStartsAnswersAndShutsDown: the default command serves, answers
// /readyz and a real flow, and on cancellation shuts down cleanly (exit 0).
func TestServeStartsAnswersAndShutsDown(t *testing.T) {
	dir := t.TempDir()
	url, stop := startServe(t, dir)
	res, err := http.Get(url + "/readyz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz: got %v %v", res, err)
	}
	res.Body.Close()
	body := `{"email":"cli@example.test","password":"tangerine walrus umbrella 42","first_name":"Cli","last_name":"Test"}`
	res, err = http.Post(url+"/api/v1/auth/register", "application/json", strings.NewReader(body))
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("register: got %v %v", res, err)
	}
	res.Body.Close()
	// The mail reaches the built-in sink through real SMTP.
	testutil.WaitDevTokens(t, nil, url, "cli@example.test", "verify-email", 1, 10*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("shutdown: got %v, want nil (exit 0)", err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatalf("still serving after shutdown")
	}
	// The store reopens without repair.
	_, stop = startServe(t, dir)
	if err := stop(); err != nil {
		t.Fatalf("second run: %v", err)
	}
}

// TestSecondServerOnSameStoreFailsClearly: no hang, a clear message.
func TestSecondServerOnSameStoreFailsClearly(t *testing.T) {
	dir := t.TempDir()
	_, stop := startServe(t, dir)
	defer stop()
	start := time.Now()
	err := run(context.Background(), []string{"serve"}, devEnv(dir), strings.NewReader(""), &testutil.SyncBuffer{}, &testutil.SyncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("got %v, want a 'store is in use' error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v, want it bounded by the open timeout", d)
	}
}

func TestProductionWithoutSettingsExitsTwo(t *testing.T) {
	var out, errs testutil.SyncBuffer
	env := map[string]string{"MARBELLE_ENV": "production"}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errs)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("got %v, want exit status 2", err)
	}
	for _, name := range []string{"MARBELLE_SECRET_KEY", "MARBELLE_BASE_URL", "MARBELLE_SMTP_URL", "MARBELLE_MAIL_FROM", "MARBELLE_ALLOWED_HOSTS"} {
		if !strings.Contains(err.Error(), name) {
			t.Fatalf("message does not name %s: %v", name, err)
		}
	}
}

func TestVersionHelpAndUnknownCommand(t *testing.T) {
	var out testutil.SyncBuffer
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, nil, &out, &out); err != nil || !strings.HasPrefix(out.String(), "marbelle ") {
		t.Fatalf("version: got %v %q", err, out.String())
	}
	out = testutil.SyncBuffer{}
	if err := run(context.Background(), []string{"serve", "--help"}, func(string) string { return "" }, nil, &out, &out); !strings.Contains(out.String(), "-addr") {
		t.Fatalf("serve --help: got %v %q", err, out.String())
	}
	var ee *exitError
	if err := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, nil, &out, &out); !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("unknown command: got %v, want exit status 2", err)
	}
}

func cliEnv(dataDir string) func(string) string {
	env := map[string]string{"MARBELLE_DATA_DIR": dataDir, "MARBELLE_PASSWORD_HASH": "m=256,t=1,p=1"}
	return func(k string) string { return env[k] }
}

// TestAdminCreateCheckAndBackup: SEC-12 (no default accounts; staff only
// through the command), check and backup on a stopped store, and clear
// refusals while a server holds it.
func TestAdminCreateCheckAndBackup(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var out, errs testutil.SyncBuffer
	// Fresh store: admin/admin does not exist.
	url, stop := startServe(t, dir)
	res, err := http.Post(url+"/api/v1/auth/login", "application/json", strings.NewReader(`{"email":"admin@localhost","password":"admin"}`))
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("default admin: got %v %v, want 401", res, err)
	}
	res.Body.Close()
	// While the server runs, every store command refuses quickly and clearly.
	for _, args := range [][]string{{"admin", "create", "--email", "s@example.test", "--password-stdin"}, {"backup", filepath.Join(dir, "b.db")}, {"check"}} {
		start := time.Now()
		err := run(ctx, args, cliEnv(dir), strings.NewReader("tangerine walrus umbrella 42\n"), &out, &errs)
		if err == nil || !strings.Contains(err.Error(), "in use") || time.Since(start) > 10*time.Second {
			t.Fatalf("%v while serving: got %v after %v, want a quick 'in use' error", args, err, time.Since(start))
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	if err := run(ctx, []string{"admin", "create", "--email", "S@Example.test", "--password-stdin"}, cliEnv(dir), strings.NewReader("password1234\n"), &out, &errs); err == nil {
		t.Fatalf("a common password must be refused")
	}
	if err := run(ctx, []string{"admin", "create", "--email", "S@Example.test", "--password-stdin"}, cliEnv(dir), strings.NewReader("tangerine walrus umbrella 42\n"), &out, &errs); err != nil {
		t.Fatalf("admin create: %v", err)
	}
	if !strings.Contains(out.String(), "MARBELLE_STAFF_MFA") || !strings.Contains(out.String(), "authenticator app") {
		t.Fatalf("admin create does not explain the staff second-factor policy: %q", out.String())
	}
	if err := run(ctx, []string{"admin", "create", "--email", "s@example.test", "--password-stdin"}, cliEnv(dir), strings.NewReader("tangerine walrus umbrella 42\n"), &out, &errs); err == nil || !strings.Contains(err.Error(), "--promote") {
		t.Fatalf("existing email: got %v, want a hint at --promote", err)
	}
	if err := run(ctx, []string{"admin", "create", "--email", "s@example.test"}, cliEnv(dir), strings.NewReader(""), &out, &errs); err == nil || !strings.Contains(err.Error(), "--password-stdin") {
		t.Fatalf("no terminal: got %v, want a hint at --password-stdin", err)
	}
	out = testutil.SyncBuffer{}
	if err := run(ctx, []string{"check", "--data-dir", dir}, cliEnv(t.TempDir()), nil, &out, &errs); err != nil || !strings.Contains(out.String(), "ok") {
		t.Fatalf("check: %v %s", err, out.String())
	}
	snap := filepath.Join(t.TempDir(), "snap.db")
	if err := run(ctx, []string{"backup", snap}, cliEnv(dir), nil, &out, &errs); err != nil {
		t.Fatalf("backup: %v", err)
	}
	// The copy is a working store: the staff account logs in from it.
	snapDir := t.TempDir()
	data, _ := os.ReadFile(snap)
	os.WriteFile(filepath.Join(snapDir, "marbelle.db"), data, 0o600)
	if err := run(ctx, []string{"check"}, cliEnv(snapDir), nil, &out, &errs); err != nil {
		t.Fatalf("check of the backup: %v", err)
	}
	url, stop = startServe(t, snapDir)
	defer stop()
	res, err = http.Post(url+"/api/v1/auth/login", "application/json", strings.NewReader(`{"email":"s@example.test","password":"tangerine walrus umbrella 42"}`))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("staff login on the restored copy: %v %v", res, err)
	}
	var body bytes.Buffer
	body.ReadFrom(res.Body)
	res.Body.Close()
	if !strings.Contains(body.String(), `"is_staff":true`) || !strings.Contains(body.String(), `"email_verified":true`) {
		t.Fatalf("staff profile: %s", body.String())
	}
}

// TestBrokenTemplateOverrideExitsTwo: a shop's broken template stops
// `marbelle serve` with exit status 2, naming the file and the
// placeholder, before the store is opened.
func TestBrokenTemplateOverrideExitsTwo(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "templates", "mail", "password_changed.txt")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(`{{define "subject"}}x{{end}}{{.NoSuchField}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"serve"}, devEnv(dir), strings.NewReader(""), &testutil.SyncBuffer{}, &testutil.SyncBuffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "password_changed.txt") || !strings.Contains(err.Error(), "NoSuchField") {
		t.Fatalf("got %v, want exit status 2 naming the file and the placeholder", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "marbelle.db")); err == nil {
		t.Errorf("the store was opened before the templates were checked")
	}
}
