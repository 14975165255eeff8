package sqlsource

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"testing"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
)

// TestSourceMariaDBUsesIndex checks with EXPLAIN that the page statements
// are index range scans on (ts, keys), for a first page and a later one:
// neither the expanded keyset predicate, nor the cut-off, nor arguments
// bound as utf8mb4 text against a latin1, utf8mb3 or gbk key may turn a page
// into a table scan.
func TestSourceMariaDBUsesIndex(t *testing.T) {
	_, dsn := connectortest.MariaDB(t)
	// EXPLAIN through the source's own pool: the same session settings
	// and the same client-side interpolation of arguments as Read.
	src, err := New("explain", Config{Driver: "mysql", DSN: DSN(dsn)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	db := src.db
	ctx := context.Background()
	d := mysqlDialect{}
	for _, keyType := range []string{
		"BIGINT",
		"VARCHAR(20) CHARACTER SET latin1",
		"VARCHAR(20) CHARACTER SET utf8mb3",
		"VARCHAR(20) CHARACTER SET gbk",
	} {
		t.Run(keyType, func(t *testing.T) {
			for _, q := range []string{
				"DROP TABLE IF EXISTS s",
				fmt.Sprintf(`CREATE TABLE s (id %s NOT NULL, line INT NOT NULL, ts DATETIME NOT NULL, v VARCHAR(200),
					PRIMARY KEY (id, line), KEY ts_id (ts, id, line))`, keyType),
				`INSERT INTO s SELECT seq, 1, '2019-01-01 00:00:00' + INTERVAL (seq DIV 7) MINUTE, REPEAT('x', 100) FROM seq_1_to_20000`,
				"ANALYZE TABLE s",
			} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			p, err := newPlan(d, connectors.Stream{Name: "s", Table: "s", TimestampColumn: "ts", KeyColumns: []string{"id", "line"}})
			if err != nil {
				t.Fatal(err)
			}
			// 20,000 rows, 7 a minute from 2019-01-01 00:00 to 01-02 23:37.
			for _, page := range []struct {
				name    string
				after   []any
				maxRows int64 // the optimizer's estimate of rows examined
			}{
				{"first page", nil, 20000},
				// About 260 rows lie after this position: a range that
				// ignored the expanded predicate would examine 20,000.
				{"later page", []any{"2019-01-02 23:00:00", "19600", "1"}, 2000},
			} {
				q := p.page(d, page.after, "2019-01-03 00:00:00", 5000)
				typ, key, rows := explainFirst(t, db, q)
				if typ != "range" || key != "ts_id" || rows > page.maxRows {
					t.Errorf("%s: access type %q key %q rows %d, want a range on ts_id of at most %d rows\n%s",
						page.name, typ, key, rows, page.maxRows, q.text)
				}
			}
		})
	}
}

// explainFirst returns the access type, key and estimated rows of the
// first row of EXPLAIN q.
func explainFirst(t *testing.T, db *sql.DB, q stmt) (typ, key string, n int64) {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "EXPLAIN "+q.text, q.args...)
	if err != nil {
		t.Fatalf("EXPLAIN: %v\n%s", err, q.text)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatalf("EXPLAIN returned no row: %v", rows.Err())
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	for i, c := range cols {
		switch c {
		case "type":
			typ = vals[i].String
		case "key":
			key = vals[i].String
		case "rows":
			n, _ = strconv.ParseInt(vals[i].String, 10, 64)
		}
	}
	return typ, key, n
}
