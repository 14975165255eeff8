//go:build !linux

package main

import (
	"os"
	"os/exec"
)

// benchTerminate asks a child of the bench to stop cleanly.
var benchTerminate = os.Interrupt

// benchSetDeathSignal is Linux-only: elsewhere a child of a bench that
// dies notices when its stdin closes.
func benchSetDeathSignal(*exec.Cmd) {}

// benchPeakRSS is measured on Linux only.
func benchPeakRSS(*os.ProcessState) int64 { return -1 }
