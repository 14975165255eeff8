// Package sqlsource is hpgate's database/sql source: it reads legacy tables
// and IT staff's queries page by page, for every SQL database hpgate
// supports, and implements connectors.Source. Only the dialect differs
// between databases (MySQL and MariaDB, PostgreSQL and its compatibles,
// SQLite, Oracle, SQL Server). It writes nothing, keeps no position (the
// pipeline owns positions and passes them in) and does not import the
// pipeline.
//
// # Supported databases
//
//	driver     database and versions                          tested here
//	mysql      MySQL 5.6, 5.7, 8.0; MariaDB 10.3+               live (MariaDB), golden SQL
//	postgres   PostgreSQL 10+; Kingbase, openGauss (PG mode)    live (PostgreSQL), golden SQL
//	sqlite     SQLite 3 (modernc.org/sqlite)                    live, golden SQL
//	oracle     Oracle 11g R2 (ROWNUM), 12c, 19c (FETCH FIRST);  golden SQL, driver value
//	           ZHS16GBK and AL32UTF8 database character sets    conversions; live with HPGATE_TEST_ORACLE_DSN
//	sqlserver  SQL Server 2008 and 2008 R2 (TOP), 2012+, 2019   golden SQL, driver value
//	           (OFFSET FETCH); Chinese_PRC_* collations         conversions; live with HPGATE_TEST_MSSQL_DSN
//
// Kingbase and openGauss speak the PostgreSQL protocol and are read with
// the postgres driver in their PostgreSQL compatibility mode; the index
// query of hpgate check --live avoids LATERAL and WITH ORDINALITY for
// them. Their Oracle modes are not supported.
//
// # Keyset reads
//
// An incremental stream names a timestamp column ts and one or more unique
// key columns k1, k2, …; together they order the rows totally, and a
// position holds the last row's (ts, k1, k2) values. The next page is
//
//	SELECT … WHERE ts <= :cutoff
//	  AND (ts > :ts OR (ts = :ts AND (k1 > :k1 OR (k1 = :k1 AND k2 > :k2))))
//	ORDER BY ts, k1, k2 LIMIT n
//
// which resumes strictly after the position, so rows that share a
// timestamp across a page boundary are neither lost nor repeated, and which
// costs the same on page 1000 as on page 1 given an index on (ts, k1, k2).
// The predicate is written out in this expanded form, never as the row
// constructor (ts, k1, k2) > (?, ?, ?): MariaDB does not turn the row
// constructor into an index range (measured 35× slower, and quadratic over
// a 1M-row table), while it does for the expanded form (a test checks the
// plan with EXPLAIN). All comparison and ordering is the database's,
// under the column's own collation; the cursor values are read back in a
// form that binds back exactly (see the dialects), so a position means the
// same thing to the database as the row it came from.
//
// A snapshot stream reads the whole table the same way, paged by its key
// columns alone; detecting what changed since the last snapshot is the
// pipeline's job.
//
// # Settle delay
//
// A row's timestamp is usually set when its transaction starts, or by the
// application, but the row becomes visible when the transaction commits. A
// row committed late can therefore carry a timestamp older than rows
// already read, and a keyset read that had passed it would never see it.
// Incremental reads therefore take only rows with ts <= now - settle delay
// (default 5s), where now is the database's own clock: a late row is then
// read as long as it commits within the delay. The cut-off is truncated to
// the second, which only makes it earlier.
//
// Rows whose timestamp is NULL cannot be ordered by it and are never read
// in incremental mode. They are not skipped silently: every Source counts
// them per stream (Stats.NullTimestamps, refreshed every few minutes, and a
// warning in the log), and a mapping reads them in snapshot mode with the
// row filter "ts IS NULL" (or a custom query that substitutes a fallback
// column). connectors.Stream has no field for a fallback timestamp column.
//
// # Time zones
//
// Legacy DATE and DATETIME values are naive. A source declares the zone
// they are in as a fixed offset (time_zone, default +08:00): many database
// servers have no zone tables, and a fixed offset needs none. "Now" is read
// from the database as UTC (UTC_TIMESTAMP() on MySQL) and converted to that
// zone in hpgate, so a server running in UTC and tables written in Beijing
// time still agree; the cut-off is then bound as the zone's wall clock, as
// a value the timestamp column compares natively (a DATETIME compares with
// "2006-01-02 15:04:05" text using its index). MySQL sessions also run with
// time_zone set to the offset, so TIMESTAMP columns read and compare as the
// same wall clocks. A time.Time in a Batch carries the stored wall clock in
// the source's zone.
//
// # Values
//
// Rows hold what the driver returns, with the dialect's conversions: see
// each dialect's type comment for Oracle (NUMBER as exact decimal text,
// CHAR trimmed, text decoded from the database character set by go-ora)
// and SQL Server (DECIMAL and MONEY as exact text, VARCHAR decoded from
// the collation's code page by go-mssqldb, uniqueidentifier as text). With
// mysql, []byte for text, DECIMAL
// and dates (the session reads results in the binary character set, so
// text is the bytes stored: UTF-8 from utf8mb4 columns, GBK bytes from gbk
// columns and from latin1 columns that legacy programs filled with GBK;
// decoding is declared per column in the mapping), int64, float64 and nil.
// Every []byte is copied out of the driver's buffer into an arena the Batch
// owns, and rows are carved from slabs, so a page costs a few allocations
// beyond those the driver makes.
//
// Oracle and SQL Server dialects describe the cursor columns once per
// stream (a zero-row SELECT of them) and read and bind each by its type
// with a fixed format (TO_CHAR/TO_DATE, CONVERT style 121), so a cursor
// value binds back as the column's own type and the comparison uses the
// index; see dialect_oracle.go and dialect_sqlserver.go. Their paging form
// depends on the server version (server_version, or read from the server
// at the first read).
//
// # Checks
//
// CheckStream checks a custom query without a database (one SELECT, no
// placeholders, no top-level ORDER BY or limit, cursor columns selected);
// Source.CheckLive runs a stream's first page on the database and reads
// the table's indexes (information_schema.STATISTICS, pg_index,
// ALL_IND_COLUMNS, sys.index_columns, pragma index_list) to warn when none
// leads with the cursor columns. hpgate check calls both.
//
// # Adding a dialect
//
// Write dialect_<name>.go implementing the dialect interface of dialect.go:
// open (validate the DSN and set session options, without dialling),
// placeholders, identifier quoting, the limit clause, the cursor read-back
// expression, the UTC clock query, the cut-off's bind type, the per-column
// value conversion, the driver's transient errors and the index query;
// and, where the database needs them, cursorTyper (binds by column type),
// configurable and versioned (server version). The paging SQL itself
// is shared (keyset.go). Then add it to lookupDialect and Drivers, add it to
// the golden SQL of keyset_test.go, and run connectortest.SourceSuite
// against it, live where a server can run here and gated on an
// HPGATE_TEST_<NAME>_DSN variable where none can.
package sqlsource
