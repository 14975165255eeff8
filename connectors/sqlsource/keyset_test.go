package sqlsource

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hpgate/hpgate/connectors"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var testDialects = []struct {
	name string
	d    dialect
	// types of the timestamp and key columns, for dialects that bind by
	// type (cursorTyper)
	ts, key colType
}{
	{name: "mysql", d: mysqlDialect{}},
	{name: "sqlite", d: sqliteDialect{}},
	{name: "postgres", d: postgresDialect{}},
	{name: "oracle 12c+", d: oracleDialect{zone: "+08:00", version: 12}, ts: colType{name: "DATE"}, key: colType{name: "NCHAR"}},
	{name: "oracle 11g", d: oracleDialect{zone: "+08:00", version: 11}, ts: colType{name: "DATE"}, key: colType{name: "NCHAR"}},
	{name: "sqlserver 2012+", d: sqlserverDialect{zone: "+08:00", major: 11}, ts: colType{name: "DATETIME"}, key: colType{name: "VARCHAR"}},
	{name: "sqlserver 2008", d: sqlserverDialect{zone: "+08:00", major: 10}, ts: colType{name: "DATETIME"}, key: colType{name: "VARCHAR"}},
}

// typedFor types p as a describe of its cursor would for td.
func typedFor(td struct {
	name    string
	d       dialect
	ts, key colType
}, p *plan) *plan {
	ct, ok := td.d.(cursorTyper)
	if !ok {
		return p
	}
	types := make([]colType, len(p.cursor))
	for i := range types {
		types[i] = td.key
		if i == 0 && p.incremental {
			types[i] = td.ts
		}
	}
	return p.typed(ct, types)
}

const testCutoff = "2019-03-01 10:00:05"

// keysetCases are rendered for every dialect into testdata/keyset/<name>.golden.
var keysetCases = []struct {
	name  string
	st    connectors.Stream
	after []any // nil: first page
}{
	{
		name: "incremental-1key-first",
		st:   connectors.Stream{Name: "s", Table: "settlement", TimestampColumn: "upd_time", KeyColumns: []string{"id"}},
	},
	{
		name:  "incremental-1key",
		st:    connectors.Stream{Name: "s", Table: "settlement", TimestampColumn: "upd_time", KeyColumns: []string{"id"}},
		after: []any{"2019-03-01 10:00:00", "JS001"},
	},
	{
		name:  "incremental-2keys",
		st:    connectors.Stream{Name: "s", Table: "settle_detail", Mode: "incremental", TimestampColumn: "upd_time", KeyColumns: []string{"settle_no", "line_no"}},
		after: []any{"2019-03-01 10:00:00", "JS001", int64(3)},
	},
	{
		name:  "incremental-2keys-where",
		st:    connectors.Stream{Name: "s", Table: "his.settle_detail", TimestampColumn: "upd_time", KeyColumns: []string{"settle_no", "line_no"}, Where: "valid_flag = '1' OR valid_flag IS NULL"},
		after: []any{"2019-03-01 10:00:00", "JS001", int64(3)},
	},
	{
		name:  "incremental-3keys-columns",
		st:    connectors.Stream{Name: "s", Table: "fee", Columns: []string{"name", "amount"}, TimestampColumn: "ts", KeyColumns: []string{"a", "b", "c"}},
		after: []any{"2019-03-01 10:00:00", "x", int64(1), []byte{0xd5, 0xc5}},
	},
	{
		name:  "incremental-query",
		st:    connectors.Stream{Name: "s", Query: "SELECT h.id, h.upd_time, d.name FROM head h JOIN dict d ON d.code = h.code;\n", TimestampColumn: "upd_time", KeyColumns: []string{"id"}, Where: "name <> ''"},
		after: []any{"2019-03-01 10:00:00", int64(42)},
	},
	{
		name:  "incremental-fallback",
		st:    connectors.Stream{Name: "s", Table: "roster", TimestampColumn: "upd_time", TimestampFallback: "create_time", KeyColumns: []string{"id"}},
		after: []any{"2019-03-01 10:00:00", "P001"},
	},
	{
		name: "snapshot-1key-first",
		st:   connectors.Stream{Name: "s", Table: "poor_household", Mode: "snapshot", KeyColumns: []string{"hh_id"}},
	},
	{
		name:  "snapshot-2keys-where",
		st:    connectors.Stream{Name: "s", Table: "poor_member", Mode: "snapshot", KeyColumns: []string{"hh_id", "member_no"}, Where: "county = '370282'"},
		after: []any{"H001", int64(2)},
	},
}

func TestKeysetGolden(t *testing.T) {
	for _, tc := range keysetCases {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			for _, td := range testDialects {
				p, err := newPlan(td.d, tc.st)
				if err != nil {
					t.Fatal(err)
				}
				p = typedFor(td, p)
				var cutoff any
				if p.incremental {
					cutoff = testCutoff
				}
				q := p.page(td.d, tc.after, cutoff, 5000)
				if ph := td.d.placeholder(1); ph == td.d.placeholder(2) {
					if n := strings.Count(q.text, ph); n != len(q.args) {
						t.Errorf("%s: %d placeholders for %d arguments", td.name, n, len(q.args))
					}
				} else {
					for i := 1; i <= len(q.args)+1; i++ {
						if has := strings.Contains(q.text, td.d.placeholder(i)); has != (i <= len(q.args)) {
							t.Errorf("%s: placeholder %s present %v for %d arguments", td.name, td.d.placeholder(i), has, len(q.args))
						}
					}
				}
				fmt.Fprintf(&out, "-- %s\n%s\n-- args:", td.name, q.text)
				for _, a := range q.args {
					fmt.Fprintf(&out, " %#v", a)
				}
				out.WriteString("\n")
				if p.incremental {
					fmt.Fprintf(&out, "-- %s null count\n%s\n", td.name, p.nullCount(td.d).text)
				}
				out.WriteString("\n")
			}
			golden(t, filepath.Join("testdata", "keyset", tc.name+".golden"), out.String())
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -run %s -update to accept):\ngot:\n%s\nwant:\n%s", path, t.Name(), got, want)
	}
}

// TestKeysetExpandedPredicate pins the shape the performance stance
// requires, whatever the goldens say.
func TestKeysetExpandedPredicate(t *testing.T) {
	d := sqliteDialect{}
	st := connectors.Stream{Name: "s", Table: "t", TimestampColumn: "ts", KeyColumns: []string{"k1", "k2"}}
	p, err := newPlan(d, st)
	if err != nil {
		t.Fatal(err)
	}
	q := p.page(d, []any{"T", "A", "B"}, "C", 3)
	const want = "WHERE `ts` <= ? AND (`ts` > ? OR (`ts` = ? AND (`k1` > ? OR (`k1` = ? AND `k2` > ?)))) ORDER BY `ts`, `k1`, `k2` LIMIT 3"
	if !strings.HasSuffix(q.text, want) {
		t.Errorf("got\n%s\nwant suffix\n%s", q.text, want)
	}
	if got := fmt.Sprint(q.args); got != "[C T T A A B]" {
		t.Errorf("args %s, want [C T T A A B]", got)
	}
	if strings.Contains(q.text, "(`ts`, `k1`") {
		t.Error("row-constructor comparison: MariaDB does not use the index for it")
	}
}

func TestNewPlanRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   connectors.Stream
		want string
	}{
		{"no source", connectors.Stream{Name: "m", TimestampColumn: "ts", KeyColumns: []string{"id"}}, "neither table nor query"},
		{"two sources", connectors.Stream{Name: "m", Table: "t", Query: "SELECT 1", TimestampColumn: "ts", KeyColumns: []string{"id"}}, "both table and query"},
		{"no keys", connectors.Stream{Name: "m", Table: "t", TimestampColumn: "ts"}, "no key columns"},
		{"snapshot no keys", connectors.Stream{Name: "m", Table: "t", Mode: "snapshot"}, "no key columns"},
		{"no timestamp", connectors.Stream{Name: "m", Table: "t", KeyColumns: []string{"id"}}, "needs a timestamp column"},
		{"blank column", connectors.Stream{Name: "m", Table: "t", TimestampColumn: "ts", KeyColumns: []string{" "}}, "invalid column name"},
		{"bad mode", connectors.Stream{Name: "m", Table: "t", Mode: "full", KeyColumns: []string{"id"}}, "unknown mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newPlan(mysqlDialect{}, tc.st)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "stream m:") {
				t.Errorf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestQuoteIdent(t *testing.T) {
	for _, tc := range []struct {
		d    dialect
		in   string
		want string
	}{
		{mysqlDialect{}, "his.settle`ment", "`his`.`settle``ment`"},
		{mysqlDialect{}, "结算时间", "`结算时间`"},
		{sqliteDialect{}, "main.t", "`main`.`t`"},
		{oracleDialect{}, "his.upd_time", `"HIS"."UPD_TIME"`},
		{oracleDialect{}, "GXSJ", `"GXSJ"`},
		{oracleDialect{}, `"UpdTime"`, `"UpdTime"`},
		{oracleDialect{}, "更新时间", `"更新时间"`},
		{oracleDialect{}, "upd time", `"upd time"`},
		{sqlserverDialect{}, "dbo.settle]ment", "[dbo].[settle]]ment]"},
	} {
		if got := quoteName(tc.d, tc.in); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestPlanLeavesStreamColumnsAlone checks that planning a stream never
// writes into its Columns array: the runner and the audit read one
// stream concurrently, sharing it.
func TestPlanLeavesStreamColumnsAlone(t *testing.T) {
	cols := make([]string, 2, 4)
	cols[0], cols[1] = "a", "b"
	spare := cols[:4]
	spare[2] = "untouched"
	st := connectors.Stream{Name: "s", Table: "t", TimestampColumn: "ts", TimestampFallback: "created", KeyColumns: []string{"id"}, Columns: cols}
	if _, err := newPlan(mysqlDialect{}, st); err != nil {
		t.Fatal(err)
	}
	if spare[2] != "untouched" {
		t.Errorf("newPlan wrote %q past the stream's columns", spare[2])
	}
}
