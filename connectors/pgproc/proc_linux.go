package pgproc

import (
	"os"
	"os/exec"
	"syscall"
)

// shutdownSignal asks postgres for a fast shutdown: it disconnects clients
// rather than wait for them (SIGTERM's smart shutdown would).
var shutdownSignal os.Signal = syscall.SIGINT

// canSwitchUser says setProcAttr can run a program as another user.
const canSwitchUser = true

// setProcAttr runs cmd as as (when not nil) and makes the kernel kill it
// when its parent dies without stopping it (a panic, a test -timeout, a
// SIGKILL). Go sets the parent-death signal after switching users, which
// would otherwise clear it.
func setProcAttr(cmd *exec.Cmd, as *runAs) {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if as != nil {
		attr.Credential = &syscall.Credential{Uid: as.uid, Gid: as.gid}
	}
	cmd.SysProcAttr = attr
}
