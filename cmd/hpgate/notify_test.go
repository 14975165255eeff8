package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors/connectortest"
)

// listenNotify stands in for systemd: NOTIFY_SOCKET names a datagram socket
// the test reads, and WATCHDOG_USEC asks for a ping every 100 ms.
func listenNotify(t *testing.T) *net.UnixConn {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	return conn
}

// expectNotify reads notifications until every one of want has come.
func expectNotify(t *testing.T, conn *net.UnixConn, want ...string) {
	t.Helper()
	got := map[string]bool{}
	buf := make([]byte, 256)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		missing := false
		for _, w := range want {
			missing = missing || !got[w]
		}
		if !missing {
			return
		}
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %q, got %v: %v", want, got, err)
		}
		got[string(buf[:n])] = true
	}
}

// runNotified runs an hpgate command under the test's notify socket: it
// must say READY=1 and ping the watchdog, and on SIGTERM (a cancelled
// context, as main does) say STOPPING=1 and exit 0.
func runNotified(t *testing.T, args ...string) {
	t.Helper()
	conn := listenNotify(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &stdout, &stderr) }()
	expectNotify(t, conn, "READY=1", "WATCHDOG=1")
	cancel()
	expectNotify(t, conn, "STOPPING=1")
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("%v: exit %d\n%s", args, code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%v did not stop", args)
	}
}

// TestIdentityNotify: `hpgate identity` under systemd (Type=notify,
// WatchdogSec, deploy/systemd/hpgate-identity.service).
func TestIdentityNotify(t *testing.T) {
	e := newIdentityEnv(t)
	runNotified(t, "identity", "-c", e.cfgPath, "--listen", freeAddr(t))
}

// TestWritebackNotify: `hpgate writeback` under systemd (Type=notify,
// WatchdogSec, deploy/systemd/hpgate-writeback.service).
func TestWritebackNotify(t *testing.T) {
	db, dsn := connectortest.MariaDB(t)
	broker, _ := connectortest.Broker(t, "hp.identity.v1", "hp.dlq.v1")
	t.Setenv("HPGATE_WB_TEST_DSN", dsn)
	if _, err := db.Exec(`CREATE TABLE YB_CBRY (GRBH VARCHAR(20) PRIMARY KEY, SFZH VARCHAR(18), PKRKBZ CHAR(1), SWBZ CHAR(1), GXSJ DATETIME NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	cfgPath := writebackConfig(t, "mysql", broker, nil)
	runNotified(t, "writeback", "-c", cfgPath, "--listen", freeAddr(t))
}
