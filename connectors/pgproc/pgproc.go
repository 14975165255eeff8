package pgproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/hpgate/hpgate/connectors/dbproc"
)

// ErrNotInstalled is wrapped by the error of FindProgram and Start when the
// PostgreSQL server programs are missing. Its text is the install command,
// so a caller can append its own alternative.
var ErrNotInstalled = errors.New("install PostgreSQL (Debian: apt-get install -y postgresql)")

// Defaults of Options.
const (
	DefaultStartTimeout = dbproc.DefaultStartTimeout
	DefaultStopTimeout  = dbproc.DefaultStopTimeout
)

// LogName is the server's log (its stderr) inside Options.Dir.
const LogName = "postgres.log"

// SystemUser is the account initdb and the server run as when the caller
// is root.
const SystemUser = "postgres"

// Options says where and how to start a server; see dbproc.Options.
type Options = dbproc.Options

// Server is a running private postgres.
type Server struct {
	*server
}

// server is dbproc.Server, embedded under an unexported name: it gives
// Server Addr, Port, Dir, LogFile, LogTail and Stop.
type server = dbproc.Server

// defaultArgs are postgres's flags before Options.ExtraArgs: everything
// that places the server in dir and on port, and settings for fast,
// throw-away data.
func defaultArgs(dir string, port int) []string {
	return []string{
		"-D", filepath.Join(dir, "data"),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=" + dir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "logging_collector=off",
	}
}

// Start initialises a data directory in opts.Dir and starts postgres on a
// free port, retrying with another port when the one picked was taken in
// between. It returns once the server accepts connections. ctx bounds the
// initialisation and the wait, not the server's life: that ends with Stop
// or with the calling process.
func Start(ctx context.Context, opts Options) (srv *Server, err error) {
	if err := opts.Prepare("pgproc"); err != nil {
		return nil, err
	}
	defer dbproc.RemoveOnError(&err, opts.Dir, opts.RemoveDir)
	initdb, postgres, err := findPrograms()
	if err != nil {
		return nil, err
	}
	as, err := account()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	if as != nil {
		if err := os.Chown(opts.Dir, int(as.Uid), int(as.Gid)); err != nil {
			return nil, fmt.Errorf("pgproc: hand %s to user %s: %w", opts.Dir, SystemUser, err)
		}
	}
	initArgs := append([]string{"--pgdata=" + filepath.Join(opts.Dir, "data"),
		"--auth=trust", "--username=postgres", "-E", "UTF8", "--locale=C", "--no-sync"}, opts.InitArgs...)
	cmd := exec.CommandContext(ctx, initdb, initArgs...)
	cmd.Dir = opts.Dir // not the caller's, which SystemUser may not enter
	dbproc.SetProcAttr(cmd, as)
	if out, err := cmd.CombinedOutput(); err != nil {
		hint := ""
		if as != nil && bytes.Contains(out, []byte("ermission denied")) {
			hint = fmt.Sprintf(" (as root, initdb runs as user %s, who must be able to reach %s)", SystemUser, opts.Dir)
		}
		return nil, fmt.Errorf("initdb: %w%s: %s", err, hint, dbproc.LastLines(out, 10))
	}
	return dbproc.RetryPort(func() (*Server, error) { return launch(ctx, postgres, opts, as) })
}

// account returns whom initdb and postgres run as: the caller (nil),
// unless the caller is root, which PostgreSQL refuses: then SystemUser.
func account() (*dbproc.Account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if !dbproc.CanSwitchUser {
		return nil, errors.New("pgproc: PostgreSQL refuses to run as root, and switching users is supported on Linux only")
	}
	u, err := user.Lookup(SystemUser)
	if err != nil {
		return nil, fmt.Errorf("pgproc: PostgreSQL refuses to run as root and there is no user %q to run it as "+
			"(Debian's postgresql package creates it: apt-get install -y postgresql): %w", SystemUser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgproc: user %s: %w", SystemUser, err)
	}
	return &dbproc.Account{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func launch(ctx context.Context, postgres string, opts Options, as *dbproc.Account) (*Server, error) {
	port, err := dbproc.FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{dbproc.NewServer(opts.Dir, port, LogName, "server log", opts.RemoveDir)}
	// Opened by the caller, so the log is readable even when the server
	// runs as another user.
	log, err := os.Create(s.LogFile())
	if err != nil {
		return nil, err
	}
	args := append(defaultArgs(opts.Dir, port), opts.ExtraArgs...)
	cmd := exec.Command(postgres, args...)
	cmd.Dir = opts.Dir
	cmd.Stdout = log
	cmd.Stderr = log
	err = dbproc.Launch(ctx, s.server, cmd, dbproc.Config{
		As: as,
		// A fast shutdown: it disconnects clients rather than wait for
		// them (SIGTERM's smart shutdown would).
		StopSignal:  os.Interrupt,
		StopTimeout: opts.StopTimeout,
		Log:         log,
	}, "pgx", s.DSN("postgres"), opts.StartTimeout)
	switch {
	case err == nil:
	case errors.Is(err, dbproc.ErrPortInUse):
		return nil, err
	case errors.Is(err, dbproc.ErrExited):
		return nil, fmt.Errorf("postgres %w: %s", err, s.LogTail(15))
	default:
		return nil, fmt.Errorf("%w: %s", err, s.LogTail(15))
	}
	return s, nil
}

// WaitReady pings the server of dsn (a pgx DSN) until it answers, ctx ends
// or timeout passes. It is for servers that others started.
func WaitReady(ctx context.Context, dsn string, timeout time.Duration) error {
	return dbproc.WaitReady(ctx, "pgx", dsn, timeout)
}

// DSN returns the pgx URL of database on the server, as the superuser
// postgres over TCP without TLS:
// postgres://postgres@127.0.0.1:PORT/DATABASE?sslmode=disable.
func (s *Server) DSN(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     s.Addr(),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// libDirs are where distributions install PostgreSQL's server programs
// outside PATH; the newest version comes first.
func libDirs() []string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.SliceStable(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	return dirs
}

// FindProgram looks for name (initdb, postgres, pg_ctl...) in PATH, then in
// the newest /usr/lib/postgresql/*/bin. Its error wraps ErrNotInstalled.
func FindProgram(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range libDirs() {
		if p := filepath.Join(dir, name); dbproc.IsExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or /usr/lib/postgresql/*/bin: %w", name, ErrNotInstalled)
}

// findPrograms returns initdb and the postgres of the same installation.
func findPrograms() (initdb, postgres string, err error) {
	initdb, err = FindProgram("initdb")
	if err != nil {
		return "", "", err
	}
	// initdb in PATH is often a symlink into the installation's bin.
	dir := filepath.Dir(initdb)
	if real, err := filepath.EvalSymlinks(initdb); err == nil {
		dir = filepath.Dir(real)
	}
	if p := filepath.Join(dir, "postgres"); dbproc.IsExecutable(p) {
		return initdb, p, nil
	}
	postgres, err = FindProgram("postgres")
	return initdb, postgres, err
}
