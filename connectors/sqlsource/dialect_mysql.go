package sqlsource

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mysqlDialect serves MySQL and MariaDB through go-sql-driver/mysql.
//
// Sessions run with character_set_results=binary, so every text column
// arrives as the bytes it stores: UTF-8 from utf8mb4 columns, GBK bytes from
// gbk columns and from latin1 columns that legacy programs filled with GBK.
// Decoding is the mapping's job, declared per column; a server conversion
// to UTF-8 would turn GBK-in-latin1 into mojibake. Sessions also run with
// time_zone set to the source's offset, so TIMESTAMP columns read and
// compare as wall clocks of that zone, like DATETIME columns.
//
// Cursor values are read through cursorExpr as binary strings holding the
// UTF-8 form of non-binary columns and the raw bytes of binary ones: bound
// back as arguments, the server converts them to the column's character set
// and compares them under its collation, exactly as ORDER BY does (tested
// for latin1, gbk, varbinary, integer, decimal and datetime columns).
type mysqlDialect struct{}

func (mysqlDialect) open(dsn string, zone *time.Location) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("malformed mysql DSN: %w", err)
	}
	if cfg.ParseTime {
		return nil, errors.New("parseTime=true is not supported: DATETIME values are read as text and interpreted in time_zone")
	}
	// Mapping filters and bound values are UTF-8; results come back as
	// stored whatever the connection character set.
	if cs := dsnParam(dsn, "charset"); cs != "" && !utf8Charsets(cs) {
		return nil, fmt.Errorf("charset=%s is not supported: the connection must be utf8mb4 (text still arrives as the bytes stored)", cs)
	}
	if cfg.Collation != "" && !strings.HasPrefix(cfg.Collation, "utf8") {
		return nil, fmt.Errorf("collation=%s is not supported: the connection must be utf8mb4", cfg.Collation)
	}
	if cfg.Params == nil {
		cfg.Params = make(map[string]string)
	}
	if _, ok := cfg.Params["time_zone"]; !ok {
		cfg.Params["time_zone"] = "'" + zoneOffset(zone) + "'"
	}
	if _, ok := cfg.Params["character_set_results"]; !ok {
		cfg.Params["character_set_results"] = "binary"
	}
	// One round trip per page instead of prepare, execute and close, and
	// the text protocol, whose rows need fewer allocations. Escaping is
	// safe for the utf8 connection character sets required above.
	cfg.InterpolateParams = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql DSN: %w", err)
	}
	return sql.OpenDB(conn), nil
}

func (mysqlDialect) placeholder(int) string { return "?" }

func (mysqlDialect) quoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

func (mysqlDialect) limit(query string, n int) string {
	return query + " LIMIT " + strconv.Itoa(n)
}

func (mysqlDialect) cursorExpr(col string, _ bool) string {
	return "CASE WHEN CHARSET(" + col + ") = 'binary' THEN CAST(" + col + " AS BINARY)" +
		" ELSE CAST(CONVERT(" + col + " USING utf8mb4) AS BINARY) END"
}

// nowQuery has no fraction: the cut-off is whole seconds, and MySQL 5.5,
// still found in county data centres, has no UTC_TIMESTAMP(6).
func (mysqlDialect) nowQuery() string { return "SELECT UTC_TIMESTAMP()" }

func (mysqlDialect) parseNow(v any) (time.Time, error) { return clockValue(v) }

// timeArg binds the cut-off as text: MySQL converts it to the column's
// DATETIME, TIMESTAMP or DATE type and keeps the index range; a text column
// holding the same layout compares it as text, which orders the same.
func (mysqlDialect) timeArg(t time.Time) any { return t.Format(time.DateTime) }

// columnValue keeps the driver's values: with parseTime refused, dates and
// times arrive as text, and text as the bytes stored.
func (mysqlDialect) columnValue(*sql.ColumnType, *time.Location) func(any) any { return nil }

func (mysqlDialect) transient(err error) bool {
	if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, mysql.ErrMalformPkt) {
		return true
	}
	var me *mysql.MySQLError
	return errors.As(err, &me) && mysqlTransientError(me.Number)
}

// mysqlTransientError reports server errors that are outages or
// contention, not mistakes in the config or the mapping.
func mysqlTransientError(number uint16) bool {
	switch number {
	case 1040, // ER_CON_COUNT_ERROR: too many connections
		1053, // ER_SERVER_SHUTDOWN
		1152, // ER_ABORTING_CONNECTION
		1158, // ER_NET_READ_ERROR
		1159, // ER_NET_READ_INTERRUPTED
		1160, // ER_NET_ERROR_ON_WRITE
		1161, // ER_NET_WRITE_INTERRUPTED
		1203, // ER_TOO_MANY_USER_CONNECTIONS
		1205, // ER_LOCK_WAIT_TIMEOUT
		1213, // ER_LOCK_DEADLOCK
		1226, // ER_USER_LIMIT_REACHED
		1317, // ER_QUERY_INTERRUPTED
		1927, // ER_CONNECTION_KILLED (MariaDB)
		1969, // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
		3024, // ER_QUERY_TIMEOUT (MySQL max_execution_time)
		4031: // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8)
		return true
	}
	return false
}

// dsnParam returns the value of a go-sql-driver DSN parameter that
// mysql.Config does not expose, or "".
func dsnParam(dsn, key string) string {
	slash := strings.LastIndex(dsn, "/")
	if slash < 0 {
		return ""
	}
	_, query, ok := strings.Cut(dsn[slash:], "?")
	if !ok {
		return ""
	}
	v, err := url.ParseQuery(query)
	if err != nil {
		return ""
	}
	return v.Get(key)
}

// utf8Charsets reports whether a charset list ("utf8mb4,utf8") names only
// UTF-8 character sets.
func utf8Charsets(list string) bool {
	for cs := range strings.SplitSeq(list, ",") {
		switch strings.ToLower(strings.TrimSpace(cs)) {
		case "utf8mb4", "utf8", "utf8mb3":
		default:
			return false
		}
	}
	return true
}

// zoneOffset formats the offset of a fixed zone as "+08:00".
func zoneOffset(zone *time.Location) string {
	_, off := time.Date(2000, 1, 1, 0, 0, 0, 0, zone).Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("%c%02d:%02d", sign, off/3600, off%3600/60)
}

// relabel keeps the wall clock of t and places it in zone.
func relabel(t time.Time, zone *time.Location) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), zone)
}

func (mysqlDialect) indexQuery(table string) stmt {
	schema, name := splitTable(table)
	const q = "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX"
	if schema == "" {
		return stmt{text: fmt.Sprintf(q, "DATABASE()"), args: []any{name}}
	}
	return stmt{text: fmt.Sprintf(q, "?"), args: []any{schema, name}}
}
