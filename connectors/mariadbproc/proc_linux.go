package mariadbproc

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// terminateSignal asks mariadbd for a clean shutdown.
var terminateSignal os.Signal = syscall.SIGTERM

// setDeathSignal makes the kernel kill mariadbd when its parent dies
// without stopping it (a panic, a test -timeout, a SIGKILL).
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// processGone reports whether no process pid exists.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
