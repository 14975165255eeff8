package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/hpgate/hpgate/connectors/connectortest"
)

// TestBenchMappingIsTheTestdataOne keeps the mapping carried in the binary
// identical to the one mappings/bench_test.go measures.
func TestBenchMappingIsTheTestdataOne(t *testing.T) {
	want, err := os.ReadFile("../../mappings/testdata/bench/settlement.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != benchMapping {
		t.Error("benchMapping differs from mappings/testdata/bench/settlement.yaml: copy the file into bench.go")
	}
}

// TestBench runs a small `hpgate bench` end to end: a private MariaDB (or
// HPGATE_TEST_MYSQL_DSN's server), the broker and both measured runs in
// child processes started from the test binary (see TestMain). Figures
// are not asserted, only that both runs moved every row.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("the bench starts MariaDB, a broker and two measured runs; skipped with -short")
	}
	args := []string{"bench", "--rows", "20000"}
	if dsn := os.Getenv(connectortest.EnvMySQLDSN); dsn != "" {
		args = append(args, "--mysql-dsn", dsn)
	}
	code, out, errOut := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("hpgate bench --rows 20000:\n%s", out)
	for _, name := range []string{"hpgate", "baseline"} {
		m := regexp.MustCompile(`(?m)^\s*` + name + `\s+(\d+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s+([\d.]+|n/a)\s*$`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("no %s line in:\n%s", name, out)
			continue
		}
		if m[1] != "20000" {
			t.Errorf("%s moved %s rows, want 20000", name, m[1])
		}
		if rate, _ := strconv.ParseFloat(m[3], 64); rate <= 0 {
			t.Errorf("%s rows/s %s", name, m[3])
		}
	}
	if !regexp.MustCompile(`(?m)^ratio hpgate/baseline: \d+\.\d\d× rows/s`).MatchString(out) {
		t.Errorf("no ratio line in:\n%s", out)
	}
}

// TestBaselineEnvelope checks that the loop's envelope carries what
// hpgate's does: the row as data, its SHA-256, and an HMAC key that hides
// the ID number.
func TestBaselineEnvelope(t *testing.T) {
	zd := "I10"
	s := settlement{JSID: "JS1", SFZH: "11010519491231002X", JSSJ: "2019-03-01 10:00:00", GXSJ: "2019-03-01 10:00:05",
		ZFY: "1234567", ZCFY: "0", ZWFY: "0", QFX: "0", TCZF: "0", DBZF: "0", JZZF: "0", DDZF: "0", GRZF: "0", ZDDM: &zd}
	key, value, err := newBaselineEnvelope().marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(key, []byte(s.SFZH)) || !regexp.MustCompile(`^k1:[0-9a-f]{64}$`).Match(key) {
		t.Errorf("key %q is not an HMAC key", key)
	}
	var env struct {
		ID     string          `json:"id"`
		Hash   string          `json:"hash"`
		Data   json.RawMessage `json:"data"`
		Source struct {
			Position string `json:"position"`
		} `json:"source"`
	}
	if err := json.Unmarshal(value, &env); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(env.Data)
	if env.Hash != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("hash %s does not match the data", env.Hash)
	}
	var row settlement
	if err := json.Unmarshal(env.Data, &row); err != nil || row.JSID != "JS1" || row.ZFY != "1234567" {
		t.Errorf("data %s: %v", env.Data, err)
	}
	if env.ID != "insurance:370282:JS1" || env.Source.Position != "2019-03-01 10:00:05|JS1" {
		t.Errorf("id %q, position %q", env.ID, env.Source.Position)
	}
}
