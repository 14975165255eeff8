package mariadbproc

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

	"github.com/go-sql-driver/mysql"
)

// ErrNotInstalled is wrapped by the error of FindProgram and Start when the
// MariaDB programs are missing. Its text is the install command, so a caller
// can append its own alternative:
//
//	if errors.Is(err, mariadbproc.ErrNotInstalled) {
//		err = fmt.Errorf("%w or pass --mysql-dsn", err)
//	}
var ErrNotInstalled = errors.New("install MariaDB (Debian: apt-get install -y mariadb-server)")

// Defaults of Options.
const (
	DefaultStartTimeout = 60 * time.Second
	DefaultStopTimeout  = 30 * time.Second
)

// LogName is the server's error log inside Options.Dir.
const LogName = "mariadb-error.log"

// Options says where and how to start a server.
type Options struct {
	// Dir holds the data directory (Dir/data), the socket, the pid file,
	// the error log and the server's temporary files. It is created when
	// missing. Required.
	Dir string
	// ExtraArgs are appended to mariadbd's command line after the
	// defaults, which they override (the last of a repeated flag wins).
	ExtraArgs []string
	// InstallArgs are appended to mariadb-install-db's command line, for
	// settings fixed when the data directory is made.
	InstallArgs []string
	// StartTimeout bounds the wait for the first connection;
	// DefaultStartTimeout when zero.
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before it kills
	// the server; DefaultStopTimeout when zero.
	StopTimeout time.Duration
	// RemoveDir makes Stop, and a Start that fails, remove Dir with all
	// in it. Without it the package removes nothing.
	RemoveDir bool
}

// Server is a running private mariadbd.
type Server struct {
	opts   Options
	port   int
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for

	stopOnce sync.Once
	stopErr  error
}

// defaultArgs are mariadbd's flags before Options.ExtraArgs: everything
// that places the server in dir and on port, and settings for fast,
// throw-away data.
func defaultArgs(dir string, port int) []string {
	return []string{
		"--no-defaults",
		"--datadir=" + filepath.Join(dir, "data"),
		"--port=" + strconv.Itoa(port),
		"--socket=" + filepath.Join(dir, "mysqld.sock"),
		"--pid-file=" + filepath.Join(dir, "mysqld.pid"),
		"--log-error=" + filepath.Join(dir, LogName),
		"--tmpdir=" + dir,
		"--bind-address=127.0.0.1",
		"--skip-name-resolve",
		"--skip-log-bin",
		"--innodb-flush-log-at-trx-commit=2",
		"--innodb-doublewrite=0",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--max-allowed-packet=64M",
	}
}

// Start initialises a data directory in opts.Dir and starts mariadbd on a
// free port, retrying with another port when the one picked was taken in
// between. It returns once the server accepts connections. ctx bounds the
// initialisation and the wait, not the server's life: that ends with Stop
// or with the calling process.
func Start(ctx context.Context, opts Options) (srv *Server, err error) {
	if opts.Dir == "" {
		return nil, errors.New("mariadbproc: Options.Dir is empty")
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	if opts.RemoveDir {
		defer func() {
			if err != nil {
				_ = os.RemoveAll(opts.Dir)
			}
		}()
	}
	server, err := FindProgram("mariadbd", "mysqld")
	if err != nil {
		return nil, err
	}
	install, err := FindProgram("mariadb-install-db", "mysql_install_db")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	args := []string{
		"--no-defaults",
		"--auth-root-authentication-method=normal",
		"--datadir=" + filepath.Join(opts.Dir, "data"),
		"--skip-test-db",
		"--skip-name-resolve",
	}
	args = append(args, opts.InstallArgs...)
	args = appendUser(args)
	if out, err := exec.CommandContext(ctx, install, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", filepath.Base(install), err, lastLines(out, 10))
	}
	for attempt := 0; ; attempt++ {
		srv, err := launch(ctx, server, opts)
		if err == nil {
			return srv, nil
		}
		if attempt == 2 || !errors.Is(err, errPortInUse) {
			return nil, err
		}
	}
}

var errPortInUse = errors.New("already in use")

func launch(ctx context.Context, server string, opts Options) (*Server, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, port: port, exited: make(chan struct{})}
	_ = os.Remove(s.LogFile())
	args := appendUser(defaultArgs(opts.Dir, port))
	args = append(args, opts.ExtraArgs...)
	// Not CommandContext: the server outlives ctx.
	s.cmd = exec.Command(server, args...)
	setDeathSignal(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := waitReady(ctx, s.DSN(""), opts.StartTimeout, s.exited); err != nil {
		s.kill()
		if strings.Contains(s.LogTail(15), "already in use") {
			return nil, fmt.Errorf("port %d %w", port, errPortInUse)
		}
		if errors.Is(err, errExited) {
			return nil, fmt.Errorf("%s %w: %s", filepath.Base(server), err, s.LogTail(15))
		}
		return nil, err
	}
	return s, nil
}

// appendUser lets mariadbd run as root, which it refuses unless told.
func appendUser(args []string) []string {
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	return args
}

var errExited = errors.New("exited during start-up")

// WaitReady pings the server of dsn (a go-sql-driver DSN) until it answers,
// ctx ends or timeout passes. It is for servers that others started.
func WaitReady(ctx context.Context, dsn string, timeout time.Duration) error {
	return waitReady(ctx, dsn, timeout, nil)
}

// waitReady is WaitReady that also gives up when exited closes.
func waitReady(ctx context.Context, dsn string, timeout time.Duration, exited <-chan struct{}) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return err
	}
	cfg.Timeout = time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
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
			return errExited
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

// DSN returns the go-sql-driver DSN of database (none when empty) on the
// server, as root with charset utf8mb4 and parseTime off, so DATETIME and
// text columns scan as []byte.
func (s *Server) DSN(database string) string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = s.Addr()
	cfg.DBName = database
	cfg.ParseTime = false
	if err := cfg.Apply(mysql.Charset("utf8mb4", "")); err != nil {
		panic(err) // a constant option: cannot fail
	}
	return cfg.FormatDSN()
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.port }

// Dir returns Options.Dir.
func (s *Server) Dir() string { return s.opts.Dir }

// LogFile returns the path of the server's error log.
func (s *Server) LogFile() string { return filepath.Join(s.opts.Dir, LogName) }

// LogTail returns the last n lines of the server's error log, or why there
// are none, for error messages.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.LogFile())
	if err != nil {
		return "(no error log: " + err.Error() + ")"
	}
	return lastLines(b, n)
}

// Stop shuts the server down (SIGTERM, then SIGKILL after
// Options.StopTimeout) and waits for it to exit; with Options.RemoveDir it
// then removes the directory, and returns that removal's error. Later calls
// return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.kill()
		if s.opts.RemoveDir {
			s.stopErr = os.RemoveAll(s.opts.Dir)
		}
	})
	return s.stopErr
}

// kill stops the process: SIGTERM, then SIGKILL after StopTimeout.
func (s *Server) kill() {
	_ = s.cmd.Process.Signal(terminateSignal)
	t := time.NewTimer(s.opts.StopTimeout)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// FindProgram looks for the first of names in PATH, then in the sbin
// directories that a non-root PATH lacks. Its error wraps ErrNotInstalled.
func FindProgram(names ...string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/mysql/bin", "/usr/libexec"} {
		for _, n := range names {
			p := filepath.Join(dir, n)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%s not found in PATH or /usr/sbin: %w", names[0], ErrNotInstalled)
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

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
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
