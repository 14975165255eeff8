// Package dbproctest holds the checks that the tests of mariadbproc and
// pgproc share.
package dbproctest

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// Server is what the checks need of a mariadbproc or pgproc Server.
type Server interface {
	Addr() string
	LogTail(n int) string
	Stop() error
}

// CheckLogTail checks that srv's log has lines: LogTail(5) is neither
// empty nor noLog's "(no ... log" message.
func CheckLogTail(t *testing.T, srv Server, noLog string) {
	t.Helper()
	if tail := srv.LogTail(5); tail == "" || strings.HasPrefix(tail, noLog) {
		t.Errorf("LogTail(5) = %q", tail)
	}
}

// CheckStop stops srv twice, checks that it no longer accepts connections
// and, Stop removing nothing unless asked, that kept still exists.
func CheckStop(t *testing.T, srv Server, kept string) {
	t.Helper()
	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if c, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Stop", srv.Addr())
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("data directory gone after Stop without RemoveDir: %v", err)
	}
}

// CheckFailedStart checks the error of a Start with a bad flag, which must
// not be notInstalled and must contain each of want, and that the Start
// removed dir, as Options.RemoveDir asked.
func CheckFailedStart(t *testing.T, err, notInstalled error, dir string, want ...string) {
	t.Helper()
	if errors.Is(err, notInstalled) {
		t.Fatal(err)
	}
	ok := err != nil
	for _, w := range want {
		ok = ok && strings.Contains(err.Error(), w)
	}
	if !ok {
		t.Errorf("Start with a bad flag: %v, want the server's exit and complaint (%q)", err, want)
	}
	if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("Dir left behind after a failed Start with RemoveDir: %v", serr)
	}
}
