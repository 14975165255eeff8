package sqlsource

import (
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// A dialect is everything that differs between databases. The keyset and
// snapshot SQL is assembled in keyset.go from these pieces, so a dialect
// holds no paging logic of its own, and every method except open is a pure
// function of its arguments (keyset_test.go tests the SQL with no database).
//
// Adding a database: write dialect_<name>.go with a type implementing this
// interface (and the optional ones below where the database needs them),
// add it to lookupDialect and Drivers below, add it to testDialects in
// keyset_test.go (golden SQL) and to checkquery_test.go, and run
// connectortest.SourceSuite against it (live, or gated on an
// HPGATE_TEST_<NAME>_DSN variable where no server can run here).
type dialect interface {
	// open validates dsn and returns a lazily connecting pool: it must
	// not dial. It sets the session options the source relies on (time
	// zone, result character set) unless the DSN sets them itself. Its
	// errors must not quote the DSN.
	open(dsn string, zone *time.Location) (*sql.DB, error)

	// placeholder returns the n-th (1-based) bind placeholder: "?", ":1",
	// "@p1" or "$1". Every occurrence in a statement gets its own number
	// and its own argument, which every driver accepts.
	placeholder(n int) string

	// quoteIdent quotes one identifier (no dots).
	quoteIdent(name string) string

	// limit makes an ordered SELECT return at most n rows: "… LIMIT n",
	// "… FETCH FIRST n ROWS ONLY", or a wrapping ROWNUM query.
	limit(query string, n int) string

	// cursorExpr returns the select-list expression that reads cursor
	// column col (already quoted) as a value that, bound back as an
	// argument, compares with col exactly as the column's own values do,
	// and orders the same. ts is true for the timestamp column.
	cursorExpr(col string, ts bool) string

	// nowQuery returns a single-row, single-column query of the database
	// clock in UTC; parseNow reads its value.
	nowQuery() string
	parseNow(v any) (time.Time, error)

	// timeArg returns the bind value of a cut-off time (a wall clock in
	// the source's zone) in a form the timestamp column compares natively,
	// so the comparison uses the column's index.
	timeArg(t time.Time) any

	// columnValue returns the conversion of the values of one result
	// column into the Batch's conventions, or nil when the driver's values
	// are kept as they are. It is chosen once per result set, from the
	// column's type: naive DATE and DATETIME values that a driver parses
	// into time.Time keep their wall clock and are placed in the source's
	// zone; a dialect may also trim CHAR padding or turn NUMBER into exact
	// decimal text. A conversion may return a []byte aliasing its input:
	// the scanner copies []byte values after converting them.
	columnValue(ct *sql.ColumnType, zone *time.Location) func(v any) any

	// transient reports whether err, a driver error that the generic
	// checks (bad connection, network, timeout) did not classify, is an
	// outage worth retrying rather than a mistake.
	transient(err error) bool

	// indexQuery returns a query of the indexes of table (as written in
	// the mapping, possibly schema-qualified): one row per index column,
	// (index name, column name), ordered by index then position in it.
	// hpgate check --live reads it to tell whether an index serves the
	// cursor.
	indexQuery(table string) stmt
}

// Optional parts of a dialect.
//
// A dialect whose cursor read-back and binds depend on each cursor column's
// type (Oracle: TO_CHAR/TO_DATE with a fixed format per DATE, TIMESTAMP or
// TIMESTAMP WITH TIME ZONE; SQL Server: CONVERT style 121 per datetime
// type) implements cursorTyper. The Source then describes the cursor
// columns once per stream (a zero-row SELECT of them) and renders the page
// statements with the expressions typedCursor returns, instead of
// cursorExpr and bare placeholders. Binding a value as the column's own
// type is what keeps the comparison on the column's index: Oracle compares
// a DATE column with a TIMESTAMP bind by converting every row's DATE (a
// full scan), and SQL Server 2016+ compares datetime with a datetime2
// bind in the exact 1/300 s ticks, so a rounded value never matches.
type cursorTyper interface {
	typedCursor(col string, ct colType, ts bool) typedCursor
}

// colType is what a dialect learns of a described column.
type colType struct {
	name  string // sql.ColumnType.DatabaseTypeName
	scale int64  // fraction digits of time types, when known
	known bool   // scale is known
}

func colTypeOf(ct *sql.ColumnType) colType {
	t := colType{name: ct.DatabaseTypeName()}
	if _, scale, ok := ct.DecimalSize(); ok {
		t.scale, t.known = scale, true
	}
	return t
}

// typedCursor is how one cursor column is read back and bound.
type typedCursor struct {
	read   string                 // select-list expression reading col
	value  func(ph string) string // wraps the placeholder of a cursor value; nil: bare
	cutoff func(ph string) string // wraps the cut-off's placeholder (timestamp column); nil: bare
}

// configurable is implemented by dialects that take settings of the
// Config: the source's zone (rendered into SQL) and the server version
// (server_version: a number, or "auto" or "" to detect it).
type configurable interface {
	configure(zone *time.Location, serverVersion string) (dialect, error)
}

// versioned is implemented by dialects whose SQL depends on the server
// version. When versionKnown is false the Source runs versionQuery once,
// at its first read, and continues with withServerVersion of its single
// value (nil when the query failed for lack of privilege: the dialect then
// picks the form every version accepts).
type versioned interface {
	versionKnown() bool
	versionQuery() string
	withServerVersion(v any) (dialect, error)
}

// Drivers returns the names of the supported database drivers, for
// registering one factory each (see Factory).
func Drivers() []string { return []string{"mysql", "oracle", "postgres", "sqlite", "sqlserver"} }

func lookupDialect(driver string) (dialect, error) {
	switch driver {
	case "mysql":
		return mysqlDialect{}, nil
	case "postgres":
		return postgresDialect{}, nil
	case "sqlite":
		return sqliteDialect{}, nil
	case "oracle":
		return oracleDialect{}, nil
	case "sqlserver":
		return sqlserverDialect{}, nil
	}
	return nil, fmt.Errorf("unknown driver %q (known: %s)", driver, strings.Join(Drivers(), ", "))
}

// quoteName quotes a possibly schema-qualified name ("his.settlement").
func quoteName(d dialect, name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = d.quoteIdent(p)
	}
	return strings.Join(parts, ".")
}

// wallClock formats the wall clock of t as "2006-01-02 15:04:05" with as
// many fraction digits as it has (at most 9).
func wallClock(t time.Time) string {
	return t.Format("2006-01-02 15:04:05.999999999")
}

// parseClock reads a naive "2006-01-02 15:04:05[.fff]" clock text as UTC.
func parseClock(s string) (time.Time, error) {
	return time.ParseInLocation("2006-01-02 15:04:05.999999999", strings.TrimSpace(s), time.UTC)
}

// clockValue reads a clock value as returned by a driver.
func clockValue(v any) (time.Time, error) {
	switch v := v.(type) {
	case []byte:
		return parseClock(string(v))
	case string:
		return parseClock(v)
	case time.Time:
		return v.UTC(), nil
	default:
		return time.Time{}, fmt.Errorf("database clock returned %T", v)
	}
}

// splitTable splits a possibly schema-qualified table name ("his.settlement")
// into its schema ("" when none) and name.
func splitTable(table string) (schema, name string) {
	if i := strings.LastIndex(table, "."); i >= 0 {
		return table[:i], table[i+1:]
	}
	return "", table
}
