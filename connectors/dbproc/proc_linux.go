package dbproc

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// Terminate is SIGTERM, which asks most servers for a clean shutdown.
var Terminate os.Signal = syscall.SIGTERM

// CanSwitchUser says SetProcAttr can run a program as another user.
const CanSwitchUser = true

// SetProcAttr runs cmd as as (when not nil) and makes the kernel kill it
// when its parent dies without stopping it (a panic, a test -timeout, a
// SIGKILL). Go sets the parent-death signal after switching users, which
// would otherwise clear it.
func SetProcAttr(cmd *exec.Cmd, as *Account) {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if as != nil {
		attr.Credential = &syscall.Credential{Uid: as.Uid, Gid: as.Gid}
	}
	cmd.SysProcAttr = attr
}

// processGone reports whether no process pid exists.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
