package main

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
	"time"

	"github.com/go-sql-driver/mysql"
)

// benchBufferPool is the InnoDB buffer pool the bench asks for: MariaDB's
// 128 MB default does not hold a 1M-row settlement table and turns the run
// into a disk benchmark.
const benchBufferPool = 1 << 30

// benchDB is the database server of one `hpgate bench`: a private mariadbd
// on a free port in a temp dir (the way connectortest starts one per test
// binary), or a server given by --mysql-dsn.
type benchDB struct {
	base  *mysql.Config // account and address, DBName = the bench database
	admin *sql.DB       // the bench database, for loading and checks

	external bool // given by --mysql-dsn: the database is dropped, the server left alone

	// Set only for a private server.
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// benchDBName is the database the bench creates on an external server.
func benchDBName() string { return "hpgate_bench_" + strconv.Itoa(os.Getpid()) }

// openBenchDB connects to the server of dsn and creates a fresh database
// for the bench.
func openBenchDB(ctx context.Context, dsn string) (*benchDB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("--mysql-dsn: %w", err)
	}
	cfg.DBName = ""
	cfg.ParseTime = false
	s := &benchDB{base: cfg, external: true}
	if err := s.connect(ctx, time.Minute); err != nil {
		return nil, fmt.Errorf("--mysql-dsn: %w", err)
	}
	return s, nil
}

// startBenchMariaDB initialises a data directory under dir and starts
// mariadbd on a free port.
func startBenchMariaDB(ctx context.Context, dir string) (*benchDB, error) {
	server, err := benchFindProgram("mariadbd", "mysqld")
	if err != nil {
		return nil, err
	}
	install, err := benchFindProgram("mariadb-install-db", "mysql_install_db")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	args := []string{
		"--no-defaults",
		"--auth-root-authentication-method=normal",
		"--datadir=" + data,
		"--skip-test-db",
		"--skip-name-resolve",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if out, err := exec.CommandContext(ctx, install, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", filepath.Base(install), err, benchLastLines(out, 10))
	}
	for attempt := 0; ; attempt++ {
		s, err := launchBenchMariaDB(ctx, server, dir, data)
		if err == nil {
			return s, nil
		}
		if attempt == 2 || !strings.Contains(err.Error(), "already in use") {
			return nil, err
		}
	}
}

func launchBenchMariaDB(ctx context.Context, server, dir, data string) (*benchDB, error) {
	port, err := benchFreePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "mariadb-error.log")
	_ = os.Remove(logPath)
	args := []string{
		"--no-defaults",
		"--datadir=" + data,
		"--port=" + strconv.Itoa(port),
		"--socket=" + filepath.Join(dir, "mysqld.sock"),
		"--pid-file=" + filepath.Join(dir, "mysqld.pid"),
		"--log-error=" + logPath,
		"--tmpdir=" + dir,
		"--bind-address=127.0.0.1",
		"--skip-name-resolve",
		"--skip-log-bin",
		// Loading speed only; reads are served from the buffer pool.
		"--innodb-log-file-size=512M",
		"--innodb-flush-log-at-trx-commit=2",
		"--innodb-doublewrite=0",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--max-allowed-packet=64M",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	cmd := exec.Command(server, args...)
	benchSetDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &benchDB{dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	s.base, err = mysql.ParseDSN("root@tcp(" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + ")/?charset=utf8mb4")
	if err != nil {
		s.stop()
		return nil, err
	}
	if err := s.connect(ctx, time.Minute); err != nil {
		s.stop()
		if strings.Contains(s.logTail(), "already in use") {
			return nil, fmt.Errorf("port %d already in use", port)
		}
		return nil, err
	}
	return s, nil
}

// connect pings the server until it answers, then creates the bench
// database and opens s.admin on it.
func (s *benchDB) connect(ctx context.Context, timeout time.Duration) error {
	cfg := s.base.Clone()
	cfg.Timeout = time.Second
	root, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer root.Close()
	deadline := time.Now().Add(timeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err = root.PingContext(pctx)
		cancel()
		if err == nil {
			break
		}
		if s.exited != nil {
			select {
			case <-s.exited:
				return fmt.Errorf("mariadbd exited during start-up: %s", s.logTail())
			default:
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server did not answer within %v: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	name := benchDBName()
	if _, err := root.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	s.base.DBName = name
	db, err := sql.Open("mysql", s.dsn())
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(4)
	s.admin = db
	return nil
}

// dsn is the bench database's go-sql-driver DSN, as hpgate and the
// baseline use it.
func (s *benchDB) dsn() string {
	cfg := s.base.Clone()
	cfg.ParseTime = false
	return cfg.FormatDSN()
}

// growBufferPool sets the buffer pool to benchBufferPool and waits for the
// server to finish resizing it. It returns the size in effect.
func (s *benchDB) growBufferPool(ctx context.Context) (int64, error) {
	var size int64
	if err := s.admin.QueryRowContext(ctx, "SELECT @@GLOBAL.innodb_buffer_pool_size").Scan(&size); err != nil {
		return 0, err
	}
	if size >= benchBufferPool {
		return size, nil
	}
	if _, err := s.admin.ExecContext(ctx, "SET GLOBAL innodb_buffer_pool_size = "+strconv.Itoa(benchBufferPool)); err != nil {
		return size, fmt.Errorf("SET GLOBAL innodb_buffer_pool_size: %w", err)
	}
	// The resize runs in the background; @@innodb_buffer_pool_size
	// shows the new size once it is done.
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if err := s.admin.QueryRowContext(ctx, "SELECT @@GLOBAL.innodb_buffer_pool_size").Scan(&size); err != nil {
			return 0, err
		}
		if size >= benchBufferPool {
			return size, nil
		}
		select {
		case <-ctx.Done():
			return size, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return size, errors.New("the buffer pool resize did not finish within 2 minutes")
}

// version returns the server's version string.
func (s *benchDB) version(ctx context.Context) string {
	var v string
	if err := s.admin.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return "unknown"
	}
	return v
}

// close drops the bench database (unless keep) and stops a private server.
func (s *benchDB) close(keep bool) error {
	var errs []error
	if s.admin != nil {
		if s.external && !keep {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+s.base.DBName+"`")
			cancel()
			errs = append(errs, err)
		}
		errs = append(errs, s.admin.Close())
	}
	s.stop()
	return errors.Join(errs...)
}

// stop shuts a private server down: SIGTERM, then SIGKILL after a while.
func (s *benchDB) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(benchTerminate)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

func (s *benchDB) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "mariadb-error.log"))
	if err != nil {
		return "(no error log: " + err.Error() + ")"
	}
	return benchLastLines(b, 15)
}

// benchFindProgram looks for the first of names in PATH and then in the
// sbin directories that a non-root PATH lacks.
func benchFindProgram(names ...string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin", "/usr/libexec"} {
		for _, n := range names {
			p := filepath.Join(dir, n)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%s not found in PATH or /usr/sbin: install MariaDB (Debian: apt-get install -y mariadb-server) or pass --mysql-dsn", names[0])
}

func benchFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func benchLastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
