//go:build !linux

package mariadbproc

import (
	"os"
	"os/exec"
)

// terminateSignal asks mariadbd for a clean shutdown.
var terminateSignal = os.Interrupt

// setDeathSignal is Linux-only: elsewhere a server whose parent died
// without stopping it runs on.
func setDeathSignal(*exec.Cmd) {}

// processGone cannot tell outside Linux, so SweepTemp keeps everything.
func processGone(int) bool { return false }
