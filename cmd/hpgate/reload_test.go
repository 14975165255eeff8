package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestHotReload changes mapping files under a running daemon: a valid
// change is taken, a broken file keeps its directory's previous mappings
// while another directory's change still applies, and SIGHUP reloads too.
func TestHotReload(t *testing.T) {
	cluster := testCluster(t, kfake.AllowAutoTopicCreation())
	county, pack := testCounty(t, 10, cluster.ListenAddrs(), "")
	// A second directory, as a second county pack would be.
	other := filepath.Join(county.Dir, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	editFile(t, county.ConfigPath, "paths: [", "paths: ["+`"`+other+`", `)

	d, run := startDaemon(t, county.ConfigPath)
	defer func() {
		if err := run.stop(); err != nil {
			t.Error(err)
		}
	}()
	waitUntil(t, "the first delivery", func() bool { return allIdle(d) })
	reloads := func(result string) float64 {
		return testutil.ToFloat64(d.metrics.ReloadsTotal.WithLabelValues(result))
	}

	// 1. A valid change is taken.
	settlement := filepath.Join(pack, "jimo-ins-settlement.yaml")
	src, err := os.ReadFile(settlement)
	if err != nil {
		t.Fatal(err)
	}
	// Scheme code 3 now means the employee scheme.
	writeFile(t, settlement, strings.Replace(string(src), `"3": urban_rural_resident`, `"3": employee`, 1))
	waitUntil(t, "a successful reload", func() bool { return reloads("success") >= 2 }) // start + this one
	if v := testutil.ToFloat64(d.metrics.ReloadOK); v != 1 {
		t.Errorf("last reload successful = %v", v)
	}
	// Rows added after the reload are mapped by the new rule; those before
	// were not.
	if err := county.Update(5); err != nil {
		t.Fatal(err)
	}
	schemes := func() map[string]bool { // round of the row ("-1-", "-2-") + scheme
		got := map[string]bool{}
		for _, v := range topicValues(t, cluster.ListenAddrs(), "hp.settlement.v1") {
			var env struct {
				ID     string `json:"id"`
				Source struct {
					Mapping string `json:"mapping"`
				} `json:"source"`
				Data struct {
					Scheme string `json:"insurance_scheme"`
				} `json:"data"`
			}
			if json.Unmarshal(v, &env) != nil || env.Source.Mapping != "jimo-ins-settlement" {
				continue
			}
			round := "-1-"
			if strings.Contains(env.ID, "-2-") {
				round = "-2-"
			}
			got[round+env.Data.Scheme] = true
		}
		return got
	}
	waitUntil(t, "settlements mapped by the reloaded rule", func() bool { return schemes()["-2-employee"] })
	if got := schemes(); !got["-1-urban_rural_resident"] || got["-2-urban_rural_resident"] {
		t.Errorf("schemes by round: %v", got)
	}

	// 2. A broken file in the pack, a new mapping in the other directory.
	writeFile(t, filepath.Join(pack, "jimo-phs-followup.yaml"), "kind: mapping\nname: [broken\n")
	if err := os.CopyFS(filepath.Join(other, "codes"), os.DirFS(filepath.Join(pack, "codes"))); err != nil {
		t.Fatal(err)
	}
	extra := strings.Replace(string(src), "name: jimo-ins-settlement", "name: other-ins-settlement", 1)
	writeFile(t, filepath.Join(other, "settlement.yaml"), extra)
	waitUntil(t, "a failed reload", func() bool { return reloads("failure") >= 1 })
	if v := testutil.ToFloat64(d.metrics.ReloadOK); v != 0 {
		t.Errorf("last reload successful = %v after a broken file", v)
	}
	waitUntil(t, "the other directory's mapping", func() bool { return hasMapping(d, "other-ins-settlement") })
	if !hasMapping(d, "jimo-phs-followup") {
		t.Error("the broken file's mapping stopped; its previous version should go on")
	}

	// 3. SIGHUP reloads as well (the broken file still fails).
	before := reloads("failure")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a reload on SIGHUP", func() bool { return reloads("failure") > before })
}

// TestSystemdNotify: under systemd (NOTIFY_SOCKET, WATCHDOG_USEC) the
// daemon says READY=1, pings the watchdog, and says STOPPING=1.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	cluster := testCluster(t, kfake.AllowAutoTopicCreation())
	county, _ := testCounty(t, 5, cluster.ListenAddrs(), "")
	_, run := startDaemon(t, county.ConfigPath)

	got := map[string]bool{}
	buf := make([]byte, 256)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !got["READY=1"] || !got["WATCHDOG=1"] {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("notifications so far %v: %v", got, err)
		}
		got[string(buf[:n])] = true
	}
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no STOPPING=1 (got %v): %v", got, err)
		}
		if string(buf[:n]) == "STOPPING=1" {
			break
		}
	}
}

// TestRunRefusedTopicsEnds: a broker that refuses topic creation ends the
// run with the reason, and the listener it had started is shut down.
func TestRunRefusedTopicsEnds(t *testing.T) {
	cluster := testCluster(t)
	listen := freeAddr(t)
	county, _ := testCounty(t, 5, cluster.ListenAddrs(), listen)
	// Three replicas on a one-broker cluster: refused.
	editFile(t, county.ConfigPath, "replication_factor: 1", "replication_factor: 3")
	_, run := startDaemon(t, county.ConfigPath)
	waitUntil(t, "run to end on a refused topic creation", run.ended)
	if err := run.stop(); err == nil || !strings.Contains(err.Error(), "create topics") {
		t.Fatalf("run ended with %v", err)
	}
	if c, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		c.Close()
		t.Error("the listener still answers after run ended")
	}
}
