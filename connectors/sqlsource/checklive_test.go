package sqlsource_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/sqlsource"
)

// TestCheckLive runs CheckLive against each database that runs here: a
// table whose cursor an index serves passes; a table without such an
// index, or with an index on the timestamp alone, gets a warning naming
// the CREATE INDEX; a missing column, a missing table and a custom query
// naming a missing column are errors.
func TestCheckLive(t *testing.T) {
	for _, db := range []struct {
		driver string
		open   func(t *testing.T) (*sql.DB, string)
		ts     string
	}{
		{"sqlite", func(t *testing.T) (*sql.DB, string) {
			path := filepath.Join(t.TempDir(), "check.db")
			return openSQLite(t, path), path
		}, "DATETIME"},
		{"mysql", func(t *testing.T) (*sql.DB, string) { return connectortest.MariaDB(t) }, "DATETIME"},
		{"postgres", func(t *testing.T) (*sql.DB, string) { return connectortest.Postgres(t) }, "TIMESTAMP"},
	} {
		t.Run(db.driver, func(t *testing.T) {
			h, dsn := db.open(t)
			for _, q := range []string{
				"CREATE TABLE indexed (id INTEGER NOT NULL PRIMARY KEY, upd_time " + db.ts + " NOT NULL, name VARCHAR(20))",
				"CREATE INDEX indexed_cursor ON indexed (upd_time, id)",
				"CREATE TABLE bare (id INTEGER NOT NULL PRIMARY KEY, upd_time " + db.ts + " NOT NULL)",
				"CREATE TABLE halfway (id INTEGER NOT NULL PRIMARY KEY, upd_time " + db.ts + " NOT NULL)",
				"CREATE INDEX halfway_ts ON halfway (upd_time)",
				"INSERT INTO indexed VALUES (1, '2019-03-01 10:00:00', 'a')",
			} {
				mustExec(t, h, q)
			}
			src := newSource(t, sqlsource.Config{Driver: db.driver, DSN: sqlsource.DSN(dsn)})
			stream := func(table string, keys ...string) connectors.Stream {
				return connectors.Stream{Name: "m-" + table, Table: table, TimestampColumn: "upd_time", KeyColumns: keys}
			}
			for _, tc := range []struct {
				name string
				st   connectors.Stream
				err  string // substring of the one error, or ""
				warn string // substring of the one warning, or ""
			}{
				{name: "indexed", st: stream("indexed", "id")},
				{name: "snapshot on the primary key", st: connectors.Stream{Name: "snap", Table: "indexed", Mode: "snapshot", KeyColumns: []string{"id"}}},
				{name: "no index", st: stream("bare", "id"), warn: "no index of bare leads with the cursor (upd_time, id): every page scans the table; create one: CREATE INDEX hp_bare_cursor ON "},
				{name: "timestamp only", st: stream("halfway", "id"), warn: "index halfway_ts of halfway serves only (upd_time) of the cursor (upd_time, id)"},
				{name: "missing column", st: stream("indexed", "nope"), err: "nope"},
				{name: "missing table", st: stream("missing", "id"), err: "missing"},
				{name: "query naming a missing column", st: connectors.Stream{Name: "q", Query: "SELECT id, upd_time, no_such_col FROM indexed", TimestampColumn: "upd_time", KeyColumns: []string{"id"}}, err: "no_such_col"},
				{name: "good query", st: connectors.Stream{Name: "q", Query: "SELECT id, upd_time FROM indexed", TimestampColumn: "upd_time", KeyColumns: []string{"id"}}, warn: "index not checked: q reads a custom query"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					got := src.CheckLive(t.Context(), tc.st)
					var errs, warns []string
					for _, e := range got {
						var w *sqlsource.Warning
						if errors.As(e, &w) {
							warns = append(warns, e.Error())
						} else {
							errs = append(errs, e.Error())
						}
					}
					check := func(kind string, got []string, want string) {
						if want == "" && len(got) > 0 || want != "" && (len(got) != 1 || !strings.Contains(got[0], want)) {
							t.Errorf("%s: got %q, want one containing %q", kind, got, want)
						}
					}
					check("errors", errs, tc.err)
					check("warnings", warns, tc.warn)
				})
			}
		})
	}
}
