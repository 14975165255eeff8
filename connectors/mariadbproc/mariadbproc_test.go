package mariadbproc_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"

	"github.com/hpgate/hpgate/connectors/dbproc/dbproctest"
	"github.com/hpgate/hpgate/connectors/mariadbproc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// start starts a server and fails the test, naming the install command,
// when there is none: a skipped test would hide a regression.
func start(t *testing.T, opts mariadbproc.Options) *mariadbproc.Server {
	t.Helper()
	srv, err := mariadbproc.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("mariadbproc.Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

func TestStartConnectStop(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, mariadbproc.Options{Dir: dir, ExtraArgs: []string{"--max-connections=77"}})

	if !strings.HasPrefix(srv.Addr(), "127.0.0.1:") || srv.Addr() != net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.Port())) {
		t.Errorf("Addr() = %q, Port() = %d", srv.Addr(), srv.Port())
	}
	for _, want := range []string{"root@tcp(" + srv.Addr() + ")/hpt", "charset=utf8mb4"} {
		if dsn := srv.DSN("hpt"); !strings.Contains(dsn, want) {
			t.Errorf("DSN(%q) = %q, want it to contain %q", "hpt", dsn, want)
		}
	}

	root, err := sql.Open("mysql", srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var maxConns int
	if err := root.QueryRowContext(t.Context(), "SELECT @@GLOBAL.max_connections").Scan(&maxConns); err != nil {
		t.Fatal(err)
	}
	if maxConns != 77 {
		t.Errorf("max_connections = %d: ExtraArgs did not override the defaults", maxConns)
	}
	if _, err := root.ExecContext(t.Context(), "CREATE DATABASE hpt"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", srv.DSN("hpt"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	var created []byte // parseTime is off: DATETIME scans as []byte
	if err := db.QueryRowContext(t.Context(), "SELECT DATABASE(), NOW()").Scan(&name, &created); err != nil {
		t.Fatal(err)
	}
	if name != "hpt" || len(created) == 0 {
		t.Errorf("got database %q, NOW() %q", name, created)
	}
	dbproctest.CheckLogTail(t, srv, "(no error log")
	_ = db.Close()
	_ = root.Close()

	dbproctest.CheckStop(t, srv, filepath.Join(dir, "data", "mysql"))
}

func TestFailedStartRemovesDirWhenAsked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "srv")
	_, err := mariadbproc.Start(t.Context(), mariadbproc.Options{
		Dir:       dir,
		ExtraArgs: []string{"--hpgate-no-such-option"},
		RemoveDir: true,
	})
	dbproctest.CheckFailedStart(t, err, mariadbproc.ErrNotInstalled, dir, "exited during start-up", "hpgate-no-such-option")
}

func TestWaitReadyGivesUp(t *testing.T) {
	port, err := mariadbproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err = mariadbproc.WaitReady(ctx, "root@tcp(127.0.0.1:"+strconv.Itoa(port)+")/", 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "did not answer within") {
		t.Errorf("got %v, want a timeout", err)
	}
}

func TestFindProgramNamesInstallCommand(t *testing.T) {
	_, err := mariadbproc.FindProgram("hpgate-no-such-mariadbd")
	if !errors.Is(err, mariadbproc.ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install -y mariadb-server") {
		t.Errorf("got %v, want ErrNotInstalled and the install command", err)
	}
}

func TestSweepTempRemovesOnlyDeadOwnersDirs(t *testing.T) {
	prefix := "hpgate-mariadbproc-test-" + strconv.Itoa(os.Getpid()) + "-"
	mine, err := mariadbproc.MkdirTemp(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(mine)
	dead, err := mariadbproc.MkdirTemp(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dead)
	// A pid that ran and was reaped: gone, short of reuse.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dead, "owner.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	mariadbproc.SweepTemp(prefix)
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("SweepTemp removed a live process's directory: %v", err)
	}
	// Outside Linux SweepTemp cannot tell and keeps everything.
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) && runtime.GOOS == "linux" {
		t.Errorf("SweepTemp kept a dead process's directory: %v", err)
	}
}
