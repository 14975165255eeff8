package main

import (
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
