package sqlsource

import (
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteDialect serves SQLite through modernc.org/sqlite (pure Go, driver
// name "sqlite"): the demo's embedded sources and a second dialect for the
// conformance suite.
//
// SQLite compares timestamps as text, so timestamp columns must hold the
// "2006-01-02 15:04:05[.fff]" layout that datetime() writes; epoch integers
// do not compare with the text cut-off. The driver parses columns declared
// DATE, DATETIME or TIMESTAMP into time.Time, losing the stored text, so
// the cursor reads the timestamp as CAST(ts AS TEXT): the bound-back value
// is then byte for byte the stored one.
type sqliteDialect struct{}

func (sqliteDialect) open(dsn string, _ *time.Location) (*sql.DB, error) {
	return sql.Open("sqlite", dsn)
}

func (sqliteDialect) placeholder(int) string { return "?" }

// quoteIdent uses grave accents, not double quotes: SQLite reads an
// unknown "name" as the string 'name' (its double-quoted string misfeature),
// so a misspelt cursor column would silently compare a constant.
func (sqliteDialect) quoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

func (sqliteDialect) limit(query string, n int) string {
	return query + " LIMIT " + strconv.Itoa(n)
}

func (sqliteDialect) cursorExpr(col string, ts bool) string {
	if ts {
		return "CAST(" + col + " AS TEXT)"
	}
	return col
}

func (sqliteDialect) nowQuery() string {
	return "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"
}

func (sqliteDialect) parseNow(v any) (time.Time, error) { return clockValue(v) }

func (sqliteDialect) timeArg(t time.Time) any { return t.Format(time.DateTime) }

// columnValue: the driver parses text in columns declared DATE, DATETIME or
// TIMESTAMP into time.Time, labelling naive text UTC; those values are
// placed in the source's zone with their wall clock, and values stored
// with an explicit offset keep their instant.
func (sqliteDialect) columnValue(ct *sql.ColumnType, zone *time.Location) func(any) any {
	switch strings.ToUpper(ct.DatabaseTypeName()) {
	case "DATE", "DATETIME", "TIMESTAMP":
	default:
		return nil
	}
	return func(v any) any {
		t, ok := v.(time.Time)
		switch {
		case !ok:
			return v
		case t.Location() == time.UTC:
			return relabel(t, zone)
		default:
			return t.In(zone)
		}
	}
}

func (sqliteDialect) transient(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// indexQuery lists the table's indexes and, as the index "rowid", an
// INTEGER PRIMARY KEY, which is the rowid that orders the table itself.
func (sqliteDialect) indexQuery(table string) stmt {
	_, name := splitTable(table)
	return stmt{
		text: "SELECT name, col FROM (" +
			"SELECT 'rowid' AS name, name AS col, 0 AS seq FROM pragma_table_info(?1)" +
			" WHERE pk = 1 AND upper(type) = 'INTEGER' AND (SELECT COUNT(*) FROM pragma_table_info(?1) WHERE pk > 0) = 1" +
			" UNION ALL SELECT il.name, ii.name, ii.seqno FROM pragma_index_list(?1) AS il, pragma_index_info(il.name) AS ii" +
			") ORDER BY name, seq",
		args: []any{name},
	}
}
