package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/pipeline/trail"
)

// TestAuditTrailThroughDaemon drives the data-assurance commands against a
// running daemon and a stopped one, and checks that the audit trail holds
// the start, the reload, the re-drive, the replay and the checkpoint
// changes with their operators and file hashes, that its chain verifies,
// and that it reached the audit topic.
func TestAuditTrailThroughDaemon(t *testing.T) {
	t.Setenv(trail.OperatorEnv, "wang.ops")
	cluster := testCluster(t, kfake.AllowAutoTopicCreation())
	county, pack := testCounty(t, 20, cluster.ListenAddrs(), freeAddr(t))
	cfg := county.ConfigPath
	// The daemon audits by itself, often here, and exports the figures.
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg, string(text)+"audit: {interval: 200ms, window_days: 366}\n")
	d, run := startDaemon(t, cfg)
	// Mappings that stop (a pack in the making) do not matter here.
	waitUntil(t, "the daemon to catch up", func() bool {
		for _, s := range d.pipe.Status() {
			if s.State != "idle" && s.State != "stopped" {
				return false
			}
		}
		return true
	})

	// The source-to-Kafka audit finds nothing lost.
	code, out, errOut := runCLI(t, "audit", "-c", cfg, "--mapping", "jimo-ins-settlement", "--from", "2019-02-25", "--to", "2019-04-01")
	if code != 0 || !strings.Contains(out, "jimo-ins-settlement") || !strings.Contains(out, "2019-03-09") {
		t.Fatalf("audit: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("hpgate audit:\n%s", out)

	waitUntil(t, "a periodic audit", func() bool {
		v, err := gaugeValue(d.reg, "hpgate_audit_last_run_timestamp_seconds")
		return err == nil && v > 0
	})
	if n, err := testutil.GatherAndCount(d.reg, "hpgate_audit_missing_records"); err != nil || n == 0 {
		t.Errorf("hpgate_audit_missing_records: %d series, %v", n, err)
	}

	// A field rule changes: the reload is recorded with the mapping changed.
	settlement := filepath.Join(pack, "jimo-ins-settlement.yaml")
	editFile(t, settlement, "kind: mapping", "# edited by the test\nkind: mapping")
	waitUntil(t, "the reload in the trail", func() bool {
		list, _ := d.trail.List(1)
		return len(list) >= 2 && list[len(list)-1].Action == canonical.AuditReload
	})

	code, out, errOut = runCLI(t, "dlq", "-c", cfg, "list")
	if code != 0 || !strings.Contains(out, "REASON") {
		t.Fatalf("dlq list: exit %d\n%s%s", code, out, errOut)
	}
	var dlqMapping string
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			dlqMapping = f[0]
			break
		}
	}
	if dlqMapping == "" {
		t.Fatalf("no DLQ rows in the synthetic county:\n%s", out)
	}
	code, out, errOut = runCLI(t, "dlq", "-c", cfg, "redrive", "--mapping", dlqMapping, "--operator", "li.ops")
	if code != 0 || !strings.Contains(out, "still rejected") {
		t.Fatalf("redrive: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("hpgate dlq redrive:\n%s", out)
	code, out, errOut = runCLI(t, "replay", "-c", cfg, "--mapping", "jimo-ins-settlement", "--from", "2019-03-01", "--rate", "500")
	if code != 0 || !strings.Contains(out, "rows replayed") || strings.Contains(out, " 0 rows replayed") {
		t.Fatalf("replay: exit %d\n%s%s", code, out, errOut)
	}
	// Refused through the daemon (the mapping runs), and recorded as failed.
	if code, _, _ = runCLI(t, "checkpoint", "-c", cfg, "reset", "jimo-ins-settlement"); code == 0 {
		t.Error("reset of a running mapping succeeded")
	}
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}
	// Without a daemon, on the store.
	if code, out, errOut = runCLI(t, "checkpoint", "-c", cfg, "set", "jimo-ins-settlement", "20190309100530", "JS0001"); code != 0 {
		t.Fatalf("set: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "audit", "trail", "-c", cfg)
	if code != 0 || !strings.Contains(out, "hash chain verified") {
		t.Fatalf("audit trail: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("hpgate audit trail:\n%s", out)
	for _, want := range []string{"wang.ops\tstart", "wang.ops\treload\t", "li.ops\tredrive\t" + dlqMapping, "wang.ops\treplay\tjimo-ins-settlement\tok",
		"wang.ops\tcheckpoint_reset\tjimo-ins-settlement\tfailed", "wang.ops\tcheckpoint_set\tjimo-ins-settlement\tok",
		"changed [jimo-ins-settlement]"} {
		if !strings.Contains(out, want) {
			t.Errorf("trail lacks %q:\n%s", want, out)
		}
	}
	hash, err := trail.FileHash(settlement)
	if err != nil {
		t.Fatal(err)
	}
	// The entries went to the audit topic as they were recorded (all but
	// the last, written with no daemon running), valid and chained.
	// Delivery is at least once: a consumer drops an entry whose seq it has.
	var onTopic []canonical.Audit
	seen := map[int]bool{}
	for _, v := range topicValues(t, cluster.ListenAddrs(), "hp.audit.v1") {
		if err := canonical.ValidateAudit(v); err != nil {
			t.Errorf("audit value: %v", err)
		}
		var a canonical.Audit
		if err := json.Unmarshal(v, &a); err != nil {
			t.Fatal(err)
		}
		if !seen[*a.Seq] {
			seen[*a.Seq] = true
			onTopic = append(onTopic, a)
		}
	}
	if n, err := trail.VerifyEntries(onTopic); err != nil || n < 5 {
		t.Errorf("audit topic: %d entries, %v", n, err)
	}
	var sawHash bool
	for _, a := range onTopic {
		if a.Action == canonical.AuditReload && a.Mappings["jimo-ins-settlement"] == hash && strings.HasPrefix(a.Config, "sha256:") {
			sawHash = true
		}
	}
	if !sawHash {
		t.Errorf("no reload entry with the edited file's hash %s", hash)
	}
}
