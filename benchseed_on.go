//go:build bench

package main

import (
	"context"
	"errors"
	"flag"
	"io"

	"github.com/marbelle/marbelle/app"
)

// hiddenCommand finds the commands a -tags bench build adds and usage does
// not list: bench-seed fills a store for scripts/bench/run.sh. Release
// builds have none (benchseed_off.go).
func hiddenCommand(name string) (subcommand, bool) {
	if name == "bench-seed" {
		return benchSeed, true
	}
	return nil, false
}

// benchSeed is the hidden subcommand behind scripts/bench/run.sh.
func benchSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("marbelle bench-seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o app.BenchSeedOptions
	fs.IntVar(&o.Readers, "readers", 1000, "users with 10 addresses, a cookie session and a token session")
	fs.IntVar(&o.Writers, "writers", 20000, "users with a session and no address")
	fs.IntVar(&o.Extra, "extra", 0, "further users without a session")
	fs.IntVar(&o.Tokens, "tokens", 0, "tokens")
	fs.IntVar(&o.Expired, "expired", 0, "of the tokens, how many are expired")
	fs.StringVar(&o.Password, "password", "tangerine walrus umbrella 42", "every seeded user's password")
	fs.StringVar(&o.OutDir, "out", "bench-out", "where the cookie and login files go")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := app.LoadConfig(nil, getenv, stderr)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if cfg.SecretKey == "" {
		return &exitError{code: 2, err: errors.New("bench-seed: set MARBELLE_SECRET_KEY (the server must use the same)")}
	}
	return app.BenchSeed(ctx, cfg, o, stdout)
}
