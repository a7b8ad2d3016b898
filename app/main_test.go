package app

import (
	"os"
	"testing"
)

// TestMain runs the tests, then holds every answer they received through
// testClient.send to the API's description, docs/openapi.yaml: its status
// must be described for its operation, and its headers, content type and
// body must match what is described. An answer that does not, or a route
// the description lacks, fails the package run, whatever the order or the
// selection (-run) of the tests that produced it.
func TestMain(m *testing.M) {
	code := m.Run()
	if !checkRecordedAnswers(os.Stdout) && code == 0 {
		code = 1
	}
	os.Exit(code)
}
