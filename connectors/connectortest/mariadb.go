package connectortest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/hpgate/hpgate/connectors/mariadbproc"
)

// EnvMySQLDSN names the environment variable that points the kit at an
// existing MySQL or MariaDB server instead of a private one. Its value is a
// go-sql-driver DSN; the database name in it is ignored.
const EnvMySQLDSN = "HPGATE_TEST_MYSQL_DSN"

// Timeouts of the private server's lifecycle.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second
	ddlTimeout   = 30 * time.Second
)

// tempDirPrefix names the private server's temporary directories, so that
// a later binary can sweep those whose binary died before its clean-up ran
// (each holds about 40 MB).
const tempDirPrefix = "hpgate-mariadb-"

// mariaServer is the one MariaDB server of this test binary.
type mariaServer struct {
	dbServer
	base *mysql.Config // account and address; DBName empty
}

var (
	maria = lazyServer[*mariaServer]{
		name:     "MariaDB",
		env:      EnvMySQLDSN,
		external: externalServer,
		private:  startPrivateServer,
	}
	dbSeq atomic.Int64
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
	s, err := maria.get()
	if err != nil {
		t.Fatalf("connectortest: MariaDB: %v", err)
	}
	name := databaseName(t.Name())
	cfg := s.base.Clone()
	cfg.DBName = name
	cfg.ParseTime = false
	dsn = cfg.FormatDSN()
	db = freshDatabase(t, s.admin, name,
		"CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
		"DROP DATABASE IF EXISTS `"+name+"`",
		"mysql", dsn)
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
	for _, stop := range []struct {
		name string
		fn   func() error
	}{{"MariaDB", maria.stop}, {"PostgreSQL", pg.stop}} {
		if err := stop.fn(); err != nil {
			fmt.Fprintf(os.Stderr, "connectortest: stop %s: %v\n", stop.name, err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
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
	if err := s.connectAdmin(); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvMySQLDSN, err)
	}
	return s, nil
}

// connectAdmin waits until the server answers and opens the admin pool.
func (s *mariaServer) connectAdmin() error {
	cfg := s.base.Clone()
	cfg.Timeout = time.Second
	return s.dbServer.connectAdmin("mysql", cfg.FormatDSN(), mariadbproc.WaitReady)
}

// startPrivateServer starts mariadbd in a new temporary directory, which
// maria.stop removes, after removing those of dead test binaries.
func startPrivateServer() (*mariaServer, error) {
	dir, err := privateDir(tempDirPrefix)
	if err != nil {
		return nil, err
	}
	// mariadbproc's defaults make the server fast and throw-away; these
	// size it for many small databases and parallel tests.
	proc, err := mariadbproc.Start(context.Background(), mariadbproc.Options{
		Dir:      dir,
		InitArgs: []string{"--innodb-log-file-size=8M"},
		ExtraArgs: []string{
			"--innodb-buffer-pool-size=256M",
			"--innodb-log-file-size=8M",
			"--max-connections=500",
		},
		StartTimeout: startTimeout,
		StopTimeout:  stopTimeout, // the data is thrown away: a clean shutdown is a courtesy
		RemoveDir:    true,
	})
	if err != nil {
		return nil, withInstallHint(err)
	}
	base, err := mysql.ParseDSN(proc.DSN(""))
	if err != nil {
		_ = proc.Stop()
		return nil, err
	}
	s := &mariaServer{dbServer: dbServer{proc: proc}, base: base}
	if err := s.connectAdmin(); err != nil {
		_ = proc.Stop()
		return nil, err
	}
	return s, nil
}

// withInstallHint adds the kit's alternative to the install command that a
// missing-mariadbd error names.
func withInstallHint(err error) error {
	if errors.Is(err, mariadbproc.ErrNotInstalled) {
		return fmt.Errorf("%w or set %s", err, EnvMySQLDSN)
	}
	return err
}
