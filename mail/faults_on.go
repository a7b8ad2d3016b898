//go:build faults

package mail

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Fault injection for the reliability tests, compiled only into a
// `go build -tags faults` binary; a normal build has faults_off.go, whose
// hooks do nothing. MARBELLE_FAULTS is read once, when the process starts:
// a comma-separated list of name:probability, e.g.
//
//	MARBELLE_FAULTS=after-commit:0.1,after-smtp:1
//
// after-commit (app): a write transaction commits, then the request fails
// with 500 instead of its answer. after-smtp (mail): the relay accepts a
// mail, then the process kills itself before the outbox records it as sent.
var faultRates = mustParseFaults(os.Getenv("MARBELLE_FAULTS"))

// faultNames are the faults a build with -tags faults knows.
var faultNames = map[string]bool{"after-commit": true, "after-smtp": true}

// ParseFaults reads a MARBELLE_FAULTS value.
func ParseFaults(spec string) (map[string]float64, error) {
	rates := map[string]float64{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, val, ok := strings.Cut(item, ":")
		p, err := strconv.ParseFloat(val, 64)
		if !ok || err != nil || p < 0 || p > 1 || !faultNames[name] {
			return nil, fmt.Errorf("MARBELLE_FAULTS: %q: want name:probability with name after-commit or after-smtp and 0 <= probability <= 1", item)
		}
		rates[name] = p
	}
	return rates, nil
}

func mustParseFaults(spec string) map[string]float64 {
	rates, err := ParseFaults(spec)
	if err != nil {
		panic(err) // a typo must not quietly run the test without its fault
	}
	if len(rates) > 0 {
		fmt.Fprintf(os.Stderr, "marbelle: FAULT INJECTION BUILD: MARBELLE_FAULTS=%s\n", spec)
	}
	return rates
}

// FaultFires reports whether the named fault fires at this opportunity.
func FaultFires(name string) bool {
	p := faultRates[name]
	return p > 0 && (p >= 1 || rand.Float64() < p) // #nosec G404 -- chance of a test fault, not a secret
}

// faultAfterSMTP is called once the relay accepted a mail and before the
// outbox marks it sent. When after-smtp fires, the process ends as a power
// cut or an OOM kill would end it: SIGKILL, no deferred function runs.
func faultAfterSMTP() {
	if !FaultFires("after-smtp") {
		return
	}
	fmt.Fprintln(os.Stderr, "marbelle: fault after-smtp: killing the process before the mail is marked sent")
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	time.Sleep(time.Hour) // the signal ends the process before this does
}
