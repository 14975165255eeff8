package main

import (
	"os"
	"os/exec"
	"syscall"
)

// benchSetDeathSignal makes the kernel kill a child of the bench (the
// broker, a measured run) when the bench dies first. (mariadbproc does
// the same for the database server.)
func benchSetDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// benchPeakRSS returns the peak resident set size of an exited child in
// bytes (getrusage's ru_maxrss, in KiB on Linux), or -1 when unknown.
func benchPeakRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok && ru != nil {
		return ru.Maxrss << 10
	}
	return -1
}
