package app

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestIssue14DevModeRefusesPublicAddress: development serves every captured
// mail to whoever reaches it, so it starts on a loopback address only,
// unless the operator says MARBELLE_DEV_ALLOW_PUBLIC=true.
func TestIssue14DevModeRefusesPublicAddress(t *testing.T) {
	public := []string{":8080", "0.0.0.0:8080", "[::]:8080", "192.0.2.1:8080", "[2001:db8::1]:8080", "shop.example:8080", ":0", "[::ffff:192.0.2.1]:8080", "localhost.example:8080"}
	loopback := []string{"127.0.0.1:8080", "127.0.0.1:0", "127.0.0.2:8080", "[::1]:8080", "localhost:8080", "LocalHost:8080", "[::ffff:127.0.0.1]:8080"}

	for _, addr := range public {
		_, err := LoadConfig(nil, envOf(map[string]string{"MARBELLE_ADDR": addr}), &bytes.Buffer{})
		var ce *ConfigError
		if !errors.As(err, &ce) || len(ce.Problems) != 1 {
			t.Fatalf("development on %q: got %v, want one configuration problem", addr, err)
		}
		msg := ce.Problems[0]
		for _, fix := range []string{"MARBELLE_ADDR", "MARBELLE_ENV=production", "127.0.0.1", "MARBELLE_DEV_ALLOW_PUBLIC=true"} {
			if !strings.Contains(msg, fix) {
				t.Fatalf("development on %q: message %q does not name %s", addr, msg, fix)
			}
		}
		// The flag is refused alike.
		if _, err := LoadConfig([]string{"--addr", addr}, envOf(nil), &bytes.Buffer{}); !errors.As(err, &ce) {
			t.Fatalf("development on --addr %q: got %v, want a ConfigError", addr, err)
		}
		// The operator's explicit yes, by environment or flag.
		for _, allow := range []struct {
			args []string
			env  map[string]string
		}{
			{nil, map[string]string{"MARBELLE_ADDR": addr, "MARBELLE_DEV_ALLOW_PUBLIC": "true"}},
			{nil, map[string]string{"MARBELLE_ADDR": addr, "MARBELLE_DEV_ALLOW_PUBLIC": " TRUE "}},
			{[]string{"--addr", addr, "--dev-allow-public=true"}, nil},
		} {
			cfg, err := LoadConfig(allow.args, envOf(allow.env), &bytes.Buffer{})
			if err != nil || !cfg.DevAllowPublic || cfg.Addr != addr {
				t.Fatalf("development on %q allowed by %v %v: got %+v, %v; want it accepted", addr, allow.args, allow.env, cfg.DevAllowPublic, err)
			}
		}
		// false is the default said out loud.
		if _, err := LoadConfig(nil, envOf(map[string]string{"MARBELLE_ADDR": addr, "MARBELLE_DEV_ALLOW_PUBLIC": "false"}), &bytes.Buffer{}); !errors.As(err, &ce) {
			t.Fatalf("development on %q with MARBELLE_DEV_ALLOW_PUBLIC=false: got %v, want a ConfigError", addr, err)
		}

		// Production is not affected: it has no dev mail.
		env := validProduction()
		env["MARBELLE_ADDR"] = addr
		if _, err := LoadConfig(nil, envOf(env), &bytes.Buffer{}); err != nil {
			t.Fatalf("production on %q: got %v, want it accepted", addr, err)
		}
	}

	for _, addr := range loopback {
		cfg, err := LoadConfig(nil, envOf(map[string]string{"MARBELLE_ADDR": addr}), &bytes.Buffer{})
		if err != nil || cfg.DevAllowPublic {
			t.Fatalf("development on %q: got %v (allow public %v), want it accepted", addr, err, cfg.DevAllowPublic)
		}
		env := validProduction()
		env["MARBELLE_ADDR"] = addr
		if _, err := LoadConfig(nil, envOf(env), &bytes.Buffer{}); err != nil {
			t.Fatalf("production on %q: got %v, want it accepted", addr, err)
		}
	}

	// Anything but true or false is a mistake, in production too.
	for _, env := range []map[string]string{
		{"MARBELLE_DEV_ALLOW_PUBLIC": "yes"},
		{"MARBELLE_DEV_ALLOW_PUBLIC": "1", "MARBELLE_ENV": "production"},
	} {
		_, err := LoadConfig(nil, envOf(env), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "MARBELLE_DEV_ALLOW_PUBLIC: must be true or false") {
			t.Fatalf("%v: got %v, want MARBELLE_DEV_ALLOW_PUBLIC refused", env, err)
		}
	}
}
