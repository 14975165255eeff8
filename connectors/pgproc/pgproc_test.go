package pgproc_test

import (
	"database/sql"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"go.uber.org/goleak"

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
	if tail := srv.LogTail(5); tail == "" || strings.HasPrefix(tail, "(no server log") {
		t.Errorf("LogTail(5) = %q", tail)
	}
	_ = db.Close()
	_ = admin.Close()

	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if c, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Stop", srv.Addr())
	}
	// Stop removes nothing unless asked.
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
		t.Errorf("data directory gone after Stop without RemoveDir: %v", err)
	}
}

func TestFailedStartRemovesDirWhenAsked(t *testing.T) {
	dir := serverDir(t)
	_, err := pgproc.Start(t.Context(), pgproc.Options{
		Dir:       dir,
		ExtraArgs: []string{"-c", "hpgate_no_such_setting=1"},
		RemoveDir: true,
	})
	if errors.Is(err, pgproc.ErrNotInstalled) {
		t.Fatal(err)
	}
	if err == nil || !strings.Contains(err.Error(), "hpgate_no_such_setting") {
		t.Errorf("Start with a bad flag: %v, want the server's complaint", err)
	}
	if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("Dir left behind after a failed start with RemoveDir: %v", serr)
	}
}

func TestFindProgramNamesInstallCommand(t *testing.T) {
	_, err := pgproc.FindProgram("hpgate-no-such-initdb")
	if !errors.Is(err, pgproc.ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install -y postgresql") {
		t.Errorf("got %v, want ErrNotInstalled naming the install command", err)
	}
}
