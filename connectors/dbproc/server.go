package dbproc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Server is what a private server of mariadbproc or pgproc is beyond its
// DSN: where it lives, its port, its log and its process. They embed it.
type Server struct {
	dir       string
	port      int
	logFile   string
	logWhat   string // the log in messages: "error log"
	removeDir bool
	proc      *Proc
}

// NewServer returns a Server, not yet started, in dir on port whose log is
// dir/logName, named logWhat in LogTail's messages. With removeDir, Stop
// removes dir.
func NewServer(dir string, port int, logName, logWhat string, removeDir bool) *Server {
	return &Server{dir: dir, port: port, logFile: filepath.Join(dir, logName), logWhat: logWhat, removeDir: removeDir}
}

// Launch starts cmd as Start does, as the process of s, and waits, as
// Proc.WaitReady does, until the server of dsn answers through driver. On
// failure the process is gone. It is a function, not a method, so that
// Launch is not among the methods of the servers that embed Server.
func Launch(ctx context.Context, s *Server, cmd *exec.Cmd, c Config, driver, dsn string, timeout time.Duration) error {
	p, err := Start(cmd, c)
	if err != nil {
		return err
	}
	s.proc = p
	return p.WaitReady(ctx, driver, dsn, s.port, timeout, func() string { return s.LogTail(15) })
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return Addr(s.port) }

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.port }

// Dir returns Options.Dir.
func (s *Server) Dir() string { return s.dir }

// LogFile returns the path of the server's log.
func (s *Server) LogFile() string { return s.logFile }

// LogTail returns the last n lines of the server's log, or why there are
// none, for error messages.
func (s *Server) LogTail(n int) string { return LogTail(s.logFile, s.logWhat, n) }

// Stop shuts the server down (its stop signal, then SIGKILL after
// Options.StopTimeout) and waits for it to exit; with Options.RemoveDir it
// then removes the directory, and returns that removal's error. Later calls
// return the first call's result.
func (s *Server) Stop() error {
	if s.removeDir {
		return s.proc.Stop(s.dir)
	}
	return s.proc.Stop("")
}

// Options says where and how to start a private server (mariadbproc and
// pgproc use it as theirs).
type Options struct {
	// Dir holds the data directory (Dir/data), the socket, the server's log
	// and its temporary files. It is created when missing. Required. For
	// a server run as another user (PostgreSQL as root), every directory
	// above it must be searchable by that user.
	Dir string
	// ExtraArgs are appended to the server's command line after the
	// defaults, which they override (the last of a repeated flag wins).
	ExtraArgs []string
	// InitArgs are appended to the command that makes the data directory
	// (mariadb-install-db, initdb), for settings fixed at that point.
	InitArgs []string
	// StartTimeout bounds the wait for the first connection;
	// DefaultStartTimeout when zero.
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits after the stop signal before it
	// kills the server; DefaultStopTimeout when zero.
	StopTimeout time.Duration
	// RemoveDir makes Stop, and a Start that fails, remove Dir with all
	// in it. Without it nothing is removed.
	RemoveDir bool
}

// Prepare checks the options (pkg names the package in the error) and
// gives zero timeouts their defaults.
func (o *Options) Prepare(pkg string) error {
	if o.Dir == "" {
		return errors.New(pkg + ": Options.Dir is empty")
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	return nil
}

// RemoveOnError removes dir when remove is set and *err is not nil, for a
// deferred call in a Start with Options.RemoveDir.
func RemoveOnError(err *error, dir string, remove bool) {
	if remove && *err != nil {
		_ = os.RemoveAll(dir)
	}
}
