package sqlsource

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"
)

// sqlserverDialect serves SQL Server 2008 R2 and later through
// github.com/microsoft/go-mssqldb (driver name "sqlserver"). The DSN is
// the driver's URL, sqlserver://user:password@host:1433?database=his (or
// its ADO and ODBC forms), which a source may also give as host, port,
// database, user and password_env or password_file.
//
// Sessions run SET DEADLOCK_PRIORITY LOW (on a live HIS, hpgate's read
// is the one to give way) and SET DATEFORMAT ymd (so text dates in
// mapping filters read as year-month-day), on every connection and again
// whenever the pool reuses one (the driver's SessionInitSQL).
//
// Cursor columns are described once per stream (see cursorTyper) and read
// and bound by type: datetime as CONVERT(varchar(23), col, 121) bound back
// with CONVERT(datetime, @pN, 121), so a value keeps its exact 1/300 s
// tick (a time.Time bound as datetime2 would be compared with the
// datetime converted exactly, .00333…, and never be equal on SQL Server
// 2016 and later); datetime2 and datetimeoffset likewise at the column's
// own scale, smalldatetime and date with styles 120 and 23;
// uniqueidentifier keys bound back through CAST(@pN AS uniqueidentifier).
// Text keys bind as nvarchar: under the Windows collations Chinese
// counties use (Chinese_PRC_CI_AS, Chinese_PRC_90_CI_AS, …) SQL Server
// still seeks the index of a varchar column through that conversion; under
// a SQL_* collation it scans, so give such a key an nvarchar column or a
// computed one.
//
// Paging uses OFFSET 0 ROWS FETCH NEXT n ROWS ONLY on SQL Server 2012 and
// later and TOP (n) on 2008 and 2008 R2, chosen by server_version or, with
// auto (the default), read from SERVERPROPERTY('ProductVersion') at the
// first read.
//
// Values, as go-mssqldb returns them (types.go): VARCHAR, CHAR and TEXT as
// strings that the driver decodes from the column collation's code page
// (code page 936, GBK, for the Chinese_PRC collations: internal/cp), so a
// mapping must not declare encoding: gbk for them; NVARCHAR as strings;
// CHAR and NCHAR with their padding trimmed; DECIMAL, NUMERIC, MONEY and
// SMALLMONEY as exact decimal text ([]byte, never float64); integers as
// int64; UNIQUEIDENTIFIER as its canonical text
// (6F9619FF-8B86-D011-B42D-00C04FC964FF); datetime, datetime2,
// smalldatetime and date as time.Time with their wall clock placed in the
// source's zone; datetimeoffset as the same instant in the source's zone;
// VARBINARY as []byte.
type sqlserverDialect struct {
	zone  string // "+08:00", rendered into the cut-off of datetimeoffset columns
	major int    // major server version (10: 2008 and 2008 R2, 11: 2012, …); 0 unknown
	auto  bool   // the version is to be read from the server
}

// sqlserverMajors maps product years to major versions.
var sqlserverMajors = map[string]int{
	"2008": 10, "2008R2": 10, "2008 R2": 10, "2012": 11, "2014": 12, "2016": 13,
	"2017": 14, "2019": 15, "2022": 16, "2025": 17,
}

func (d sqlserverDialect) configure(zone *time.Location, serverVersion string) (dialect, error) {
	d.zone = zoneOffset(zone)
	switch serverVersion {
	case "", "auto":
		d.auto = true
		return d, nil
	}
	major, ok := sqlserverMajors[strings.ToUpper(serverVersion)]
	if !ok {
		return nil, fmt.Errorf("%q is not a SQL Server version such as 2008, 2008R2, 2012, 2019 or auto", serverVersion)
	}
	d.major = major
	return d, nil
}

func (d sqlserverDialect) versionKnown() bool { return !d.auto }

func (sqlserverDialect) versionQuery() string {
	return "SELECT CAST(SERVERPROPERTY('ProductVersion') AS varchar(32))"
}

// withServerVersion reads "15.0.2000.5"; without it, TOP, which every
// version accepts, is used.
func (d sqlserverDialect) withServerVersion(v any) (dialect, error) {
	d.auto = false
	n, err := majorVersion(v, "SQL Server")
	if err != nil {
		return nil, err
	}
	if n > 0 {
		d.major = n
	}
	return d, nil
}

func (sqlserverDialect) open(dsn string, _ *time.Location) (*sql.DB, error) {
	cfg, err := msdsn.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("malformed sqlserver DSN: %s", hideSecret(err.Error(), dsn))
	}
	if cfg.Encoding.GuidConversion {
		return nil, errors.New("guid conversion=true is not supported: uniqueidentifier values are converted by hpgate")
	}
	c := mssql.NewConnectorConfig(cfg)
	c.SessionInitSQL = "SET DEADLOCK_PRIORITY LOW; SET DATEFORMAT ymd;"
	return sql.OpenDB(c), nil
}

// hideSecret removes the DSN and its password from a driver's message.
func hideSecret(msg, dsn string) string {
	msg = strings.ReplaceAll(msg, dsn, maskDSN(dsn))
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "***")
		}
	}
	for _, m := range passwordParam.FindAllStringSubmatch(dsn, -1) {
		if pw := strings.TrimPrefix(m[0], m[1]); pw != "" {
			msg = strings.ReplaceAll(msg, pw, "***")
		}
	}
	return msg
}

func (sqlserverDialect) placeholder(n int) string { return "@p" + strconv.Itoa(n) }

func (sqlserverDialect) quoteIdent(name string) string {
	return "[" + strings.ReplaceAll(name, "]", "]]") + "]"
}

func (d sqlserverDialect) limit(query string, n int) string {
	if d.major >= 11 {
		return query + " OFFSET 0 ROWS FETCH NEXT " + strconv.Itoa(n) + " ROWS ONLY"
	}
	rest, _ := strings.CutPrefix(query, "SELECT ")
	return "SELECT TOP (" + strconv.Itoa(n) + ") " + rest
}

// cursorExpr is the read-back before the column's type is known; the
// Source always describes SQL Server cursors first (typedCursor).
func (sqlserverDialect) cursorExpr(col string, _ bool) string { return col }

func (d sqlserverDialect) typedCursor(col string, ct colType, _ bool) typedCursor {
	scale := func() string {
		if ct.known {
			return strconv.FormatInt(ct.scale, 10)
		}
		return "7"
	}
	switch ct.name {
	case "DATETIME":
		return typedCursor{
			read:   "CONVERT(varchar(23), " + col + ", 121)",
			value:  bindIn("CONVERT(datetime, %s, 121)"),
			cutoff: bindIn("CONVERT(datetime, %s, 120)"),
		}
	case "SMALLDATETIME":
		return typedCursor{
			read:   "CONVERT(varchar(19), " + col + ", 120)",
			value:  bindIn("CONVERT(smalldatetime, %s, 120)"),
			cutoff: bindIn("CONVERT(smalldatetime, %s, 120)"),
		}
	case "DATETIME2":
		t := "datetime2(" + scale() + ")"
		return typedCursor{
			read:   "CONVERT(varchar(27), " + col + ", 121)",
			value:  bindIn("CONVERT(" + t + ", %s, 121)"),
			cutoff: bindIn("CONVERT(" + t + ", %s, 120)"),
		}
	case "DATETIMEOFFSET":
		return typedCursor{
			read:   "CONVERT(varchar(34), " + col + ", 121)",
			value:  bindIn("CONVERT(datetimeoffset(" + scale() + "), %s, 121)"),
			cutoff: bindIn("TODATETIMEOFFSET(CONVERT(datetime2(0), %s, 120), '" + d.zone + "')"),
		}
	case "DATE":
		return typedCursor{
			read:   "CONVERT(varchar(10), " + col + ", 23)",
			value:  bindIn("CONVERT(date, %s, 23)"),
			cutoff: bindIn("CONVERT(date, %s, 120)"),
		}
	case "UNIQUEIDENTIFIER":
		return typedCursor{read: col, value: bindIn("CAST(%s AS uniqueidentifier)")}
	}
	// Integers bind as bigint, DECIMAL and MONEY as their exact text
	// (converted to the column's type on the bind side), text as nvarchar.
	return typedCursor{read: col}
}

func (sqlserverDialect) nowQuery() string {
	return "SELECT CONVERT(varchar(27), SYSUTCDATETIME(), 121)"
}

func (sqlserverDialect) parseNow(v any) (time.Time, error) { return clockValue(v) }

// timeArg is text; typedCursor wraps its placeholder in the conversion to
// the timestamp column's type.
func (sqlserverDialect) timeArg(t time.Time) any { return t.Format(time.DateTime) }

func (sqlserverDialect) columnValue(ct *sql.ColumnType, zone *time.Location) func(any) any {
	return sqlserverValue(ct.DatabaseTypeName(), zone)
}

// sqlserverValue is the conversion of the values of a column of database
// type typ (go-mssqldb's DatabaseTypeName).
func sqlserverValue(typ string, zone *time.Location) func(any) any {
	switch typ {
	case "CHAR", "NCHAR":
		return trimPadding
	case "UNIQUEIDENTIFIER":
		return guidText
	case "DATETIME", "DATETIME2", "SMALLDATETIME", "DATE":
		return func(v any) any {
			if t, ok := v.(time.Time); ok {
				return relabel(t, zone)
			}
			return v
		}
	case "DATETIMEOFFSET":
		return func(v any) any {
			if t, ok := v.(time.Time); ok {
				return t.In(zone)
			}
			return v
		}
	}
	return nil
}

// guidText turns the 16 bytes go-mssqldb returns for a uniqueidentifier
// (in SQL Server's mixed-endian order) into its canonical text.
func guidText(v any) any {
	b, ok := v.([]byte)
	if !ok {
		return v
	}
	var u mssql.UniqueIdentifier
	if err := u.Scan(b); err != nil {
		return v
	}
	return u.String()
}

func (sqlserverDialect) transient(err error) bool {
	var me mssql.Error
	if errors.As(err, &me) {
		return sqlserverTransientError(me.Number)
	}
	var se mssql.StreamError
	return errors.As(err, &se)
}

// sqlserverTransientError reports server errors that are outages or
// contention, not mistakes in the config or the mapping.
func sqlserverTransientError(number int32) bool {
	switch number {
	case -2, // client timeout
		233,      // no process is on the other end of the pipe
		701,      // insufficient system memory
		976,      // database not accessible (availability group secondary)
		978, 983, // availability replica not readable
		1204,                // cannot obtain a lock resource
		1205,                // deadlock victim
		1222,                // lock request time out
		3948,                // transaction terminated by availability group
		6005,                // SHUTDOWN is in progress
		8645,                // timeout waiting for memory
		8651,                // low memory
		10053, 10054, 10060, // transport-level errors
		10928, 10929, // resource limits (Azure SQL)
		17142,                      // server paused
		40143, 40197, 40501, 40613, // service busy or failing over (Azure SQL)
		49918, 49919, 49920: // not enough resources, too many operations
		return true
	}
	return false
}

func (d sqlserverDialect) indexQuery(table string) stmt {
	return stmt{
		text: "SELECT i.name, c.name FROM sys.indexes i" +
			" JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id AND ic.is_included_column = 0" +
			" JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id" +
			" WHERE i.object_id = OBJECT_ID(@p1) ORDER BY i.name, ic.key_ordinal",
		args: []any{quoteName(d, table)},
	}
}
