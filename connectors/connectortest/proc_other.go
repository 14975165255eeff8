//go:build !linux

package connectortest

import (
	"os"
	"os/exec"
)

var terminateSignal os.Signal = os.Interrupt

const (
	tempDirPrefix = "hpgate-mariadb-"
	ownerFile     = "owner.pid"
)

func setDeathSignal(*exec.Cmd) {}

func sweepStaleDirs() {}
