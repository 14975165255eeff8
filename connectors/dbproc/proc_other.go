//go:build !linux

package dbproc

import (
	"os"
	"os/exec"
)

// Terminate asks a server for a clean shutdown.
var Terminate = os.Interrupt

// CanSwitchUser is false: SetProcAttr cannot switch users outside Linux.
const CanSwitchUser = false

// SetProcAttr is Linux-only: elsewhere a server whose parent died without
// stopping it runs on, and no other user can be had.
func SetProcAttr(*exec.Cmd, *Account) {}

// processGone cannot tell outside Linux, so SweepTemp keeps everything.
func processGone(int) bool { return false }
