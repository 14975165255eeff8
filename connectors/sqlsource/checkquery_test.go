package sqlsource

import (
	"errors"
	"strings"
	"testing"

	"github.com/hpgate/hpgate/connectors"
)

func TestCheckStream(t *testing.T) {
	stream := func(q string) connectors.Stream {
		return connectors.Stream{Name: "m", Query: q, TimestampColumn: "upd_time", KeyColumns: []string{"id"}}
	}
	for _, tc := range []struct {
		name   string
		driver string
		query  string
		errs   []string // substrings, one per error, in order
		warns  []string
	}{
		{name: "good", driver: "mysql", query: "SELECT h.id, h.upd_time, d.name FROM head h JOIN dict d ON d.code = h.code"},
		{name: "aliases", driver: "oracle", query: "SELECT h.JSID AS id, NVL(h.GXSJ, h.CJSJ) upd_time FROM YB_JSXX h"},
		{name: "quoted alias", driver: "postgres", query: `SELECT "ID" AS "id", upd_time FROM t`},
		{name: "with", driver: "postgres", query: "WITH x AS (SELECT id, upd_time FROM t ORDER BY id LIMIT 5) SELECT id, upd_time FROM x"},
		{name: "order by in window and subquery", driver: "sqlserver", query: "SELECT id, upd_time, ROW_NUMBER() OVER (PARTITION BY pid ORDER BY id) AS rn FROM (SELECT TOP (10) * FROM t ORDER BY id) q"},
		{name: "literals and comments hide markers", driver: "oracle", query: "SELECT id, upd_time, 'a ? b :1 @p1 $1 ; ORDER BY' AS s FROM t -- ? :2 ORDER BY\n/* LIMIT 3; */ WHERE TO_CHAR(upd_time, 'HH24:MI:SS') > '08:00:00'"},
		{name: "postgres cast and dollar body", driver: "postgres", query: "SELECT id::bigint AS id, upd_time FROM t WHERE note <> $$a ? $1 b$$"},
		{name: "sqlserver system function", driver: "sqlserver", query: "SELECT id, upd_time, @@SERVERNAME AS srv FROM t"},
		{name: "mysql user variable", driver: "mysql", query: "SELECT id, upd_time, @n := @n + 1 AS seq FROM t"},
		{name: "star", driver: "mysql", query: "SELECT * FROM t", warns: []string{"selects *: whether it yields upd_time, id"}},
		{name: "star with some named", driver: "mysql", query: "SELECT t.*, x.upd_time FROM t JOIN x ON x.id = t.id", warns: []string{"yields id"}},
		{name: "question mark", driver: "mysql", query: "SELECT id, upd_time FROM t WHERE county = ?", errs: []string{"placeholder ?"}},
		{name: "oracle bind", driver: "oracle", query: "SELECT id, upd_time FROM t WHERE county = :1 AND x = :county", errs: []string{"placeholder :1", "placeholder :county"}},
		{name: "sqlserver bind", driver: "sqlserver", query: "SELECT id, upd_time FROM t WHERE county = @p1", errs: []string{"placeholder @p1"}},
		{name: "postgres bind", driver: "postgres", query: "SELECT id, upd_time FROM t WHERE county = $1", errs: []string{"placeholder $1"}},
		{name: "unknown driver sees every style", query: "SELECT id, upd_time FROM t WHERE a = ? AND b = :1 AND c = @p1 AND d = $1", errs: []string{"?", ":1", "@p1", "$1"}},
		{name: "trailing semicolon", driver: "mysql", query: "SELECT id, upd_time FROM t;", errs: []string{"ends with ';'"}},
		{name: "two statements", driver: "mysql", query: "SELECT id, upd_time FROM t; DELETE FROM t", errs: []string{"more than one statement", "DELETE is not allowed"}},
		{name: "order by", driver: "postgres", query: "SELECT id, upd_time FROM t ORDER BY upd_time", errs: []string{"ORDER BY at its top level"}},
		{name: "limit", driver: "mysql", query: "SELECT id, upd_time FROM t LIMIT 10", errs: []string{"LIMIT at its top level"}},
		{name: "fetch", driver: "oracle", query: "SELECT id, upd_time FROM t FETCH FIRST 10 ROWS ONLY", errs: []string{"FETCH at its top level"}},
		{name: "rownum", driver: "oracle", query: "SELECT id, upd_time FROM t WHERE ROWNUM <= 10", errs: []string{"ROWNUM at its top level"}},
		{name: "top", driver: "sqlserver", query: "SELECT TOP 10 id, upd_time FROM t", errs: []string{"TOP at its top level"}},
		{name: "for update", driver: "oracle", query: "SELECT id, upd_time FROM t FOR UPDATE", errs: []string{"FOR UPDATE"}},
		{name: "not a select", driver: "mysql", query: "UPDATE t SET x = 1", errs: []string{"single SELECT"}},
		{name: "select into", driver: "sqlserver", query: "SELECT id, upd_time INTO #tmp FROM t", errs: []string{"INTO is not allowed"}},
		{name: "missing cursor columns", driver: "mysql", query: "SELECT settle_no, gxsj FROM t", errs: []string{"does not select upd_time (the cursor's timestamp)", "does not select id (a cursor key)"}},
		{name: "expression without alias", driver: "oracle", query: "SELECT id, NVL(gxsj, cjsj) FROM t", errs: []string{"does not select upd_time"}},
		{name: "case end is no name", driver: "mysql", query: "SELECT id, CASE WHEN a THEN b END FROM t", errs: []string{"does not select upd_time"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckStream(tc.driver, stream(tc.query))
			var errs, warns []string
			for _, e := range got {
				var w *Warning
				if errors.As(e, &w) {
					warns = append(warns, e.Error())
				} else {
					errs = append(errs, e.Error())
				}
			}
			match := func(kind string, got, want []string) {
				if len(got) != len(want) {
					t.Fatalf("%s: got %q, want %d matching %q", kind, got, len(want), want)
				}
				for i := range want {
					if !strings.Contains(got[i], want[i]) {
						t.Errorf("%s %d: got %q, want it to mention %q", kind, i, got[i], want[i])
					}
				}
			}
			match("errors", errs, tc.errs)
			match("warnings", warns, tc.warns)
		})
	}
	if errs := CheckStream("mysql", connectors.Stream{Name: "m", Table: "t", TimestampColumn: "ts", KeyColumns: []string{"id"}}); errs != nil {
		t.Errorf("a table stream: %v", errs)
	}
}
