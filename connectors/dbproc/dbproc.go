// Package dbproc holds the process handling that mariadbproc and pgproc
// share: starting a private database server that dies with its parent,
// waiting until it answers, stopping it gracefully and then by force, its
// log, and temporary directories that outlive a crashed owner only until
// the next sweep.
package dbproc

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of the servers' options.
const (
	DefaultStartTimeout = 60 * time.Second
	DefaultStopTimeout  = 30 * time.Second
)

// ErrPortInUse says a server could not listen on the port picked for it,
// which another process took in between; RetryPort tries another.
var ErrPortInUse = errors.New("already in use")

// ErrExited says a server exited before it answered.
var ErrExited = errors.New("exited during start-up")

// Account is a user to run a program as, by numeric ids.
type Account struct{ Uid, Gid uint32 }

// Proc is a started server process.
type Proc struct {
	cmd         *exec.Cmd
	stopSignal  os.Signal
	stopTimeout time.Duration
	log         *os.File
	exited      chan struct{} // closed once cmd has been waited for

	stopOnce sync.Once
	stopErr  error
}

// Config says how to start and stop a Proc.
type Config struct {
	// As runs the program as another user; nil keeps the caller's.
	As *Account
	// StopSignal asks the server to shut down; StopTimeout later, Kill
	// kills it.
	StopSignal  os.Signal
	StopTimeout time.Duration
	// Log, when not nil, is closed once the server has exited, or when
	// it fails to start.
	Log *os.File
}

// Start starts cmd (not made with CommandContext: the server outlives any
// context) as c.As, with the parent-death signal set, and watches for its
// exit.
func Start(cmd *exec.Cmd, c Config) (*Proc, error) {
	SetProcAttr(cmd, c.As)
	if err := cmd.Start(); err != nil {
		if c.Log != nil {
			_ = c.Log.Close()
		}
		return nil, err
	}
	p := &Proc{cmd: cmd, stopSignal: c.StopSignal, stopTimeout: c.StopTimeout, log: c.Log, exited: make(chan struct{})}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Exited is closed once the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// WaitReady waits, as the package function does, until the server of dsn
// answers through driver, and gives up early when the process exits, with
// an error wrapping ErrExited. On failure it kills the process and returns
// ErrPortInUse (wrapped, with port) when logTail() says the port was taken.
func (p *Proc) WaitReady(ctx context.Context, driver, dsn string, port int, timeout time.Duration, logTail func() string) error {
	err := waitReady(ctx, driver, dsn, timeout, p.exited)
	if err == nil {
		return nil
	}
	p.Kill()
	if strings.Contains(logTail(), "already in use") {
		return fmt.Errorf("port %d %w", port, ErrPortInUse)
	}
	return err
}

// Kill stops the process: the stop signal, then SIGKILL after the stop
// timeout. It waits for the exit and closes the log.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(p.stopSignal)
	t := time.NewTimer(p.stopTimeout)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	if p.log != nil {
		_ = p.log.Close()
	}
}

// Stop kills the process and then, when removeDir is not empty, removes
// that directory with all in it and returns that removal's error. Later
// calls return the first call's result.
func (p *Proc) Stop(removeDir string) error {
	p.stopOnce.Do(func() {
		p.Kill()
		if removeDir != "" {
			p.stopErr = os.RemoveAll(removeDir)
		}
	})
	return p.stopErr
}

// RetryPort calls launch up to three times while it fails with
// ErrPortInUse.
func RetryPort[S any](launch func() (S, error)) (S, error) {
	for attempt := 0; ; attempt++ {
		srv, err := launch()
		if err == nil || attempt == 2 || !errors.Is(err, ErrPortInUse) {
			return srv, err
		}
	}
}

// WaitReady pings the server of dsn through driver until it answers, ctx
// ends or timeout passes.
func WaitReady(ctx context.Context, driver, dsn string, timeout time.Duration) error {
	return waitReady(ctx, driver, dsn, timeout, nil)
}

// waitReady is WaitReady that also gives up when exited closes.
func waitReady(ctx context.Context, driver, dsn string, timeout time.Duration, exited <-chan struct{}) error {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(timeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err = db.PingContext(pctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited: // never when exited is nil
			return ErrExited
		default:
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server did not answer within %v: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// LogTail returns the last n lines of the log file, or, for error
// messages, why there are none: "(no " + what + ": reason)".
func LogTail(file, what string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return "(no " + what + ": " + err.Error() + ")"
	}
	return LastLines(b, n)
}

// LastLines returns the last n lines of b, trimmed.
func LastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr returns 127.0.0.1:port.
func Addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// IsExecutable reports whether p is a file that someone may execute.
func IsExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// ownerFile, in a directory made by MkdirTemp, holds the maker's pid.
const ownerFile = "owner.pid"

// MkdirTemp creates a new directory in os.TempDir() whose name starts with
// prefix, as os.MkdirTemp does, and records the calling process in it, so
// that SweepTemp can remove it once this process is gone.
func MkdirTemp(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// SweepTemp removes the directories that MkdirTemp made with prefix for
// processes that no longer run: those that died before their clean-up ran.
// It removes nothing where it cannot tell (outside Linux).
func SweepTemp(prefix string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if processGone(pid) {
			_ = os.RemoveAll(dir)
		}
	}
}
