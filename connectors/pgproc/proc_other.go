//go:build !linux

package pgproc

import (
	"os"
	"os/exec"
)

// shutdownSignal asks postgres for a fast shutdown.
var shutdownSignal = os.Interrupt

// canSwitchUser is false: root callers are refused outside Linux.
const canSwitchUser = false

// setProcAttr is Linux-only: elsewhere a server whose parent died without
// stopping it runs on, and account refuses root.
func setProcAttr(*exec.Cmd, *runAs) {}
