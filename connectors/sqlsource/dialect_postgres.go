package sqlsource

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresDialect serves PostgreSQL through github.com/jackc/pgx/v5/stdlib
// (database/sql). The DSN is a libpq URL ("postgres://user:pw@host/db") or
// keyword/value string ("host=… dbname=…"), as pgx.ParseConfig reads it.
//
// Identifiers are quoted, so they are case-sensitive: a column created
// unquoted as UPD_TIME is named upd_time.
//
// Unless the DSN sets them, sessions run with TimeZone set to the source's
// offset (so timestamptz values read, and compare with the cut-off, as
// wall clocks of that zone), DateStyle ISO and extra_float_digits 3 (so
// the text forms of cursor values are exact).
//
// Cursor values are read back as CAST(col AS text): bound back as text
// arguments, the server parses them with the column's own input function
// (the parameter takes the column's type), so every type round-trips
// exactly — text, bytea (as \x… hex), integers, numeric, timestamp and
// timestamptz (with its offset) — and compares under the column's collation
// as ORDER BY does.
//
// Values are as pgx returns them through database/sql: int64 for integer
// types, string for text and NUMERIC (exact decimal text, never float64),
// []byte for bytea, float64 for real and double precision, bool, and
// time.Time for timestamp, timestamptz and date, placed in the source's
// zone. CHAR(n) values keep their padding.
type postgresDialect struct{}

func (postgresDialect) open(dsn string, zone *time.Location) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// ParseConfigError's text quotes the DSN (password redacted at
		// best); keep only the underlying reason.
		var pe *pgconn.ParseConfigError
		for errors.As(err, &pe) {
			if err = pe.Unwrap(); err == nil {
				err = errors.New("invalid connection string")
			}
		}
		return nil, fmt.Errorf("malformed postgres DSN: %w", err)
	}
	set := func(key, value string) {
		for k := range cfg.RuntimeParams {
			if strings.EqualFold(k, key) {
				return
			}
		}
		cfg.RuntimeParams[key] = value
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = make(map[string]string)
	}
	set("timezone", postgresZone(zone))
	set("datestyle", "ISO")
	set("extra_float_digits", "3")
	return stdlib.OpenDB(*cfg), nil
}

// postgresZone names a fixed zone as a POSIX zone specification. PostgreSQL
// reads "+08:00" as POSIX, that is 8 hours west of Greenwich; "<+08>-08"
// is 8 hours east.
func postgresZone(zone *time.Location) string {
	_, off := time.Date(2000, 1, 1, 0, 0, 0, 0, zone).Zone()
	name, posix := '+', '-'
	if off < 0 {
		name, posix, off = '-', '+', -off
	}
	h, m := off/3600, off%3600/60
	if m == 0 {
		return fmt.Sprintf("<%c%02d>%c%02d", name, h, posix, h)
	}
	return fmt.Sprintf("<%c%02d%02d>%c%02d:%02d", name, h, m, posix, h, m)
}

func (postgresDialect) placeholder(n int) string { return "$" + strconv.Itoa(n) }

func (postgresDialect) quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func (postgresDialect) limit(query string, n int) string {
	return query + " LIMIT " + strconv.Itoa(n)
}

func (postgresDialect) cursorExpr(col string, _ bool) string {
	return "CAST(" + col + " AS text)"
}

// nowQuery reads the clock as a timestamp without time zone, the UTC wall
// clock, whatever the session's TimeZone.
func (postgresDialect) nowQuery() string { return "SELECT (now() AT TIME ZONE 'UTC')" }

func (postgresDialect) parseNow(v any) (time.Time, error) { return clockValue(v) }

// timeArg binds the cut-off as text: the parameter takes the timestamp
// column's type, so a timestamp column compares it as a wall clock with its
// index, a timestamptz column reads it in the session's TimeZone (the
// source's zone), and a text column holding the same layout compares it as
// text, which orders the same.
func (postgresDialect) timeArg(t time.Time) any { return t.Format(time.DateTime) }

// columnValue places dates and times in the source's zone: timestamp and
// date keep their wall clock (pgx labels them UTC), timestamptz keeps its
// instant. Other values are kept: NUMERIC already arrives as its exact
// decimal text.
func (postgresDialect) columnValue(ct *sql.ColumnType, zone *time.Location) func(any) any {
	switch strings.ToUpper(ct.DatabaseTypeName()) {
	case "TIMESTAMP", "DATE":
		return func(v any) any {
			if t, ok := v.(time.Time); ok {
				return relabel(t, zone)
			}
			return v
		}
	case "TIMESTAMPTZ":
		return func(v any) any {
			if t, ok := v.(time.Time); ok {
				return t.In(zone)
			}
			return v
		}
	}
	return nil
}

func (postgresDialect) transient(err error) bool {
	// A server error decides, also inside a ConnectError: a refused
	// password or an unknown database is a mistake, not an outage.
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return postgresTransientError(pe.Code)
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || pgconn.Timeout(err)
}

// postgresTransientError reports SQLSTATEs that are outages or contention,
// not mistakes in the config or the mapping.
func postgresTransientError(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"): // insufficient resources (too many connections, disk full, out of memory)
		return true
	}
	switch code {
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"55P03", // lock_not_available
		"57014", // query_canceled (statement_timeout)
		"57P01", // admin_shutdown
		"57P02", // crash_shutdown
		"57P03": // cannot_connect_now
		return true
	}
	return false
}

// indexQuery reads pg_index without LATERAL or WITH ORDINALITY, which
// older PostgreSQL-compatible servers lack; expression columns read as
// "(expression)".
func (d postgresDialect) indexQuery(table string) stmt {
	return stmt{
		text: "SELECT i.relname, COALESCE(a.attname, '(expression)') FROM pg_index x" +
			" JOIN pg_class i ON i.oid = x.indexrelid" +
			" JOIN generate_series(0, 31) AS k(n) ON k.n < x.indnatts" +
			" LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[k.n]" +
			" WHERE x.indrelid = CAST($1 AS regclass) ORDER BY i.relname, k.n",
		args: []any{quoteName(d, table)},
	}
}
