package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hpgate/hpgate/mappings"
)

// TestCheckpointCommand drives `hpgate checkpoint` against a running
// daemon (through its admin endpoint) and against a stopped one (through
// the state store).
func TestCheckpointCommand(t *testing.T) {
	cluster := testCluster(t, kfake.AllowAutoTopicCreation())
	county, pack := testCounty(t, 20, cluster.ListenAddrs(), freeAddr(t))
	cfg := county.ConfigPath

	d, run := startDaemon(t, cfg)
	waitUntil(t, "the daemon to catch up", func() bool { return allIdle(d) })

	// Topics it created keep canonical records forever and the DLQ 90 days.
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := kadm.NewClient(cl).DescribeTopicConfigs(context.Background(), "hp.dlq.v1", "hp.settlement.v1")
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rc {
		for _, c := range r.Configs {
			if c.Key != "retention.ms" || c.Value == nil {
				continue
			}
			if want := map[string]string{"hp.dlq.v1": "7776000000", "hp.settlement.v1": "-1"}[r.Name]; *c.Value != want {
				t.Errorf("%s retention.ms = %s, want %s", r.Name, *c.Value, want)
			}
		}
	}

	// The running daemon's metrics follow the naming conventions, with the
	// per-source gauges among them.
	problems, err := testutil.GatherAndLint(d.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
	if n, err := testutil.GatherAndCount(d.reg, "hpgate_source_quiet", "hpgate_mapping_records_total", "hpgate_source_lag_seconds"); err != nil || n < 9 {
		t.Errorf("metrics: %d series, %v", n, err)
	}
	if v, err := gaugeValue(d.reg, "hpgate_state_store_size_bytes"); err != nil || v < 4096 {
		t.Errorf("state store size %v, %v", v, err)
	}

	code, out, errOut := runCLI(t, "checkpoint", "-c", cfg, "list")
	if code != 0 || !strings.Contains(out, "jimo-ins-settlement") || !strings.Contains(out, "idle") {
		t.Fatalf("list through the daemon: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "checkpoint", "-c", cfg, "reset", "jimo-ins-settlement")
	if code == 0 || !strings.Contains(errOut, "running") {
		t.Errorf("reset of a running mapping: exit %d %s", code, errOut)
	}
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}

	// No daemon: the store itself.
	code, out, errOut = runCLI(t, "checkpoint", "-c", cfg, "set", "jimo-ins-settlement", "20190309100530", "JS0001")
	if code != 0 || !strings.Contains(out, "resumes after 20190309100530|JS0001") {
		t.Fatalf("set: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "checkpoint", "-c", cfg, "list")
	if code != 0 || !strings.Contains(out, "(set by hand)") {
		t.Errorf("list from the store:\n%s", out)
	}
	code, out, _ = runCLI(t, "checkpoint", "-c", cfg, "reset", "jimo-ins-settlement")
	if code != 0 {
		t.Errorf("reset: exit %d %s", code, out)
	}
	// A key that is personal data is shown as its HMAC.
	code, out, errOut = runCLI(t, "checkpoint", "-c", cfg, "set", "jimo-ins-enrollment", "20190309100530", "3702000012345678", "2019")
	if code != 0 || strings.Contains(out, "3702000012345678") && isPIIKey(t, filepath.Join(pack, "jimo-ins-enrollment.yaml")) {
		t.Errorf("set with a personal key: exit %d\n%s%s", code, out, errOut)
	}
}

func isPIIKey(t *testing.T, path string) bool {
	t.Helper()
	m, err := findMappingFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return m.IsPII(m.Stream.KeyColumns[0])
}

func findMappingFile(path string) (*mappings.Mapping, error) {
	ms, err := mappings.Load(mappings.Options{}, path)
	if err != nil {
		return nil, err
	}
	return ms[0], nil
}

// TestRunWaitsForBroker: a daemon started before its broker waits for it
// (to create its topics), then delivers.
func TestRunWaitsForBroker(t *testing.T) {
	addr := freeAddr(t)
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	county, _ := testCounty(t, 10, []string{addr}, "")
	d, run := startDaemon(t, county.ConfigPath)
	time.Sleep(1500 * time.Millisecond)
	if run.ended() {
		t.Fatalf("run ended without a broker: %v", run.stop())
	}
	testCluster(t, kfake.Ports(port))
	waitUntil(t, "a delivery after the broker came up", func() bool {
		return allIdle(d) && d.pipe.Status()[0].Rows > 0
	})
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestPromtoolCheckMetrics runs `promtool check metrics` on what a running
// daemon serves on /metrics.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("HPGATE_SKIP_PROMTOOL") == "1" {
			t.Skip("HPGATE_SKIP_PROMTOOL=1: promtool checks skipped")
		}
		t.Fatal("promtool not found: apt-get install prometheus (bash .ci/test does)")
	}
	cluster := testCluster(t, kfake.AllowAutoTopicCreation())
	listen := freeAddr(t)
	county, _ := testCounty(t, 10, cluster.ListenAddrs(), listen)
	d, _ := startDaemon(t, county.ConfigPath) // stopped when the test ends
	waitUntil(t, "the daemon to catch up", func() bool { return allIdle(d) })
	resp, err := http.Get("http://" + listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
