package connectortest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// terminateSignal asks mariadbd for a clean shutdown.
var terminateSignal os.Signal = syscall.SIGTERM

const (
	tempDirPrefix = "hpgate-mariadb-"
	ownerFile     = "owner.pid"
)

// setDeathSignal makes the kernel kill mariadbd when the test binary dies
// without running TestMain's clean-up (a panic, a -timeout, a SIGKILL).
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// sweepStaleDirs removes data directories left by test binaries that died
// before their clean-up ran (each holds about 40 MB).
func sweepStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempDirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			_ = os.RemoveAll(dir)
		}
	}
}
