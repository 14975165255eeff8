package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// mappingFile is a small person mapping reading src with the given
// table-or-query line.
func mappingFile(name, from string) string {
	return `kind: mapping
name: ` + name + `
county: "370282"
system: registry
source: roster
entity: person
` + from + `
cursor: {mode: incremental, timestamp: GXSJ, keys: [RYBH]}
identity: {id_card: SFZH}
fields:
  household_key: HBH
`
}

// TestCheckLiveCommand runs hpgate check -c --live on a real SQLite
// source: a table without a cursor index gets a warning with the CREATE
// INDEX, a query naming a missing column is an error, both at the line and
// column of their key; without --live only the static query check runs.
func TestCheckLiveCommand(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "roster.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE TABLE FPB_RY (RYBH TEXT PRIMARY KEY, SFZH TEXT, HBH TEXT, GXSJ DATETIME)",
		"CREATE TABLE FPB_HH (RYBH TEXT PRIMARY KEY, SFZH TEXT, HBH TEXT, GXSJ DATETIME)",
		"CREATE INDEX FPB_HH_CURSOR ON FPB_HH (GXSJ, RYBH)",
	} {
		if _, err := db.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	maps := filepath.Join(dir, "maps")
	if err := os.Mkdir(maps, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"noindex.yaml": mappingFile("roster-noindex", "table: FPB_RY"),
		"indexed.yaml": mappingFile("roster-indexed", "table: FPB_HH"),
		"badcol.yaml":  mappingFile("roster-badcol", "query: SELECT RYBH, SFZH, HBH, GXSJ, NO_SUCH_COL FROM FPB_HH"),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(maps, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("ROSTER_DSN", dbPath)
	t.Setenv("HPGATE_PII_KEY", strings.Repeat("ab", 32))
	cfg := filepath.Join(dir, "hpgate.yaml")
	if err := os.WriteFile(cfg, []byte(`sources:
  roster:
    driver: sqlite
    dsn_env: ROSTER_DSN
kafka: {brokers: ["127.0.0.1:9092"]}
state: {dir: `+dir+`}
pii: {key_env: HPGATE_PII_KEY}
mappings: {paths: [maps]}
`), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, _ := runCLI(t, "check", "-c", cfg)
	if code != 0 || out != "ok\n" {
		t.Fatalf("static check: exit %d\n%s", code, out)
	}

	code, out, _ = runCLI(t, "check", "-c", cfg, "--live")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		filepath.Join(maps, "badcol.yaml") + ":7:1: mapping roster-badcol: read the first page of roster-badcol: ",
		"NO_SUCH_COL",
		filepath.Join(maps, "noindex.yaml") + ":7:1: warning: mapping roster-noindex: no index of FPB_RY leads with the cursor (GXSJ, RYBH): every page scans the table; create one: CREATE INDEX hp_fpb_ry_cursor ON `FPB_RY` (`GXSJ`, `RYBH`)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "indexed.yaml") {
		t.Errorf("the indexed mapping was reported:\n%s", out)
	}

	// A placeholder in a query is found without --live, at the query key.
	if err := os.WriteFile(filepath.Join(maps, "badcol.yaml"), []byte(mappingFile("roster-badcol", "query: \"SELECT RYBH, SFZH, HBH, GXSJ FROM FPB_HH WHERE HBH = ?;\"")), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "check", "-c", cfg)
	if code != 1 || !strings.Contains(out, "badcol.yaml:7:1: mapping roster-badcol: query has the bind placeholder ?") || !strings.Contains(out, "badcol.yaml:7:1: mapping roster-badcol: query ends with ';'") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "check", "--live", maps); code == 0 || !strings.Contains(errOut, "--live needs the config file") {
		t.Errorf("--live without -c: exit %d: %s", code, errOut)
	}
}
