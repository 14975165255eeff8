package sqlsource

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hpgate/hpgate/connectors"
)

// TestDialectGolden pins, per dialect, the SQL that is not paging: the
// clock, the version query, the describe of a cursor, the index query of
// hpgate check --live, and the typed read-back and binds of every column
// type a cursorTyper dialect distinguishes. Review a changed golden by eye
// (go test -run TestDialectGolden -update).
func TestDialectGolden(t *testing.T) {
	typed := map[string][]colType{
		"oracle": {
			{name: "DATE"}, {name: "TimeStampDTY"}, {name: "TIMESTAMP"}, {name: "TimeStampTZ_DTY"},
			{name: "TimeStampLTZ_DTY"}, {name: "NUMBER"}, {name: "NCHAR"}, {name: "CHAR"}, {name: "RAW"},
		},
		"sqlserver": {
			{name: "DATETIME"}, {name: "SMALLDATETIME"}, {name: "DATETIME2", scale: 3, known: true}, {name: "DATETIME2"},
			{name: "DATETIMEOFFSET", scale: 7, known: true}, {name: "DATE"}, {name: "UNIQUEIDENTIFIER"},
			{name: "DECIMAL"}, {name: "VARCHAR"}, {name: "NVARCHAR"}, {name: "BIGINT"},
		},
	}
	st := connectors.Stream{Name: "s", Table: "his.settlement", TimestampColumn: "upd_time", KeyColumns: []string{"settle_no", "line_no"}}
	for _, td := range testDialects {
		family, _, _ := strings.Cut(td.name, " ")
		if family != td.name && !strings.HasSuffix(td.name, "+") {
			continue // one golden per dialect; the versions differ in paging only
		}
		t.Run(family, func(t *testing.T) {
			var out strings.Builder
			d := td.d
			fmt.Fprintf(&out, "-- clock\n%s\n", d.nowQuery())
			if v, ok := d.(versioned); ok {
				fmt.Fprintf(&out, "-- server version\n%s\n", v.versionQuery())
			}
			for _, table := range []string{"settlement", "his.settlement"} {
				q := d.indexQuery(table)
				fmt.Fprintf(&out, "-- indexes of %s\n%s\n-- args: %q\n", table, q.text, q.args)
			}
			p, err := newPlan(d, st)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&out, "-- describe\n%s\n", p.describe().text)
			ct, ok := d.(cursorTyper)
			for _, ty := range typed[family] {
				if !ok {
					t.Fatalf("%s is not a cursorTyper", family)
				}
				c := ct.typedCursor(`"COL"`, ty, true)
				wrap := func(f func(string) string) string {
					if f == nil {
						return "(bare)"
					}
					return f(d.placeholder(1))
				}
				fmt.Fprintf(&out, "-- %s (scale %d known %v)\nread:   %s\nvalue:  %s\ncutoff: %s\n", ty.name, ty.scale, ty.known, c.read, wrap(c.value), wrap(c.cutoff))
			}
			golden(t, filepath.Join("testdata", "keyset", "dialect-"+family+".golden"), out.String())
		})
	}
}
