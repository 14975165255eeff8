//go:build !linux

package main

import (
	"os"
	"os/exec"
)

// benchSetDeathSignal is Linux-only: elsewhere a child of a bench that
// dies notices when its stdin closes.
func benchSetDeathSignal(*exec.Cmd) {}

// benchPeakRSS is measured on Linux only.
func benchPeakRSS(*os.ProcessState) int64 { return -1 }
