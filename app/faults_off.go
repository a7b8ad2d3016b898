//go:build !faults

package app

// faultAfterCommit is a fault-injection hook; only a build with -tags
// faults has one that does something (faults_on.go). This one is inlined
// away.
func faultAfterCommit() error { return nil }
