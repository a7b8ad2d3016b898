//go:build !faults

package mail

// faultAfterSMTP is a fault-injection hook; only a build with -tags faults
// has one that does something (faults_on.go).
func faultAfterSMTP() {}
