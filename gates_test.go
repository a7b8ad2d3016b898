package main

import (
	"os"
	"strings"
	"testing"
)

// TestSEC56CodeGatesAreWired: the code-level gates of SEC-56 run in CI on
// every submission (.ci/run) with pinned versions (go.mod's tool block):
// go vet, staticcheck, gosec, the race detector and the fuzz targets.
// This test fails if one of them is taken out of either.
func TestSEC56CodeGatesAreWired(t *testing.T) {
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go vet ./...", "go test -race", "go tool staticcheck ./...", "go tool gosec", "-fuzz", "gofmt -l ."} {
		if !strings.Contains(string(ci), want) {
			t.Fatalf(".ci/run no longer runs %q", want)
		}
	}
	for _, want := range []string{"honnef.co/go/tools/cmd/staticcheck", "github.com/securego/gosec/v2/cmd/gosec"} {
		if !strings.Contains(string(mod), "\t"+want) && !strings.Contains(string(mod), "tool "+want) {
			t.Fatalf("go.mod does not pin the tool %s", want)
		}
	}
}
