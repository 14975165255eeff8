package sqlsource_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/sqlsource"
)

// sqliteHarness runs the conformance suite on a SQLite file per case.
func sqliteHarness() connectortest.SourceHarness {
	return connectortest.SourceHarness{
		Open: harnessOpen("sqlite", func(t *testing.T) (*sql.DB, string) {
			path := filepath.Join(t.TempDir(), "source.db")
			return openSQLite(t, path), path
		}),
		Now:            sourceNow,
		Placeholder:    func(int) string { return "?" },
		TimestampType:  "DATETIME",
		IntType:        "INTEGER",
		TextType:       "TEXT",
		BytesType:      "BLOB",
		SlowQuery:      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000000000) SELECT '2000-01-01 00:00:00' AS ts, x AS id FROM c WHERE x = 4000000000",
		Outage:         sqliteOutage,
		NullTimestamps: nullTimestamps,
	}
}

func TestSourceSQLite(t *testing.T) {
	connectortest.SourceSuite(t, sqliteHarness())
}

func openSQLite(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// sqliteOutage is SQLite's outage: another process holds the file
// exclusively (SQLITE_BUSY), as during a long write or a backup copy.
func sqliteOutage(t *testing.T) connectors.Source {
	path := filepath.Join(t.TempDir(), "locked.db")
	db := openSQLite(t, path)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE events (id INTEGER PRIMARY KEY, ts TEXT)"); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		_ = conn.Close()
	})
	return newSource(t, sqlsource.Config{Driver: "sqlite", DSN: sqlsource.DSN(path)})
}
