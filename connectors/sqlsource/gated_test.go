package sqlsource_test

// Oracle and SQL Server cannot run here: their conformance runs need a
// test instance, named by HPGATE_TEST_ORACLE_DSN
// (oracle://user:password@host:1521/service) or HPGATE_TEST_MSSQL_DSN
// (sqlserver://user:password@host:1433?database=db). The user needs to
// create and drop tables in that schema or database; each case drops the
// suite's tables (events, doc_lines, people) before and after it.

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"testing"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/sqlsource"
)

// gatedOpen returns the test instance of env as a database handle with
// the source's own session settings, after dropping the suite's tables.
func gatedOpen(t *testing.T, env, driver string, drop func(table string) string) (*sql.DB, string) {
	t.Helper()
	dsn := os.Getenv(env)
	if dsn == "" {
		t.Skipf("%s is not set: no %s test instance (see README, Sites with a test instance)", env, driver)
	}
	// The handle goes through a Source's own pool so that inserts of text
	// timestamps read them with the same session formats.
	src := newSource(t, sqlsource.Config{Driver: driver, DSN: sqlsource.DSN(dsn)})
	db := sqlsource.DB(src)
	clean := func() {
		for _, table := range []string{"events", "doc_lines", "people"} {
			_, _ = db.ExecContext(context.Background(), drop(table))
		}
	}
	clean()
	t.Cleanup(clean)
	return db, dsn
}

func oracleHarness() connectortest.SourceHarness {
	return connectortest.SourceHarness{
		Open: harnessOpen("oracle", func(t *testing.T) (*sql.DB, string) {
			return gatedOpen(t, "HPGATE_TEST_ORACLE_DSN", "oracle", func(table string) string {
				return "BEGIN EXECUTE IMMEDIATE 'DROP TABLE " + table + " PURGE'; EXCEPTION WHEN OTHERS THEN NULL; END;"
			})
		}),
		Now:               sourceNow,
		Placeholder:       func(n int) string { return fmt.Sprintf(":%d", n) },
		TimestampType:     "DATE",
		IntType:           "NUMBER(19)",
		TextType:          "VARCHAR2(64)",
		BytesType:         "RAW(64)",
		BytesLiteral:      func(b []byte) string { return "HEXTORAW('" + hex.EncodeToString(b) + "')" },
		EmptyBytesAreNull: true,
		SlowQuery:         "SELECT '2000-01-01 00:00:00' AS ts, COUNT(*) AS id FROM all_objects a, all_objects b, all_objects c",
		Outage: func(t *testing.T) connectors.Source {
			return newSource(t, sqlsource.Config{Driver: "oracle", DSN: sqlsource.DSN("oracle://hpgate:secret@" + closedAddr(t) + "/ORCLPDB1")})
		},
		NullTimestamps: nullTimestamps,
	}
}

func mssqlHarness() connectortest.SourceHarness {
	return connectortest.SourceHarness{
		Open: harnessOpen("sqlserver", func(t *testing.T) (*sql.DB, string) {
			return gatedOpen(t, "HPGATE_TEST_MSSQL_DSN", "sqlserver", func(table string) string {
				return "IF OBJECT_ID('" + table + "') IS NOT NULL DROP TABLE " + table
			})
		}),
		Now:           sourceNow,
		Placeholder:   func(n int) string { return fmt.Sprintf("@p%d", n) },
		TimestampType: "DATETIME",
		IntType:       "BIGINT",
		TextType:      "NVARCHAR(64)",
		BytesType:     "VARBINARY(64)",
		BytesLiteral:  func(b []byte) string { return "0x" + hex.EncodeToString(b) },
		SlowQuery:     "SELECT '2000-01-01 00:00:00' AS ts, COUNT_BIG(*) AS id FROM sys.all_objects a CROSS JOIN sys.all_objects b CROSS JOIN sys.all_objects c",
		Outage: func(t *testing.T) connectors.Source {
			return newSource(t, sqlsource.Config{Driver: "sqlserver", DSN: sqlsource.DSN("sqlserver://hpgate:secret@" + closedAddr(t) + "?database=his")})
		},
		NullTimestamps: nullTimestamps,
	}
}

func TestSourceOracle(t *testing.T) {
	if os.Getenv("HPGATE_TEST_ORACLE_DSN") == "" {
		t.Skip("HPGATE_TEST_ORACLE_DSN is not set: no Oracle test instance (see README, Sites with a test instance)")
	}
	connectortest.SourceSuite(t, oracleHarness())
}

func TestSourceSQLServer(t *testing.T) {
	if os.Getenv("HPGATE_TEST_MSSQL_DSN") == "" {
		t.Skip("HPGATE_TEST_MSSQL_DSN is not set: no SQL Server test instance (see README, Sites with a test instance)")
	}
	connectortest.SourceSuite(t, mssqlHarness())
}
