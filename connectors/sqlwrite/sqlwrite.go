// Package sqlwrite holds the SQL that hpgate's writeback runs against the
// tables of a target system, for every database hpgate reads (mysql,
// postgres, sqlite, oracle, sqlserver): reading a row's flag columns by its
// key, changing them only where they differ, and recording the change in an
// audit table. Statements are pure functions of table and column names
// (golden-tested without a database); Open builds a lazily connecting pool.
//
// Changes are conditional, so that running one twice changes nothing: on
// MySQL, PostgreSQL and SQLite an UPDATE whose WHERE clause also requires a
// column to differ (NULL-safe), on Oracle and SQL Server a MERGE whose WHEN
// MATCHED branch carries the same condition. No statement ever inserts a
// row into a target table: writeback only corrects flags of rows the target
// system owns.
//
// It imports no pipeline package and writes nothing by itself.
package sqlwrite

import (
	"database/sql"
	"fmt"
	"regexp"
	"strings"

	_ "github.com/go-sql-driver/mysql"  // mysql
	_ "github.com/jackc/pgx/v5/stdlib"  // pgx
	_ "github.com/microsoft/go-mssqldb" // sqlserver
	_ "github.com/sijms/go-ora/v2"      // oracle
	_ "modernc.org/sqlite"              // sqlite
)

// Drivers are the database drivers a writeback target may use.
var Drivers = []string{"mysql", "postgres", "sqlite", "oracle", "sqlserver"}

// Dialect writes the SQL of one database.
type Dialect struct {
	name string
}

// ForDriver returns the dialect of a config driver name.
func ForDriver(driver string) (Dialect, error) {
	for _, d := range Drivers {
		if d == driver {
			return Dialect{name: d}, nil
		}
	}
	return Dialect{}, fmt.Errorf("driver %q cannot be a writeback target (known: %s)", driver, strings.Join(Drivers, ", "))
}

// Name returns the driver name.
func (d Dialect) Name() string { return d.name }

// Open returns a pool on dsn that connects on first use.
func (d Dialect) Open(dsn string) (*sql.DB, error) {
	name := map[string]string{"mysql": "mysql", "postgres": "pgx", "sqlite": "sqlite", "oracle": "oracle", "sqlserver": "sqlserver"}[d.name]
	db, err := sql.Open(name, dsn)
	if err != nil {
		// Driver errors may quote the DSN: name the driver only.
		return nil, fmt.Errorf("open %s target: invalid DSN", d.name)
	}
	return db, nil
}

var reIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$#]*$`)

// ValidIdent reports whether name (a table, with an optional schema, or a
// column) is a plain identifier hpgate can quote safely.
func ValidIdent(name string) bool {
	for _, p := range strings.Split(name, ".") {
		if !reIdent.MatchString(p) {
			return false
		}
	}
	return name != ""
}

// Quote quotes a possibly schema-qualified identifier. On Oracle a name
// is upper-cased first, as Oracle reads it unquoted and as package
// sqlsource quotes it for the blind index's reads: a writeback file may
// name yb_cbry or YB_CBRY alike. Other databases keep the name's case
// (PostgreSQL's folded lower-case names are written in lower case).
func (d Dialect) Quote(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		switch d.name {
		case "mysql":
			parts[i] = "`" + p + "`"
		case "sqlserver":
			parts[i] = "[" + p + "]"
		case "oracle":
			parts[i] = `"` + strings.ToUpper(p) + `"`
		default:
			parts[i] = `"` + p + `"`
		}
	}
	return strings.Join(parts, ".")
}

// Placeholder returns the n-th (1-based) bind placeholder.
func (d Dialect) Placeholder(n int) string {
	switch d.name {
	case "postgres":
		return fmt.Sprintf("$%d", n)
	case "oracle":
		return fmt.Sprintf(":%d", n)
	case "sqlserver":
		return fmt.Sprintf("@p%d", n)
	case "sqlite":
		return fmt.Sprintf("?%d", n)
	}
	return "?"
}

// Select returns the query of the columns cols of the row whose key is
// the one bound argument.
func (d Dialect) Select(table, key string, cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = d.Quote(c)
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s = %s", strings.Join(q, ", "), d.Quote(table), d.Quote(key), d.Placeholder(1))
}

// Update returns the statement that sets cols of the row whose key is
// given, only where one of them differs (NULL-safe). Its arguments are
// UpdateArgs(key, values).
func (d Dialect) Update(table, key string, cols []string) string {
	var set, differ []string
	n := 1
	if d.name == "oracle" || d.name == "sqlserver" {
		n = 2 // the key comes first, in the USING clause
	}
	for i, c := range cols {
		qc, p := d.Quote(c), d.Placeholder(n)
		n++
		guard := p
		if d.name == "oracle" {
			// Oracle binds SQL placeholders by occurrence: each use gets
			// its own argument.
			guard = d.Placeholder(2 + len(cols) + i)
		}
		switch d.name {
		case "mysql":
			set = append(set, qc+" = "+p)
			differ = append(differ, "NOT ("+qc+" <=> "+p+")")
		case "postgres":
			set = append(set, qc+" = "+p)
			differ = append(differ, qc+" IS DISTINCT FROM "+p)
		case "sqlite":
			set = append(set, qc+" = "+p)
			differ = append(differ, qc+" IS NOT "+p)
		case "oracle":
			set = append(set, "t."+qc+" = "+p)
			differ = append(differ, "DECODE(t."+qc+", "+guard+", 0, 1) = 1")
		case "sqlserver":
			set = append(set, "t."+qc+" = "+p)
			differ = append(differ, "EXISTS (SELECT t."+qc+" EXCEPT SELECT "+p+")")
		}
	}
	t, k := d.Quote(table), d.Quote(key)
	switch d.name {
	case "oracle":
		return fmt.Sprintf("MERGE INTO %s t USING (SELECT %s AS k FROM dual) s ON (t.%s = s.k) WHEN MATCHED THEN UPDATE SET %s WHERE %s",
			t, d.Placeholder(1), k, strings.Join(set, ", "), strings.Join(differ, " OR "))
	case "sqlserver":
		return fmt.Sprintf("MERGE INTO %s AS t USING (SELECT %s AS k) AS s ON (t.%s = s.k) WHEN MATCHED AND (%s) THEN UPDATE SET %s;",
			t, d.Placeholder(1), k, strings.Join(differ, " OR "), strings.Join(set, ", "))
	}
	return fmt.Sprintf("UPDATE %s SET %s WHERE %s = %s AND (%s)", t, strings.Join(set, ", "), k, d.Placeholder(n), strings.Join(differ, " OR "))
}

// UpdateArgs returns the arguments of Update's statement. With numbered
// placeholders that bind by name (PostgreSQL, SQLite, SQL Server) a value
// is bound once and used twice (SET and the guard); MySQL's "?" and
// Oracle's positional binds need an argument for every use.
func (d Dialect) UpdateArgs(key any, values []any) []any {
	switch d.name {
	case "mysql":
		args := make([]any, 0, 2*len(values)+1)
		args = append(args, values...)
		args = append(args, key)
		return append(args, values...)
	case "oracle":
		args := append([]any{key}, values...)
		return append(args, values...)
	case "sqlserver":
		return append([]any{key}, values...)
	}
	return append(append([]any{}, values...), key)
}

// AuditTable is the audit table writeback keeps in a target database.
const AuditTable = "hpgate_writeback_audit"

// CreateAudit returns the DDL of the audit table. On MySQL, PostgreSQL and
// SQLite it is run at start (IF NOT EXISTS); for Oracle and SQL Server it is
// printed for the DBA by `hpgate writeback --print-audit-ddl`.
func (d Dialect) CreateAudit() string {
	text, ts := "VARCHAR(200)", "VARCHAR(40)"
	ifNot := "IF NOT EXISTS "
	switch d.name {
	case "oracle":
		text, ts, ifNot = "VARCHAR2(200)", "VARCHAR2(40)", ""
	case "sqlserver":
		text, ts, ifNot = "NVARCHAR(200)", "NVARCHAR(40)", ""
	}
	return fmt.Sprintf("CREATE TABLE %s%s (changed_at %s NOT NULL, writeback %s NOT NULL, target_table %s NOT NULL, row_key %s NOT NULL, "+
		"column_name %s NOT NULL, old_value %s, new_value %s, person_key %s NOT NULL, fact %s NOT NULL, authority %s NOT NULL)",
		ifNot, d.Quote(AuditTable), ts, text, text, text, text, text, text, text, text, text)
}

// InsertAudit returns the statement adding one audit row; its arguments
// are changed_at, writeback, target_table, row_key, column_name,
// old_value, new_value, person_key, fact, authority.
func (d Dialect) InsertAudit() string {
	ps := make([]string, 10)
	for i := range ps {
		ps[i] = d.Placeholder(i + 1)
	}
	return fmt.Sprintf("INSERT INTO %s (changed_at, writeback, target_table, row_key, column_name, old_value, new_value, person_key, fact, authority) VALUES (%s)",
		d.Quote(AuditTable), strings.Join(ps, ", "))
}
