package app

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marbelle/marbelle/app/internal/ratelimit"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestConfigDevelopmentWorksWithNothingSet: the defaults of the contract.
func TestConfigDevelopmentWorksWithNothingSet(t *testing.T) {
	cfg, err := LoadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("got %v, want no error", err)
	}
	if cfg.Env != "development" || cfg.Addr != "127.0.0.1:8080" || cfg.DataDir != "./data" || cfg.DevSMTPAddr != "127.0.0.1:1025" || cfg.SecretKey != "" {
		t.Fatalf("defaults: got %+v", cfg)
	}
	if strings.Join(cfg.AllowedHosts, ",") != "localhost,127.0.0.1,[::1]" {
		t.Fatalf("allowed hosts: got %v", cfg.AllowedHosts)
	}
	if len(cfg.CORSAllowedOrigins) != 4 || cfg.RateLimits.Off || cfg.RateLimits.Login != (ratelimit.Rate{N: 5, Per: time.Minute}) {
		t.Fatalf("cors/rate limits: got %v %+v", cfg.CORSAllowedOrigins, cfg.RateLimits)
	}
	if cfg.TokenTTL != (TokenTTL{24 * time.Hour, time.Hour, 24 * time.Hour}) || cfg.SessionTTL != (SessionTTL{672 * time.Hour, 168 * time.Hour, 12 * time.Hour, 30 * time.Minute}) {
		t.Fatalf("ttls: got %+v %+v", cfg.TokenTTL, cfg.SessionTTL)
	}
}

// TestConfigProductionRefusesEveryMissingSettingAtOnce names each one.
func TestConfigProductionRefusesEveryMissingSettingAtOnce(t *testing.T) {
	_, err := LoadConfig(nil, envOf(map[string]string{"MARBELLE_ENV": "production"}), &bytes.Buffer{})
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a ConfigError", err)
	}
	for _, name := range []string{"MARBELLE_SECRET_KEY", "MARBELLE_BASE_URL", "MARBELLE_SMTP_URL", "MARBELLE_MAIL_FROM", "MARBELLE_ALLOWED_HOSTS"} {
		if !strings.Contains(err.Error(), name) {
			t.Fatalf("message does not name %s:\n%v", name, err)
		}
	}
	if len(ce.Problems) != 5 {
		t.Fatalf("got %d problems, want exactly the 5 required settings: %v", len(ce.Problems), ce.Problems)
	}
}

func validProduction() map[string]string {
	return map[string]string{
		"MARBELLE_ENV":           "production",
		"MARBELLE_SECRET_KEY":    strings.Repeat("k", 32),
		"MARBELLE_BASE_URL":      "https://account.shop.example/",
		"MARBELLE_SMTP_URL":      "smtps://user:pw@mail.shop.example:465",
		"MARBELLE_MAIL_FROM":     "Shop <no-reply@shop.example>",
		"MARBELLE_ALLOWED_HOSTS": " account.shop.example , ,",
	}
}

func TestConfigProductionValid(t *testing.T) {
	cfg, err := LoadConfig(nil, envOf(validProduction()), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("got %v, want no error", err)
	}
	if cfg.BaseURL != "https://account.shop.example" || strings.Join(cfg.AllowedHosts, "|") != "account.shop.example" {
		t.Fatalf("got base %q hosts %q (lists must be trimmed, empty items dropped)", cfg.BaseURL, cfg.AllowedHosts)
	}
	if cfg.DevSMTPAddr != "" || len(cfg.CORSAllowedOrigins) != 0 {
		t.Fatalf("production must not inherit development defaults: sink %q cors %v", cfg.DevSMTPAddr, cfg.CORSAllowedOrigins)
	}
}

func TestConfigProductionRefusals(t *testing.T) {
	cases := []struct{ name, key, value string }{
		{"31-byte secret", "MARBELLE_SECRET_KEY", strings.Repeat("k", 31)},
		{"relative base URL", "MARBELLE_BASE_URL", "account.shop.example"},
		{"base URL with query", "MARBELLE_BASE_URL", "https://a.example/?x=1"},
		{"smtp scheme", "MARBELLE_SMTP_URL", "http://mail.example"},
		{"from with newline", "MARBELLE_MAIL_FROM", "a@b.example\r\nBcc: x@evil.test"},
		{"rate limits off", "MARBELLE_RATE_LIMITS", "off"},
		{"weak argon2", "MARBELLE_PASSWORD_HASH", "m=4096,t=1,p=1"},
		{"bad env", "MARBELLE_ENV", "staging"},
		{"bad proxy", "MARBELLE_TRUSTED_PROXIES", "10.0.0.0/8, nonsense"},
		{"bad origin", "MARBELLE_CSRF_TRUSTED_ORIGINS", "https://shop.example/path"},
		{"min length below 8", "MARBELLE_PASSWORD_MIN_LENGTH", "6"},
		{"bad ttl", "MARBELLE_TOKEN_TTL", "verify=forever"},
		{"unknown limit", "MARBELLE_RATE_LIMITS", "logins=5/1m"},
		{"store release too often", "MARBELLE_STORE_RELEASE_INTERVAL", "10ms"},
		{"store release not a duration", "MARBELLE_STORE_RELEASE_INTERVAL", "never"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := validProduction()
			env[c.key] = c.value
			_, err := LoadConfig(nil, envOf(env), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), c.key) {
				t.Fatalf("got %v, want an error naming %s", err, c.key)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Fatalf("error leaks the SMTP password: %v", err)
			}
		})
	}
}

func TestConfigStoreReleaseInterval(t *testing.T) {
	for value, want := range map[string]time.Duration{"": time.Second, "off": 0, "250ms": 250 * time.Millisecond} {
		env := validProduction()
		if value != "" {
			env["MARBELLE_STORE_RELEASE_INTERVAL"] = value
		}
		cfg, err := LoadConfig(nil, envOf(env), &bytes.Buffer{})
		if err != nil || cfg.StoreRelease != want {
			t.Fatalf("%q: got %v, %v; want %v", value, cfg.StoreRelease, err, want)
		}
	}
}

func TestConfigFlagsOverrideEnvironment(t *testing.T) {
	env := map[string]string{"MARBELLE_ADDR": "127.0.0.1:9000", "MARBELLE_SITE_NAME": "Env Shop", "MARBELLE_RATE_LIMITS": "login=7/1m, token=2/30s"}
	cfg, err := LoadConfig([]string{"--addr", "127.0.0.1:9100", "--site-name=Flag Shop"}, envOf(env), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("got %v", err)
	}
	if cfg.Addr != "127.0.0.1:9100" || cfg.SiteName != "Flag Shop" {
		t.Fatalf("got addr %q site %q, want the flags' values", cfg.Addr, cfg.SiteName)
	}
	if cfg.RateLimits.Login != (ratelimit.Rate{N: 7, Per: time.Minute}) || cfg.RateLimits.Token != (ratelimit.Rate{N: 2, Per: 30 * time.Second}) || cfg.RateLimits.Register != (ratelimit.Rate{N: 5, Per: time.Minute}) {
		t.Fatalf("rate limits: got %+v", cfg.RateLimits)
	}
	var help bytes.Buffer
	if _, err := LoadConfig([]string{"--help"}, envOf(nil), &help); err == nil || !strings.Contains(help.String(), "MARBELLE_SECRET_KEY") {
		t.Fatalf("--help: got %v %q", err, help.String())
	}
}

// TestNoFallbackSecret: nothing in the code holds a usable default key;
// development generates one per data dir and keeps it (mode 0600).
func TestNoFallbackSecret(t *testing.T) {
	dir := t.TempDir()
	a, err := devSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := devSecret(dir)
	if err != nil || a != b || len(a) < 32 {
		t.Fatalf("got %q then %q (%v), want one stable secret of ≥32 bytes", a, b, err)
	}
	if c, _ := devSecret(t.TempDir()); c == a {
		t.Fatalf("two data dirs got the same secret")
	}
	info, err := os.Stat(filepath.Join(dir, devSecretFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode: got %v %v, want 0600", info.Mode(), err)
	}
	// No source file holds a long literal that could serve as a key.
	files, _ := filepath.Glob("*.go")
	secretish := regexp.MustCompile(`(?i)(secret|key)[a-z_]*\s*[:=]+\s*"[^"]{16,}"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, _ := os.ReadFile(f)
		if m := secretish.Find(src); m != nil {
			t.Fatalf("%s holds what looks like a built-in key: %s", f, m)
		}
	}
	if _, err := New(Config{SecretKey: ""}, nil, nil, Options{BaseURL: "http://x"}); err == nil {
		t.Fatalf("New without a secret key: want an error")
	}
}

// TestDerivedKeysAreSeparate: HKDF gives each purpose its own key.
func TestDerivedKeysAreSeparate(t *testing.T) {
	secret := strings.Repeat("s", 32)
	a, b := deriveKey(secret, "marbelle cookie hmac-sha256 v1", 32), deriveKey(secret, "marbelle cookie aes-256 v1", 32)
	if bytes.Equal(a, b) || bytes.Contains(a, []byte(secret[:16])) {
		t.Fatalf("keys for two purposes must differ and not contain the secret")
	}
	if !bytes.Equal(a, deriveKey(secret, "marbelle cookie hmac-sha256 v1", 32)) {
		t.Fatalf("derivation must be deterministic")
	}
}
