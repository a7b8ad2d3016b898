//go:build faults

package mail

import "testing"

// TestFaultSpecParsing: MARBELLE_FAULTS is read strictly, so that a typo
// fails the start instead of quietly running a test without its fault.
func TestFaultSpecParsing(t *testing.T) {
	got, err := ParseFaults(" after-commit:0.1, after-smtp:1 ")
	if err != nil || got["after-commit"] != 0.1 || got["after-smtp"] != 1 || len(got) != 2 {
		t.Fatalf("got %v %v, want after-commit 0.1 and after-smtp 1", got, err)
	}
	if got, err := ParseFaults(""); err != nil || len(got) != 0 {
		t.Fatalf("empty: got %v %v, want no faults", got, err)
	}
	for _, bad := range []string{"after-comit:1", "after-commit", "after-commit:2", "after-smtp:-0.5", "after-smtp:x"} {
		if _, err := ParseFaults(bad); err == nil {
			t.Fatalf("%q: got no error, want one", bad)
		}
	}
	if FaultFires("after-commit") || FaultFires("after-smtp") {
		t.Fatalf("a fault fired without MARBELLE_FAULTS")
	}
}
