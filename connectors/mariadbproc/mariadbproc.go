package mariadbproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/hpgate/hpgate/connectors/dbproc"
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
	DefaultStartTimeout = dbproc.DefaultStartTimeout
	DefaultStopTimeout  = dbproc.DefaultStopTimeout
)

// LogName is the server's error log inside Options.Dir.
const LogName = "mariadb-error.log"

// Options says where and how to start a server; see dbproc.Options.
type Options = dbproc.Options

// Server is a running private mariadbd.
type Server struct {
	*server
}

// server is dbproc.Server, embedded under an unexported name: it gives
// Server Addr, Port, Dir, LogFile, LogTail and Stop.
type server = dbproc.Server

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
	if err := opts.Prepare("mariadbproc"); err != nil {
		return nil, err
	}
	defer dbproc.RemoveOnError(&err, opts.Dir, opts.RemoveDir)
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
	args = append(args, opts.InitArgs...)
	args = appendUser(args)
	if out, err := exec.CommandContext(ctx, install, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", filepath.Base(install), err, dbproc.LastLines(out, 10))
	}
	return dbproc.RetryPort(func() (*Server, error) { return launch(ctx, server, opts) })
}

func launch(ctx context.Context, server string, opts Options) (*Server, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{dbproc.NewServer(opts.Dir, port, LogName, "error log", opts.RemoveDir)}
	_ = os.Remove(s.LogFile())
	args := appendUser(defaultArgs(opts.Dir, port))
	args = append(args, opts.ExtraArgs...)
	ping, err := pingDSN(s.DSN(""))
	if err != nil {
		return nil, err
	}
	err = dbproc.Launch(ctx, s.server, exec.Command(server, args...), dbproc.Config{
		StopSignal:  dbproc.Terminate,
		StopTimeout: opts.StopTimeout,
	}, "mysql", ping, opts.StartTimeout)
	if errors.Is(err, dbproc.ErrExited) {
		return nil, fmt.Errorf("%s %w: %s", filepath.Base(server), err, s.LogTail(15))
	}
	if err != nil {
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

// WaitReady pings the server of dsn (a go-sql-driver DSN) until it answers,
// ctx ends or timeout passes. It is for servers that others started.
func WaitReady(ctx context.Context, dsn string, timeout time.Duration) error {
	ping, err := pingDSN(dsn)
	if err != nil {
		return err
	}
	return dbproc.WaitReady(ctx, "mysql", ping, timeout)
}

// pingDSN is dsn with a one-second dial timeout, for pings.
func pingDSN(dsn string) (string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	cfg.Timeout = time.Second
	return cfg.FormatDSN(), nil
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
			if p := filepath.Join(dir, n); dbproc.IsExecutable(p) {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%s not found in PATH or /usr/sbin: %w", names[0], ErrNotInstalled)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) { return dbproc.FreePort() }

// MkdirTemp creates a new directory in os.TempDir() whose name starts with
// prefix, as os.MkdirTemp does, and records the calling process in it, so
// that SweepTemp can remove it once this process is gone.
func MkdirTemp(prefix string) (string, error) { return dbproc.MkdirTemp(prefix) }

// SweepTemp removes the directories that MkdirTemp made with prefix for
// processes that no longer run: those that died before their clean-up ran.
// It removes nothing where it cannot tell (outside Linux).
func SweepTemp(prefix string) { dbproc.SweepTemp(prefix) }
