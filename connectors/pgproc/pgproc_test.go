package pgproc_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"go.uber.org/goleak"

	"github.com/hpgate/hpgate/connectors/dbproc/dbproctest"
	"github.com/hpgate/hpgate/connectors/pgproc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// serverDir returns a new directory for a server that the postgres user,
// which runs the server when the tests run as root, can reach: t.TempDir
// makes its directories 0700.
func serverDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pg")
	for _, d := range []string{filepath.Dir(filepath.Dir(dir)), filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestStartConnectStop fails, naming the install command, when PostgreSQL
// is missing: a skipped test would hide a regression.
func TestStartConnectStop(t *testing.T) {
	dir := serverDir(t)
	srv, err := pgproc.Start(t.Context(), pgproc.Options{
		Dir:          dir,
		ExtraArgs:    []string{"-c", "max_connections=37"},
		StartTimeout: 60 * time.Second,
	})
	if err != nil {
		t.Fatalf("pgproc.Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })

	if want := "postgres://postgres@" + srv.Addr() + "/hpt?sslmode=disable"; srv.DSN("hpt") != want {
		t.Errorf("DSN(hpt) = %q, want %q", srv.DSN("hpt"), want)
	}
	if _, err := os.Stat(filepath.Join(dir, ".s.PGSQL."+strings.TrimPrefix(srv.Addr(), "127.0.0.1:"))); err != nil {
		t.Errorf("unix socket not in Dir: %v", err)
	}

	admin, err := sql.Open("pgx", srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var maxConns string
	if err := admin.QueryRowContext(t.Context(), "SHOW max_connections").Scan(&maxConns); err != nil {
		t.Fatal(err)
	}
	if maxConns != "37" {
		t.Errorf("max_connections = %s: ExtraArgs did not override the defaults", maxConns)
	}
	var fsync string
	if err := admin.QueryRowContext(t.Context(), "SHOW fsync").Scan(&fsync); err != nil || fsync != "off" {
		t.Errorf("fsync = %q, %v; want off", fsync, err)
	}
	if _, err := admin.ExecContext(t.Context(), "CREATE DATABASE hpt"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", srv.DSN("hpt"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name, encoding string
	if err := db.QueryRowContext(t.Context(), "SELECT current_database(), pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()").Scan(&name, &encoding); err != nil {
		t.Fatal(err)
	}
	if name != "hpt" || encoding != "UTF8" {
		t.Errorf("got database %q with encoding %q", name, encoding)
	}
	dbproctest.CheckLogTail(t, srv, "(no server log")
	_ = db.Close()
	_ = admin.Close()

	dbproctest.CheckStop(t, srv, filepath.Join(dir, "data", "PG_VERSION"))
}

func TestFailedStartRemovesDirWhenAsked(t *testing.T) {
	dir := serverDir(t)
	_, err := pgproc.Start(t.Context(), pgproc.Options{
		Dir:       dir,
		ExtraArgs: []string{"-c", "hpgate_no_such_setting=1"},
		RemoveDir: true,
	})
	dbproctest.CheckFailedStart(t, err, pgproc.ErrNotInstalled, dir, "hpgate_no_such_setting")
}

func TestFindProgramNamesInstallCommand(t *testing.T) {
	_, err := pgproc.FindProgram("hpgate-no-such-initdb")
	if !errors.Is(err, pgproc.ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install -y postgresql") {
		t.Errorf("got %v, want ErrNotInstalled naming the install command", err)
	}
}
