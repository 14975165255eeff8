package sqlsource

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	go_ora "github.com/sijms/go-ora/v2"
	"github.com/sijms/go-ora/v2/network"
)

// oracleDialect serves Oracle 11g R2 and later through
// github.com/sijms/go-ora/v2 (pure Go, no Instant Client). The DSN is a
// go-ora URL, oracle://user:password@host:1521/service?options, which a
// source may also give as host, port, service, user and password_env or
// password_file (built with go_ora.BuildUrl).
//
// Names: a column or table name written as an unquoted Oracle identifier
// (letters, digits, _ $ #) is upper-cased, as Oracle does with unquoted
// names, so upd_time reads the column UPD_TIME; a name written in double
// quotes ("UpdTime") is used exactly.
//
// Sessions: every connection runs ALTER SESSION setting TIME_ZONE to the
// source's offset, NLS_SORT and NLS_COMP to BINARY (ORDER BY and the keyset
// comparisons then agree, and use the indexes, whatever a logon trigger or
// the client locale set), fixed NLS date, timestamp and number formats
// (for mapping filters and custom queries that compare with text).
//
// Cursor columns are described once per stream (see cursorTyper) and read
// and bound by type, each with a fixed format: a DATE as
// TO_CHAR(col, 'YYYY-MM-DD HH24:MI:SS') bound back with TO_DATE(:n, same),
// a TIMESTAMP with .FF9 and TO_TIMESTAMP, a TIMESTAMP WITH TIME ZONE with
// TZH:TZM and TO_TIMESTAMP_TZ. So a DATE column is compared with a DATE,
// never with the TIMESTAMP go-ora binds a time.Time as (which Oracle
// resolves by converting every row's DATE: a full scan). NUMBER keys are
// read as go-ora's exact decimal text and bound back as text, which Oracle
// converts to NUMBER on the bind side; text keys bind as VARCHAR2 (go-ora
// binds Go strings in the database character set, not as NVARCHAR2).
//
// Paging uses FETCH FIRST n ROWS ONLY on 12c and later and
// SELECT * FROM (…ordered…) WHERE ROWNUM <= n on 11g, chosen by
// server_version or, with auto (the default), read from
// PRODUCT_COMPONENT_VERSION at the first read.
//
// Values, as go-ora returns them (parameter.go, decodePrimValue): NUMBER as
// its exact decimal text (a string, never float64), VARCHAR2, NVARCHAR2,
// CHAR and CLOB as strings decoded from the database or national character
// set (ZHS16GBK, AL32UTF8, …) by go-ora, CHAR with its blank padding
// trimmed, RAW and BLOB as []byte, DATE and TIMESTAMP as time.Time with
// their wall clock placed in the source's zone, TIMESTAMP WITH TIME ZONE
// as the same instant in the source's zone, BINARY_DOUBLE as float64.
type oracleDialect struct {
	zone    string // "+08:00", rendered into the cut-off of TIMESTAMP WITH TIME ZONE columns
	version int    // major server version; 0 unknown (auto, not yet read)
	auto    bool   // the version is to be read from the server
}

func (d oracleDialect) configure(zone *time.Location, serverVersion string) (dialect, error) {
	d.zone = zoneOffset(zone)
	switch serverVersion {
	case "", "auto":
		d.auto = true
		return d, nil
	}
	v, err := strconv.Atoi(serverVersion)
	if err != nil || v < 11 {
		return nil, fmt.Errorf("%q is not an Oracle version such as 11, 12, 19 or auto", serverVersion)
	}
	d.version = v
	return d, nil
}

func (d oracleDialect) versionKnown() bool { return !d.auto }

func (oracleDialect) versionQuery() string {
	return "SELECT MAX(version) FROM product_component_version WHERE product LIKE 'Oracle%'"
}

// withServerVersion reads "19.0.0.0.0"; without it (no privilege) the
// ROWNUM form, which every version accepts, is kept.
func (d oracleDialect) withServerVersion(v any) (dialect, error) {
	d.auto = false
	n, err := majorVersion(v, "Oracle")
	if err != nil {
		return nil, err
	}
	if n > 0 {
		d.version = n
	}
	return d, nil
}

// majorVersion reads the major number of a server version string such as
// "19.0.0.0.0" or "15.0.2000.5"; 0 when the server did not say.
func majorVersion(v any, product string) (int, error) {
	s := strings.TrimSpace(asText(v))
	if s == "" {
		return 0, nil
	}
	major, _, _ := strings.Cut(s, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 0, fmt.Errorf("unrecognised %s version %q", product, s)
	}
	return n, nil
}

func (d oracleDialect) open(dsn string, zone *time.Location) (*sql.DB, error) {
	u, err := url.Parse(dsn)
	if err != nil || !strings.EqualFold(u.Scheme, "oracle") || u.Host == "" {
		return nil, errors.New("malformed oracle DSN: want oracle://user:password@host:1521/service (or host, port, service, user and password_env in the source block)")
	}
	for k, vs := range u.Query() {
		if strings.EqualFold(k, "lob fetch") && len(vs) > 0 && !strings.EqualFold(vs[0], "pre") && !strings.EqualFold(vs[0], "inline") {
			return nil, errors.New("lob fetch=" + vs[0] + " is not supported: CLOB values are read inline as text")
		}
	}
	setup := "ALTER SESSION SET TIME_ZONE = '" + zoneOffset(zone) + "'" +
		" NLS_SORT = 'BINARY' NLS_COMP = 'BINARY'" +
		" NLS_DATE_FORMAT = 'YYYY-MM-DD HH24:MI:SS'" +
		" NLS_TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9'" +
		" NLS_TIMESTAMP_TZ_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM'" +
		" NLS_NUMERIC_CHARACTERS = '.,'"
	return sql.OpenDB(initConnector{Connector: go_ora.NewConnector(dsn), setup: setup}), nil
}

// initConnector runs a session set-up statement on every new connection.
type initConnector struct {
	driver.Connector
	setup string
}

func (c initConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("the driver cannot run the session set-up")
	}
	if _, err := ex.ExecContext(ctx, c.setup, nil); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("session set-up: %w", err)
	}
	return conn, nil
}

func (oracleDialect) placeholder(n int) string { return ":" + strconv.Itoa(n) }

// oracleUnquoted matches names Oracle would read unquoted, and so upper-case.
var oracleUnquoted = regexp.MustCompile(`^[\p{L}][\p{L}\p{N}_$#]*$`)

func (oracleDialect) quoteIdent(name string) string {
	if len(name) > 2 && name[0] == '"' && name[len(name)-1] == '"' {
		name = name[1 : len(name)-1]
	} else if oracleUnquoted.MatchString(name) {
		name = strings.ToUpper(name)
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func (d oracleDialect) limit(query string, n int) string {
	if d.version >= 12 {
		return query + " FETCH FIRST " + strconv.Itoa(n) + " ROWS ONLY"
	}
	return "SELECT * FROM (" + query + ") WHERE ROWNUM <= " + strconv.Itoa(n)
}

// cursorExpr is the read-back before the column's type is known; the
// Source always describes Oracle cursors first (typedCursor).
func (oracleDialect) cursorExpr(col string, _ bool) string { return col }

// Fixed formats of the cursor read-back, independent of NLS settings.
const (
	oraDateFmt = "'YYYY-MM-DD HH24:MI:SS'"
	oraTSFmt   = "'YYYY-MM-DD HH24:MI:SS.FF9'"
	oraTSTZFmt = "'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM'"
)

func (d oracleDialect) typedCursor(col string, ct colType, _ bool) typedCursor {
	switch ct.name {
	case "DATE":
		return typedCursor{
			read:   "TO_CHAR(" + col + ", " + oraDateFmt + ")",
			value:  bindIn("TO_DATE(%s, " + oraDateFmt + ")"),
			cutoff: bindIn("TO_DATE(%s, " + oraDateFmt + ")"),
		}
	case "TIMESTAMP", "TimeStampDTY", "TimeStampeLTZ", "TimeStampLTZ_DTY":
		return typedCursor{
			read:   "TO_CHAR(" + col + ", " + oraTSFmt + ")",
			value:  bindIn("TO_TIMESTAMP(%s, " + oraTSFmt + ")"),
			cutoff: bindIn("TO_TIMESTAMP(%s, " + oraDateFmt + ")"),
		}
	case "TIMESTAMPTZ", "TimeStampTZ_DTY":
		return typedCursor{
			read:   "TO_CHAR(" + col + ", " + oraTSTZFmt + ")",
			value:  bindIn("TO_TIMESTAMP_TZ(%s, " + oraTSTZFmt + ")"),
			cutoff: bindIn("FROM_TZ(TO_TIMESTAMP(%s, " + oraDateFmt + "), '" + d.zone + "')"),
		}
	}
	// NUMBER arrives as exact decimal text and binds back as text, which
	// Oracle converts to the column's NUMBER; VARCHAR2, CHAR (padding
	// kept, so it compares equal) and RAW bind back as they are.
	return typedCursor{read: col}
}

// bindIn returns a wrapper putting a placeholder where tmpl has %s.
func bindIn(tmpl string) func(string) string {
	before, after, _ := strings.Cut(tmpl, "%s")
	return func(ph string) string { return before + ph + after }
}

func (oracleDialect) nowQuery() string {
	return "SELECT TO_CHAR(SYS_EXTRACT_UTC(SYSTIMESTAMP), 'YYYY-MM-DD HH24:MI:SS.FF6') FROM DUAL"
}

func (oracleDialect) parseNow(v any) (time.Time, error) { return clockValue(v) }

// timeArg is text; typedCursor wraps its placeholder in the conversion to
// the timestamp column's type.
func (oracleDialect) timeArg(t time.Time) any { return t.Format(time.DateTime) }

func (oracleDialect) columnValue(ct *sql.ColumnType, zone *time.Location) func(any) any {
	return oracleValue(ct.DatabaseTypeName(), zone)
}

// oracleValue is the conversion of the values of a column of database type
// typ (go-ora's DatabaseTypeName: its TNS type names, NCHAR for VARCHAR2 and
// NVARCHAR2, CHAR for CHAR and NCHAR, TimeStampDTY for TIMESTAMP, …).
func oracleValue(typ string, zone *time.Location) func(any) any {
	switch typ {
	case "CHAR":
		return trimPadding
	case "NUMBER":
		return oracleNumber
	case "DATE", "TIMESTAMP", "TimeStampDTY", "TimeStampeLTZ", "TimeStampLTZ_DTY":
		return func(v any) any {
			if t, ok := v.(time.Time); ok {
				return relabel(t, zone)
			}
			return v
		}
	case "TIMESTAMPTZ", "TimeStampTZ_DTY":
		return func(v any) any {
			if t, ok := v.(time.Time); ok {
				return t.In(zone)
			}
			return v
		}
	}
	return nil
}

// trimPadding drops the blanks that pad CHAR(n) values.
func trimPadding(v any) any {
	switch s := v.(type) {
	case string:
		return strings.TrimRight(s, " ")
	case []byte:
		return []byte(strings.TrimRight(string(s), " "))
	}
	return v
}

// oracleNumber keeps NUMBER values as exact decimal text. go-ora returns
// them as strings already (Number.String); a go_ora.Number, as its custom
// types may produce, is turned into the same text.
func oracleNumber(v any) any {
	var n *go_ora.Number
	switch x := v.(type) {
	case string:
		return strings.TrimSuffix(x, ".")
	case go_ora.Number:
		n = &x
	case *go_ora.Number:
		n = x
	default:
		return v
	}
	if n == nil {
		return nil
	}
	s, err := n.String()
	if err != nil {
		return v
	}
	return strings.TrimSuffix(s, ".")
}

func (oracleDialect) transient(err error) bool {
	var oe *network.OracleError
	return errors.As(err, &oe) && oracleTransientError(oe.ErrCode)
}

// oracleTransientError reports ORA- errors that are outages or contention,
// not mistakes in the config or the mapping.
func oracleTransientError(code int) bool {
	switch code {
	case 18, // maximum number of sessions exceeded
		20,                  // maximum number of processes exceeded
		28,                  // your session has been killed
		51,                  // timeout occurred while waiting for a resource
		54,                  // resource busy
		60,                  // deadlock detected
		1012,                // not logged on
		1013,                // user requested cancel (a query timeout)
		1033,                // initialization or shutdown in progress
		1034,                // ORACLE not available
		1089,                // immediate shutdown in progress
		1090,                // shutdown in progress
		1092,                // ORACLE instance terminated
		1555,                // snapshot too old
		2396,                // exceeded maximum idle time
		3113,                // end-of-file on communication channel
		3114,                // not connected to ORACLE
		3135,                // connection lost contact
		3136,                // inbound connection timed out
		12153,               // TNS: not connected
		12170,               // TNS: connect timeout
		12502,               // TNS: listener received no CONNECT_DATA
		12505,               // TNS: listener does not currently know of SID
		12514,               // TNS: listener does not currently know of service
		12516,               // TNS: listener could not find available handler
		12518,               // TNS: listener could not hand off client connection
		12519,               // TNS: no appropriate service handler found
		12520,               // TNS: no handler for the server type
		12521,               // TNS: instance not known
		12526, 12527, 12528, // TNS: instance in restricted mode or blocking
		12537, // TNS: connection closed
		12541, // TNS: no listener
		12543, // TNS: destination host unreachable
		12547, // TNS: lost contact
		12560, // TNS: protocol adapter error
		12571, // TNS: packet writer failure
		25408: // can not safely replay call
		return true
	}
	return false
}

func (d oracleDialect) indexQuery(table string) stmt {
	schema, name := splitTable(table)
	unq := func(s string) string {
		q := d.quoteIdent(s)
		return strings.ReplaceAll(q[1:len(q)-1], `""`, `"`)
	}
	if schema == "" {
		return stmt{
			text: "SELECT index_name, column_name FROM all_ind_columns WHERE table_owner = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AND table_name = :1 ORDER BY index_name, column_position",
			args: []any{unq(name)},
		}
	}
	return stmt{
		text: "SELECT index_name, column_name FROM all_ind_columns WHERE table_owner = :1 AND table_name = :2 ORDER BY index_name, column_position",
		args: []any{unq(schema), unq(name)},
	}
}

// asText reads a single text value as a driver returns it.
func asText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	}
	return fmt.Sprint(v)
}
