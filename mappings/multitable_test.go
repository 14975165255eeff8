package mappings

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestMultiTableQueryGolden compiles the header/detail/lookup mapping of
// testdata/good and compares the generated SELECT with its golden file.
func TestMultiTableQueryGolden(t *testing.T) {
	m := mustCompile(t, "testdata/good/ins-settlement-fund.yaml")
	st := m.Stream
	if st.Table != "" || st.Columns != nil || st.TimestampColumn != "UPDT_TIME" || strings.Join(st.KeyColumns, ",") != "SETL_ID" {
		t.Errorf("stream: table %q, columns %v, cursor %s %v", st.Table, st.Columns, st.TimestampColumn, st.KeyColumns)
	}
	golden := "testdata/multitable/ins-settlement-fund.sql"
	got := st.Query + "\n"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("query differs from %s:\ngot:  %s\nwant: %s", golden, got, want)
	}
}

func mustCompile(t *testing.T, path string) *Mapping {
	t.Helper()
	m, err := Parse(path, mustRead(t, path), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mtHeader starts the inline settlement mappings of these tests.
const mtHeader = `kind: mapping
name: mt
county: "370282"
system: insurance
source: s
entity: settlement
table: SETL_D
cursor: {mode: incremental, timestamp: UPDT_TIME, keys: [SETL_ID]}
`

// TestMultiTableFingerprint: adding lookups or a pivot to a table mapping
// does not change what its checkpoint means (the cursor is the header's),
// so the fingerprint stays; a changed header table does change it.
func TestMultiTableFingerprint(t *testing.T) {
	const plain = mtHeader + `identity: {id_card: CERTNO}
fields:
  settlement_no: SETL_ID
  settled_at: SETL_TIME
  total_cost: MEDFEE_SUMAMT
`
	const extra = `detail:
  table: FUND_DETAIL
  on: {SETL_ID: SETL_ID}
  pivot: {key: FUND_PAY_TYPE, value: FUND_PAYAMT, columns: {"310100": FUND_BASIC}, unknown: ignore}
lookups:
  - {table: DICT_HOSP, on: {HOSP_CODE: CODE}, columns: {NAME: HOSP_NAME}}
`
	const rules = "  basic_insurance: FUND_BASIC\n  facility_code: {expr: 'HOSP_CODE + \" \" + HOSP_NAME'}\n"
	a, err := Parse("a.yaml", []byte(plain), Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("b.yaml", []byte(extra+plain+rules), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint != b.Fingerprint {
		t.Errorf("fingerprint changed by detail and lookups: %s → %s", a.Fingerprint, b.Fingerprint)
	}
	if strings.Contains(b.Stream.Query, UnknownColumn) {
		t.Errorf("unknown: ignore still checks codes: %s", b.Stream.Query)
	}
	const want = "SELECT h.UPDT_TIME, h.SETL_ID, h.CERTNO, h.SETL_TIME, h.MEDFEE_SUMAMT, h.HOSP_CODE, " +
		"(SELECT SUM(d.FUND_PAYAMT) FROM FUND_DETAIL d WHERE d.SETL_ID = h.SETL_ID AND d.FUND_PAY_TYPE = '310100') AS FUND_BASIC, " +
		"l1.NAME AS HOSP_NAME FROM SETL_D h LEFT JOIN DICT_HOSP l1 ON l1.CODE = h.HOSP_CODE"
	if b.Stream.Query != want {
		t.Errorf("query:\ngot:  %s\nwant: %s", b.Stream.Query, want)
	}
	c, err := Parse("c.yaml", []byte(strings.Replace(extra+plain+rules, "table: SETL_D", "table: his.SETL_D", 1)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Fingerprint == b.Fingerprint {
		t.Error("another header table kept the fingerprint")
	}
}

func TestMultiTablePlainIdentAndLiterals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parts int
		ok    bool
	}{
		{"SETL_ID", 1, true},
		{"fund_pay_type", 1, true},
		{"NO#", 1, true},
		{"SYS$X", 1, true},
		{"_x", 1, true},
		{"诊断编码", 1, true},
		{"his.SETL_D", 2, true},
		{"db.dbo.SETL_D", 3, true},
		{"his.SETL_D", 1, false},
		{"a.b.c.d", 3, false},
		{"1ABC", 1, false},
		{"A B", 1, false},
		{"A-B", 1, false},
		{`"A"`, 1, false},
		{"A;DROP", 1, false},
		{"", 1, false},
		{"his.", 2, false},
		{strings.Repeat("A", 129), 1, false},
	} {
		if got := plainIdent(tc.name, tc.parts); got != tc.ok {
			t.Errorf("plainIdent(%q, %d) = %v", tc.name, tc.parts, got)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"310100", "'310100'"},
		{"O'Brien", "'O''Brien'"},
		{"''", "''''''"},
		{"是", "'是'"},
		{"a\\b", ""},
		{"a\nb", ""},
		{"", ""},
		{strings.Repeat("9", 101), ""},
	} {
		got, err := sqlString(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("sqlString(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestMultiTableHeaderColumnCase: one header column written in two cases
// is selected once (a derived table cannot have two columns of one name).
func TestMultiTableHeaderColumnCase(t *testing.T) {
	const src = mtHeader + `lookups:
  - {table: DICT_HOSP, on: {HOSP_CODE: CODE}, columns: {LV: HOSP_LV}}
identity: {id_card: CERTNO}
fields:
  settlement_no: setl_id
  settled_at: SETL_TIME
  total_cost: MEDFEE_SUMAMT
  facility_code: {expr: 'HOSP_LV + HOSP_CODE'}
`
	m, err := Parse("case.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.ToUpper(m.Stream.Query), "H.SETL_ID"); n != 1 {
		t.Errorf("SETL_ID selected %d times: %s", n, m.Stream.Query)
	}
}

// TestMultiTableReadmeExample keeps the README's multi-table example true:
// it compiles and its fixtures pass.
func TestMultiTableReadmeExample(t *testing.T) {
	readme := string(mustRead(t, "../README.md"))
	var src string
	for _, b := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(readme, -1) {
		if strings.Contains(b[1], "\ndetail:") {
			src = b[1]
		}
	}
	if src == "" {
		t.Fatal("no yaml block with detail: in the README")
	}
	m, err := Parse("README.md", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rs := m.RunFixtures()
	if len(rs) != 2 {
		t.Errorf("%d fixtures, want 2", len(rs))
	}
	for _, r := range rs {
		if !r.Passed() {
			t.Errorf("%s: %v", r.Fixture.Name, r.Problems)
		}
	}
	if !strings.Contains(m.Stream.Query, " LEFT JOIN DICT_HOSP l1 ON l1.HOSP_CODE = h.FIXMEDINS_CODE") {
		t.Errorf("query: %s", m.Stream.Query)
	}
}

// TestMultiTableTables: Tables describes what the generated SELECT reads,
// so tools building the source (the demo) need not re-read the spec.
func TestMultiTableTables(t *testing.T) {
	m := mustCompile(t, "testdata/good/ins-settlement-fund.yaml")
	tb := m.Tables()
	if tb == nil {
		t.Fatal("no tables for a mapping with detail and lookups")
	}
	if tb.Header != "SETL_D" || strings.Join(tb.HeaderColumns, ",") != "UPDT_TIME,SETL_ID,CERTNO,HOSP_CODE,SETL_TIME,MEDFEE_SUMAMT" {
		t.Errorf("header %s %v", tb.Header, tb.HeaderColumns)
	}
	d := tb.Detail
	if d == nil || d.Table != "FUND_DETAIL" || d.On["SETL_ID"] != "SETL_ID" || *d.Where["VALI_FLAG"] != "1" ||
		d.Key != "FUND_PAY_TYPE" || d.Value != "FUND_PAYAMT" || d.Aggregate != "sum" || !d.Unknown || len(d.Columns) != 6 {
		t.Fatalf("detail %+v", d)
	}
	// Two codes share FUND_OTHER: the first in sort order.
	if d.Code("FUND_OTHER") != "620100" || d.Code("fund_basic") != "310100" || d.Code("HOSP_LV") != "" {
		t.Errorf("codes %q %q %q", d.Code("FUND_OTHER"), d.Code("fund_basic"), d.Code("HOSP_LV"))
	}
	if len(tb.Lookups) != 1 {
		t.Fatalf("lookups %+v", tb.Lookups)
	}
	l := tb.Lookups[0]
	if l.Table != "DICT_HOSP" || l.On["HOSP_CODE"] != "CODE" || l.Where["STOP_DATE"] != nil || l.Columns["LV"] != "HOSP_LV" {
		t.Errorf("lookup %+v", l)
	}
	if _, ok := l.Where["STOP_DATE"]; !ok {
		t.Error("the IS NULL condition is missing")
	}

	// A join column no field reads is still a header column; a table
	// mapping has no Tables.
	m, err := Parse("dict.yaml", []byte(mtHeader+`lookups:
  - {table: DICT, on: {ZDBM: JBXH}, columns: {AMT: DICT_AMT}}
identity: {id_card: CERTNO}
fields:
  settlement_no: SETL_ID
  settled_at: SETL_TIME
  total_cost: DICT_AMT
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tb := m.Tables(); tb == nil || !slices.Contains(tb.HeaderColumns, "ZDBM") || slices.Contains(tb.HeaderColumns, "DICT_AMT") || tb.Detail != nil {
		t.Errorf("tables %+v", tb)
	}
	if m := mustCompile(t, "testdata/good/registry-person.yaml"); m.Tables() != nil {
		t.Errorf("a table mapping has tables %+v", m.Tables())
	}
}
