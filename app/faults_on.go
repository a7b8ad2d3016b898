//go:build faults

package app

import (
	"errors"

	"github.com/marbelle/marbelle/mail"
)

// errFaultAfterCommit is what update returns, after its transaction has
// committed, when the after-commit fault fires (MARBELLE_FAULTS, read once
// at start; see mail/faults_on.go). The handler answers 500 internal, as it
// would if the process died between the commit and the answer, except that
// the server goes on.
var errFaultAfterCommit = errors.New("fault injected after commit (MARBELLE_FAULTS after-commit)")

// faultAfterCommit is called by update once the commit is on disk and
// before the caller answers.
func faultAfterCommit() error {
	if mail.FaultFires("after-commit") {
		return errFaultAfterCommit
	}
	return nil
}
