//go:build !bench

package main

// hiddenCommand finds no command: bench-seed is in -tags bench builds only
// (benchseed_on.go), so that release binaries do not carry it.
func hiddenCommand(string) (subcommand, bool) { return nil, false }
