package sqlsource_test

// The live PostgreSQL tests run against connectortest.Postgres: a private
// server that the test binary starts on first use and stops at its end, or
// the server of HPGATE_TEST_POSTGRES_DSN when that is set.

import (
	"database/sql"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/sqlsource"
)

func postgresHarness() connectortest.SourceHarness {
	return connectortest.SourceHarness{
		Open:           harnessOpen("postgres", func(t *testing.T) (*sql.DB, string) { return connectortest.Postgres(t) }),
		Now:            sourceNow,
		Placeholder:    func(n int) string { return fmt.Sprintf("$%d", n) },
		TimestampType:  "TIMESTAMP",
		IntType:        "BIGINT",
		TextType:       "VARCHAR(64)",
		BytesType:      "BYTEA",
		BytesLiteral:   func(b []byte) string { return "decode('" + hex.EncodeToString(b) + "', 'hex')" },
		SlowQuery:      "SELECT '2000-01-01 00:00:00'::text AS ts, 1::bigint AS id FROM pg_sleep(30)",
		Outage:         postgresOutage,
		NullTimestamps: nullTimestamps,
	}
}

func TestSourcePostgres(t *testing.T) {
	connectortest.SourceSuite(t, postgresHarness())
}

// postgresOutage points a source at a port nobody listens on.
func postgresOutage(t *testing.T) connectors.Source {
	return newSource(t, sqlsource.Config{Driver: "postgres", DSN: sqlsource.DSN("postgres://hpgate:secret@" + closedAddr(t) + "/his?sslmode=disable")})
}

// TestSourcePostgresTypes pages over keys whose text forms need care
// (bytea holding backslashes and invalid UTF-8, numeric, timestamptz with
// fractions) and checks the values' types: NUMERIC as exact decimal text,
// timestamps in the source's zone.
func TestSourcePostgresTypes(t *testing.T) {
	db, dsn := connectortest.Postgres(t)
	src := newSource(t, sqlsource.Config{Driver: "postgres", DSN: sqlsource.DSN(dsn)})
	mustExec(t, db, `CREATE TABLE t (
		k BYTEA NOT NULL, n NUMERIC(20,6) NOT NULL, ts TIMESTAMPTZ NOT NULL, d TIMESTAMP NOT NULL,
		amount NUMERIC(12,2), PRIMARY KEY (k, n))`)
	keys := []string{"00", "5c783431", "5c", "ff", "d5c5c8fd", "4a53303031"} // \x41 as text, a lone backslash, GBK
	for _, k := range keys {
		for _, n := range []string{"1.000001", "1.000002", "12345678901234.5"} {
			mustExec(t, db, "INSERT INTO t VALUES (decode($1, 'hex'), $2, '2019-03-01 10:00:00.123456+08', '2019-03-01 10:00:00.5', 12.50)", k, n)
		}
	}
	for _, mode := range []string{"incremental", "snapshot"} {
		t.Run(mode, func(t *testing.T) {
			st := connectors.Stream{Name: "t-" + mode, Table: "t", Mode: mode, KeyColumns: []string{"k", "n"}}
			if mode == "incremental" {
				st.TimestampColumn = "ts"
			}
			rows, cols, _ := readAll(t, src, st, "", 1)
			if want := len(keys) * 3; len(rows) != want {
				t.Fatalf("read %d rows, want %d", len(rows), want)
			}
			seen := map[string]bool{}
			for _, r := range rows {
				m := map[string]any{}
				for i, c := range cols {
					m[c] = r[i]
				}
				k, ok := m["k"].([]byte)
				if !ok {
					t.Fatalf("bytea is %T", m["k"])
				}
				id := fmt.Sprintf("%x/%v", k, m["n"])
				if seen[id] {
					t.Fatalf("row %s read twice", id)
				}
				seen[id] = true
				if a, ok := m["amount"].(string); !ok || a != "12.50" {
					t.Errorf("numeric amount: %T %v, want the string 12.50", m["amount"], m["amount"])
				}
				ts, ok := m["ts"].(time.Time)
				if !ok || ts.Format("2006-01-02 15:04:05.000000 -07:00") != "2019-03-01 10:00:00.123456 +08:00" {
					t.Errorf("timestamptz: %T %v", m["ts"], m["ts"])
				}
				d, ok := m["d"].(time.Time)
				if !ok || d.Format("2006-01-02 15:04:05.0 -07:00") != "2019-03-01 10:00:00.5 +08:00" {
					t.Errorf("timestamp: %T %v", m["d"], m["d"])
				}
			}
		})
	}
}
