package pgproc

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// ErrNotInstalled is wrapped by the error of FindProgram and Start when the
// PostgreSQL server programs are missing. Its text is the install command,
// so a caller can append its own alternative.
var ErrNotInstalled = errors.New("install PostgreSQL (Debian: apt-get install -y postgresql)")

// Defaults of Options.
const (
	DefaultStartTimeout = 60 * time.Second
	DefaultStopTimeout  = 30 * time.Second
)

// LogName is the server's log (its stderr) inside Options.Dir.
const LogName = "postgres.log"

// SystemUser is the account initdb and the server run as when the caller
// is root.
const SystemUser = "postgres"

// Options says where and how to start a server.
type Options struct {
	// Dir holds the data directory (Dir/data), the unix socket and the
	// server's log. It is created when missing. Required. When the caller
	// is root, every directory above it must be searchable by SystemUser.
	Dir string
	// ExtraArgs are appended to postgres's command line after the
	// defaults, which they override (the last of a repeated -c wins).
	ExtraArgs []string
	// StartTimeout bounds the wait for the first connection;
	// DefaultStartTimeout when zero.
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits after the fast-shutdown signal
	// before it kills the server; DefaultStopTimeout when zero.
	StopTimeout time.Duration
	// RemoveDir makes Stop, and a Start that fails, remove Dir with all
	// in it. Without it the package removes nothing.
	RemoveDir bool
}

// Server is a running private postgres.
type Server struct {
	opts   Options
	port   int
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{} // closed once cmd has been waited for

	stopOnce sync.Once
	stopErr  error
}

// runAs is the account to run initdb and postgres as: nil to stay the
// caller, else SystemUser's ids.
type runAs struct{ uid, gid uint32 }

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
	if opts.Dir == "" {
		return nil, errors.New("pgproc: Options.Dir is empty")
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
		if err := os.Chown(opts.Dir, int(as.uid), int(as.gid)); err != nil {
			return nil, fmt.Errorf("pgproc: hand %s to user %s: %w", opts.Dir, SystemUser, err)
		}
	}
	cmd := exec.CommandContext(ctx, initdb,
		"--pgdata="+filepath.Join(opts.Dir, "data"),
		"--auth=trust", "--username=postgres", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir = opts.Dir // not the caller's, which SystemUser may not enter
	setProcAttr(cmd, as)
	if out, err := cmd.CombinedOutput(); err != nil {
		hint := ""
		if as != nil && bytes.Contains(out, []byte("ermission denied")) {
			hint = fmt.Sprintf(" (as root, initdb runs as user %s, who must be able to reach %s)", SystemUser, opts.Dir)
		}
		return nil, fmt.Errorf("initdb: %w%s: %s", err, hint, lastLines(out, 10))
	}
	for attempt := 0; ; attempt++ {
		srv, err := launch(ctx, postgres, opts, as)
		if err == nil {
			return srv, nil
		}
		if attempt == 2 || !errors.Is(err, errPortInUse) {
			return nil, err
		}
	}
}

// account returns whom initdb and postgres run as: the caller, unless the
// caller is root, which PostgreSQL refuses.
func account() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if !canSwitchUser {
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
	return &runAs{uid: uint32(uid), gid: uint32(gid)}, nil
}

var errPortInUse = errors.New("already in use")

func launch(ctx context.Context, postgres string, opts Options, as *runAs) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, port: port, exited: make(chan struct{})}
	// Opened by the caller, so the log is readable even when the server
	// runs as another user.
	s.log, err = os.Create(s.LogFile())
	if err != nil {
		return nil, err
	}
	args := append(defaultArgs(opts.Dir, port), opts.ExtraArgs...)
	// Not CommandContext: the server outlives ctx.
	s.cmd = exec.Command(postgres, args...)
	s.cmd.Dir = opts.Dir
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	setProcAttr(s.cmd, as)
	if err := s.cmd.Start(); err != nil {
		_ = s.log.Close()
		return nil, err
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := waitReady(ctx, s.DSN("postgres"), opts.StartTimeout, s.exited); err != nil {
		s.kill()
		tail := s.LogTail(15)
		if strings.Contains(tail, "already in use") {
			return nil, fmt.Errorf("port %d %w", port, errPortInUse)
		}
		if errors.Is(err, errExited) {
			return nil, fmt.Errorf("postgres %w: %s", err, tail)
		}
		return nil, fmt.Errorf("%w: %s", err, tail)
	}
	return s, nil
}

var errExited = errors.New("exited during start-up")

// WaitReady pings the server of dsn (a pgx DSN) until it answers, ctx ends
// or timeout passes. It is for servers that others started.
func WaitReady(ctx context.Context, dsn string, timeout time.Duration) error {
	return waitReady(ctx, dsn, timeout, nil)
}

// waitReady is WaitReady that also gives up when exited closes.
func waitReady(ctx context.Context, dsn string, timeout time.Duration, exited <-chan struct{}) error {
	db, err := sql.Open("pgx", dsn)
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

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.port }

// Dir returns Options.Dir.
func (s *Server) Dir() string { return s.opts.Dir }

// LogFile returns the path of the server's log.
func (s *Server) LogFile() string { return filepath.Join(s.opts.Dir, LogName) }

// LogTail returns the last n lines of the server's log, or why there are
// none, for error messages.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.LogFile())
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	return lastLines(b, n)
}

// Stop shuts the server down (a fast shutdown, then SIGKILL after
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

// kill stops the process: a fast shutdown, then SIGKILL after StopTimeout.
func (s *Server) kill() {
	_ = s.cmd.Process.Signal(shutdownSignal)
	t := time.NewTimer(s.opts.StopTimeout)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	_ = s.log.Close()
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
		if p := filepath.Join(dir, name); isExecutable(p) {
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
	if p := filepath.Join(dir, "postgres"); isExecutable(p) {
		return initdb, p, nil
	}
	postgres, err = FindProgram("postgres")
	return initdb, postgres, err
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
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
