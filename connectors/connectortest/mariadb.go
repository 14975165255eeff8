package connectortest

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// EnvMySQLDSN names the environment variable that points the kit at an
// existing MySQL or MariaDB server instead of a private one. Its value is a
// go-sql-driver DSN; the database name in it is ignored.
const EnvMySQLDSN = "HPGATE_TEST_MYSQL_DSN"

// installHint is how the project's test script gets a server.
const installHint = "install MariaDB (Debian: apt-get install -y mariadb-server) or set " + EnvMySQLDSN

// Timeouts of the private server's lifecycle.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second
	ddlTimeout   = 30 * time.Second
)

// mariaServer is the one server of this test binary.
type mariaServer struct {
	base  *mysql.Config // account and address; DBName empty
	admin *sql.DB       // for CREATE/DROP DATABASE

	// Set only for a private server.
	dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

var (
	mariaOnce sync.Once
	maria     *mariaServer
	mariaErr  error
	mariaMu   sync.Mutex // guards maria during stop
	dbSeq     atomic.Int64
)

// MariaDB returns a fresh, empty database on the test binary's MariaDB
// server, as an open *sql.DB and its go-sql-driver DSN (charset utf8mb4,
// parseTime=false, so DATETIME and text columns scan as []byte). The
// database is dropped and db closed by t.Cleanup. The first call starts the
// server, which takes a few seconds; later calls take milliseconds.
//
// MariaDB calls t.Fatal when no server can be had, naming the install
// command when mariadbd is missing.
func MariaDB(t testing.TB) (db *sql.DB, dsn string) {
	t.Helper()
	s, err := mariaDBServer()
	if err != nil {
		t.Fatalf("connectortest: MariaDB: %v", err)
	}
	name := databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), ddlTimeout)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"); err != nil {
		t.Fatalf("connectortest: create database %s: %v", name, err)
	}
	cfg := s.base.Clone()
	cfg.DBName = name
	cfg.ParseTime = false
	dsn = cfg.FormatDSN()
	db, err = sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("connectortest: open %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), ddlTimeout)
		defer cancel()
		if _, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("connectortest: drop database %s: %v", name, err)
		}
	})
	return db, dsn
}

// databaseName returns a unique, valid MySQL database name (at most 64
// characters) that still says which test made it.
func databaseName(test string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "hpt_%d_%d_", os.Getpid(), dbSeq.Add(1))
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 64 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// RunMain runs the tests of m, then stops the servers the kit started, and
// returns the exit code for os.Exit:
//
//	func TestMain(m *testing.M) { os.Exit(connectortest.RunMain(m)) }
func RunMain(m *testing.M) int { return WrapMain(m).Run() }

// WrapMain returns m with a Run method that also stops the servers the kit
// started, for wrappers that take an m, such as goleak.VerifyTestMain, which
// must see the server's goroutines gone.
func WrapMain(m *testing.M) interface{ Run() int } { return mainRunner{m} }

type mainRunner struct{ m *testing.M }

func (r mainRunner) Run() int {
	code := r.m.Run()
	if err := stopMariaDB(); err != nil {
		fmt.Fprintf(os.Stderr, "connectortest: stop MariaDB: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// mariaDBServer starts the binary's server on first use.
func mariaDBServer() (*mariaServer, error) {
	mariaOnce.Do(func() {
		var s *mariaServer
		if dsn := os.Getenv(EnvMySQLDSN); dsn != "" {
			s, mariaErr = externalServer(dsn)
		} else {
			s, mariaErr = startPrivateServer()
		}
		mariaMu.Lock()
		maria = s
		mariaMu.Unlock()
	})
	if mariaErr != nil {
		return nil, mariaErr
	}
	mariaMu.Lock()
	defer mariaMu.Unlock()
	if maria == nil {
		return nil, errors.New("server already stopped (MariaDB called after TestMain returned)")
	}
	return maria, nil
}

func externalServer(dsn string) (*mariaServer, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvMySQLDSN, err)
	}
	cfg.DBName = ""
	cfg.ParseTime = false
	if err := cfg.Apply(mysql.Charset("utf8mb4", "")); err != nil {
		return nil, err
	}
	s := &mariaServer{base: cfg}
	if err := s.connectAdmin(startTimeout); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvMySQLDSN, err)
	}
	return s, nil
}

// connectAdmin opens the admin pool and pings until the server answers, the
// server process exits or the timeout passes.
func (s *mariaServer) connectAdmin(timeout time.Duration) error {
	cfg := s.base.Clone()
	cfg.Timeout = time.Second
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	admin.SetMaxOpenConns(4)
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = admin.PingContext(ctx)
		cancel()
		if err == nil {
			s.admin = admin
			return nil
		}
		if s.exited != nil {
			select {
			case <-s.exited:
				_ = admin.Close()
				return fmt.Errorf("mariadbd exited during start-up: %s", s.logTail())
			default:
			}
		}
		if time.Now().After(deadline) {
			_ = admin.Close()
			return fmt.Errorf("server did not answer within %v: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// findProgram looks for the first of names in PATH and then in the sbin
// directories that a non-root PATH lacks.
func findProgram(names ...string) (string, error) {
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
	return "", fmt.Errorf("%s not found in PATH or /usr/sbin: %s", names[0], installHint)
}

// startPrivateServer initialises a data directory and starts mariadbd on a
// free port, retrying with another port when the one picked was taken in
// between.
func startPrivateServer() (*mariaServer, error) {
	server, err := findProgram("mariadbd", "mysqld")
	if err != nil {
		return nil, err
	}
	install, err := findProgram("mariadb-install-db", "mysql_install_db")
	if err != nil {
		return nil, err
	}
	sweepStaleDirs()
	dir, err := os.MkdirTemp("", tempDirPrefix)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	args := []string{
		"--no-defaults",
		"--auth-root-authentication-method=normal",
		"--datadir=" + data,
		"--skip-test-db",
		"--skip-name-resolve",
		"--innodb-log-file-size=8M",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	out, err := exec.Command(install, args...).CombinedOutput()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: %w: %s", filepath.Base(install), err, lastLines(out, 10))
	}
	for attempt := 0; ; attempt++ {
		s, err := launch(server, dir, data)
		if err == nil {
			return s, nil
		}
		if attempt == 2 || !strings.Contains(err.Error(), "already in use") {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
}

func launch(server, dir, data string) (*mariaServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "error.log")
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
		"--innodb-buffer-pool-size=256M",
		"--innodb-log-file-size=8M",
		"--innodb-flush-log-at-trx-commit=2",
		"--innodb-doublewrite=0",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--max-connections=500",
		"--max-allowed-packet=64M",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	cmd := exec.Command(server, args...)
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &mariaServer{dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	s.base, err = mysql.ParseDSN("root@tcp(" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + ")/?charset=utf8mb4&parseTime=false")
	if err != nil {
		s.kill()
		return nil, err
	}
	if err := s.connectAdmin(startTimeout); err != nil {
		s.kill()
		if strings.Contains(s.logTail(), "already in use") {
			return nil, fmt.Errorf("port %d already in use", port)
		}
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the end of the server's error log, for start-up errors.
func (s *mariaServer) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "error.log"))
	if err != nil {
		return "(no error log: " + err.Error() + ")"
	}
	return lastLines(b, 15)
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// kill stops the private server: SIGTERM, then SIGKILL after stopTimeout.
// Its data is thrown away, so a clean shutdown is a courtesy.
func (s *mariaServer) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(terminateSignal)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// stopMariaDB closes the admin pool and stops and removes a private server.
func stopMariaDB() error {
	mariaMu.Lock()
	s := maria
	maria = nil
	mariaMu.Unlock()
	if s == nil {
		return nil
	}
	var errs []error
	if s.admin != nil {
		errs = append(errs, s.admin.Close())
	}
	if s.cmd != nil {
		s.kill()
		errs = append(errs, os.RemoveAll(s.dir))
	}
	return errors.Join(errs...)
}
