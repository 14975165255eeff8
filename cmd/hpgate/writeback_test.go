package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/kafkasink"
	"github.com/hpgate/hpgate/connectors/sqlwrite"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/normalize"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/pipeline/config"
)

var updateGolden = flag.Bool("update-writeback-golden", false, "rewrite testdata/writeback/*.golden")

// jimoWriteback is the example writeback file of the Jimo county pack: the
// tests run the file a county engineer starts from.
const jimoWriteback = "../../mappings/counties/370282-jimo/jimo-ins-writeback.yaml"

// writebackConfig writes a config whose only mapping path holds the Jimo
// writeback file (and whatever extra files are given), its target jimo-ins
// on driver with its DSN in HPGATE_WB_TEST_DSN, and returns its path.
func writebackConfig(t *testing.T, driver, broker string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	maps := filepath.Join(dir, "maps")
	if err := os.MkdirAll(maps, 0o755); err != nil {
		t.Fatal(err)
	}
	wb, err := os.ReadFile(jimoWriteback)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(maps, "jimo-ins-writeback.yaml"), string(wb))
	for name, text := range extra {
		writeFile(t, filepath.Join(maps, name), text)
	}
	t.Setenv("HPGATE_WB_TEST_KEY", strings.Repeat("5a", 32))
	cfg := fmt.Sprintf(`sources:
  jimo-ins:
    driver: %s
    dsn_env: HPGATE_WB_TEST_DSN
kafka: {brokers: [%q]}
state: {dir: %q}
pii: {key_env: HPGATE_WB_TEST_KEY}
mappings: {paths: [maps]}
`, driver, broker, dir)
	p := filepath.Join(dir, "hpgate.yaml")
	writeFile(t, p, cfg)
	return p
}

func wbID(first17 string) string { return first17 + string(normalize.CheckDigit(first17)) }

// identityRecord is the identity.v1 message of a person the registry
// holds with status (and deceased), with the insurance system's own person
// record insKey when set.
func identityRecord(t *testing.T, key *pii.Key, id, status string, deceased bool, insKey string) connectors.Message {
	t.Helper()
	pk := key.PersonKey(id)
	v := canonical.IdentityView{
		Subject:  canonical.Subject{Origin: canonical.Origin{County: "370282", SourceSystem: "hpgate", SourceID: pk}, PersonKey: pk, IDMasked: pii.MaskID(id), IDQuality: "valid"},
		Registry: canonical.SystemIdentity{PovertyStatus: status, Deceased: &deceased},
	}
	if insKey != "" {
		v.Insurance = canonical.SystemIdentity{PovertyStatus: "none", Records: []canonical.IdentityRecord{{Entity: "person", ID: "insurance:370282:" + insKey, SourceID: insKey}}}
	}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	val, err := json.Marshal(canonical.Envelope{Schema: "hp.identity/v1", ID: "hpgate:370282:" + pk, Op: "upsert", County: "370282",
		Source: canonical.Source{System: "hpgate"}, IngestedAt: "2020-01-01T00:00:00+08:00", Hash: "sha256:" + strings.Repeat("0", 64), Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return connectors.Message{Topic: "hp.identity.v1", Key: []byte(pk), Value: val}
}

func produce(t *testing.T, broker string, msgs ...connectors.Message) {
	t.Helper()
	sink, err := kafkasink.New(kafkasink.Config{Brokers: []string{broker}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sink.Close(context.Background()) }()
	if err := sink.Write(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
}

func insFlags(t *testing.T, db *sql.DB, key string) string {
	t.Helper()
	var poor, dead sql.NullString
	if err := db.QueryRow(`SELECT PKRKBZ, SWBZ FROM YB_CBRY WHERE GRBH = ?`, key).Scan(&poor, &dead); err != nil {
		t.Fatal(err)
	}
	return poor.String + dead.String
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestWritebackCommand runs `hpgate writeback` as an operator does: a dry
// run first, then the real run against MariaDB with identity records on
// the broker, /metrics scraped while it runs, then stopped.
func TestWritebackCommand(t *testing.T) {
	db, dsn := connectortest.MariaDB(t)
	broker, _ := connectortest.Broker(t, "hp.identity.v1", "hp.dlq.v1")
	t.Setenv("HPGATE_WB_TEST_DSN", dsn)
	cfgPath := writebackConfig(t, "mysql", broker, nil)
	cfg, err := config.LoadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	key, err := cfg.LoadKey()
	if err != nil {
		t.Fatal(err)
	}
	idA, idB, idC := wbID("37028219800101001"), wbID("37028219500202002"), wbID("37028219900303003")
	for _, q := range []string{
		`CREATE TABLE YB_CBRY (GRBH VARCHAR(20) PRIMARY KEY, SFZH VARCHAR(18), PKRKBZ CHAR(1), SWBZ CHAR(1), GXSJ DATETIME NOT NULL, KEY gx (GXSJ, GRBH))`,
		`INSERT INTO YB_CBRY VALUES ('GR001', '` + idA + `', '0', '0', '2019-01-01 10:00:00')`,
		`INSERT INTO YB_CBRY VALUES ('GR002', '` + idB + `', '1', '0', '2019-01-01 11:00:00')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	produce(t, broker,
		identityRecord(t, key, idA, "registered", false, ""), // found by the blind index: PKRKBZ 0 → 1
		identityRecord(t, key, idB, "exited", true, "GR002"), // its insurance record: PKRKBZ 1 → 0, SWBZ 0 → 1
		identityRecord(t, key, idC, "registered", false, ""), // no row: dead-lettered
	)

	// The dry run prints what would change and changes nothing.
	code, out, errOut := runCLI(t, "writeback", "-c", cfgPath, "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if n := strings.Count(out, "UPDATE `YB_CBRY` SET"); n != 2 || !strings.Contains(out, "would dead-letter hp.identity.v1/") ||
		!strings.Contains(out, "not_found: no row of YB_CBRY for the person") {
		t.Errorf("dry-run output:\n%s", out)
	}
	if !strings.Contains(out, "UPDATE `YB_CBRY` SET `PKRKBZ` = ?, `SWBZ` = ? WHERE `GRBH` = ?") {
		t.Errorf("dry run does not set both columns of GR002:\n%s", out)
	}
	for _, id := range []string{idA, idB, idC} {
		if strings.Contains(out+errOut, id) {
			t.Errorf("dry run shows a clear ID number:\n%s%s", out, errOut)
		}
	}
	if insFlags(t, db, "GR001") != "00" || insFlags(t, db, "GR002") != "10" {
		t.Fatalf("dry run changed the target: GR001 %s GR002 %s", insFlags(t, db, "GR001"), insFlags(t, db, "GR002"))
	}

	// The real run, until stopped: the listener and the consumer group
	// from the config's writeback section, the group overridden by --group.
	listen := freeAddr(t)
	editFile(t, cfgPath, "mappings: {paths: [maps]}\n",
		fmt.Sprintf("mappings: {paths: [maps]}\nwriteback: {group_id: jimo-wb-config, listen: %q, rows_per_second: 500}\n", listen))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"writeback", "-c", cfgPath, "--group", "jimo-wb-flag"}, &stdout, &stderr)
	}()
	// The person not found is dead-lettered after the two updates: wait
	// for every figure, then check them all.
	wants := []string{
		`hpgate_writeback_rows_total{result="updated",writeback="jimo-ins-identity-flags"} 2`,
		`hpgate_writeback_rows_total{result="not_found",writeback="jimo-ins-identity-flags"} 1`,
		`hpgate_writeback_dlq_messages_total{reason="not_found",writeback="jimo-ins-identity-flags"} 1`,
		`hpgate_writeback_index_rows{writeback="jimo-ins-identity-flags"} 2`,
	}
	var metrics string
	all := func() bool {
		for _, want := range wants {
			if !strings.Contains(metrics, want+"\n") {
				return false
			}
		}
		return true
	}
	waitUntil(t, "two rows updated and one dead-lettered, seen on /metrics", func() bool {
		metrics = scrape(t, listen)
		return all()
	})
	if got := insFlags(t, db, "GR001"); got != "10" {
		t.Errorf("GR001 PKRKBZ+SWBZ = %s, want 10", got)
	}
	if got := insFlags(t, db, "GR002"); got != "01" {
		t.Errorf("GR002 PKRKBZ+SWBZ = %s, want 01", got)
	}
	var audits int
	if err := db.QueryRow(`SELECT COUNT(*) FROM ` + sqlwrite.AuditTable + ` WHERE writeback = 'jimo-ins-identity-flags'`).Scan(&audits); err != nil {
		t.Fatal(err)
	}
	if audits != 3 {
		t.Errorf("%d audit rows, want 3 (GR001 PKRKBZ, GR002 PKRKBZ and SWBZ)", audits)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("stopped writeback: exit %d\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("writeback did not stop")
	}
	logs := stderr.String()
	if !strings.Contains(logs, "blind index ready") || !strings.Contains(logs, "writeback starting") {
		t.Errorf("log:\n%s", logs)
	}
	if !strings.Contains(logs, "jimo-wb-flag") || strings.Contains(logs, "jimo-wb-config") {
		t.Errorf("--group does not override writeback.group_id:\n%s", logs)
	}
	dlq := topicValues(t, []string{broker}, "hp.dlq.v1")
	if len(dlq) != 1 || !strings.Contains(string(dlq[0]), `"code":"not_found"`) {
		t.Errorf("dlq: %q", dlq)
	}
	for _, id := range []string{idA, idB, idC} {
		if strings.Contains(logs+metrics, id) || (len(dlq) == 1 && strings.Contains(string(dlq[0]), id)) {
			t.Error("a clear ID number in the log, the metrics or the DLQ")
		}
	}
}

// TestWritebackPrintAuditDDL: the audit table's DDL for each dialect, as
// the DBA gets it, against testdata/writeback/audit-ddl-<driver>.golden.
func TestWritebackPrintAuditDDL(t *testing.T) {
	for _, driver := range sqlwrite.Drivers {
		t.Run(driver, func(t *testing.T) {
			cfgPath := writebackConfig(t, driver, "127.0.0.1:1", nil)
			code, out, errOut := runCLI(t, "writeback", "-c", cfgPath, "--print-audit-ddl")
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			path := filepath.Join("testdata", "writeback", "audit-ddl-"+driver+".golden")
			if *updateGolden {
				writeFile(t, path, out)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) {
				t.Errorf("%s:\n got %s\nwant %s", path, out, want)
			}
		})
	}
}

// TestWritebackRefusesBadTarget: a writeback whose target is not a source
// of the config, or a source writeback cannot write, is refused before
// anything is opened, at the target key of the file.
func TestWritebackRefusesBadTarget(t *testing.T) {
	cfgPath := writebackConfig(t, "registry", "127.0.0.1:1", nil)
	code, out, errOut := runCLI(t, "writeback", "-c", cfgPath, "--dry-run")
	if code == 0 || !strings.Contains(errOut, "jimo-ins-writeback.yaml:11:9: writeback jimo-ins-identity-flags: target jimo-ins: driver \"registry\" cannot be a writeback target") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}

// TestCheckWritebackFiles: `hpgate check` validates writeback files with
// the loader of `hpgate writeback`, and with -c their targets.
func TestCheckWritebackFiles(t *testing.T) {
	wb, err := os.ReadFile(jimoWriteback)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "good.yaml"), string(wb))
	if code, out, errOut := runCLI(t, "check", dir); code != 0 || out != "ok\n" {
		t.Fatalf("the Jimo example: exit %d\n%s%s", code, out, errOut)
	}
	bad := strings.Replace(string(wb), "fact: deceased", "fact: poverty_mark", 1)
	bad = strings.Replace(bad, "name: jimo-ins-identity-flags", "name: jimo-ins-identity-flags-2", 1)
	writeFile(t, filepath.Join(dir, "bad.yaml"), bad)
	writeFile(t, filepath.Join(dir, "broken.yaml"), "kind: writeback\nname: [x\n")
	code, out, errOut := runCLI(t, "check", dir)
	if code != 1 || !regexp.MustCompile(`bad\.yaml:23:11: insurance's word counts for poverty_mark`).MatchString(out) ||
		!strings.Contains(errOut, "2 problem(s)") || strings.Count(out, "broken.yaml:") != 1 {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}

	// With the config: the target must be one of its sources.
	cfgPath := writebackConfig(t, "mysql", "127.0.0.1:1", nil)
	editFile(t, cfgPath, "  jimo-ins:", "  jimo-his:")
	code, out, _ = runCLI(t, "check", "-c", cfgPath)
	if code != 1 || !regexp.MustCompile(`maps/jimo-ins-writeback\.yaml:11:9: writeback jimo-ins-identity-flags: target "jimo-ins" is not a source of `).MatchString(out) {
		t.Errorf("undefined target: exit %d\n%s", code, out)
	}
}
