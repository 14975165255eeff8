package sqlsource_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/sqlsource"
)

// mariadbHarness runs the conformance suite on a fresh database of the
// test binary's MariaDB per case.
func mariadbHarness() connectortest.SourceHarness {
	return connectortest.SourceHarness{
		Open:           harnessOpen("mysql", func(t *testing.T) (*sql.DB, string) { return connectortest.MariaDB(t) }),
		Now:            sourceNow,
		Placeholder:    func(int) string { return "?" },
		TimestampType:  "DATETIME",
		IntType:        "BIGINT",
		TextType:       "VARCHAR(64)",
		BytesType:      "VARBINARY(64)",
		SlowQuery:      "SELECT '2000-01-01 00:00:00' AS ts, 1 AS id, SLEEP(30) AS z",
		Outage:         mariadbOutage,
		NullTimestamps: nullTimestamps,
	}
}

func TestSourceMariaDB(t *testing.T) {
	connectortest.SourceSuite(t, mariadbHarness())
}

// mariadbOutage points a source at a port nobody listens on.
func mariadbOutage(t *testing.T) connectors.Source {
	return newSource(t, sqlsource.Config{Driver: "mysql", DSN: sqlsource.DSN("hpgate:secret@tcp(" + closedAddr(t) + ")/his")})
}

func mustExec(t testing.TB, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// readAll pages through st and returns the rows.
func readAll(t testing.TB, src *sqlsource.Source, st connectors.Stream, after connectors.Position, limit int) ([][]any, []string, connectors.Position) {
	t.Helper()
	var rows [][]any
	var cols []string
	for range 100000 {
		b, err := src.Read(context.Background(), st, after, limit)
		if err != nil {
			t.Fatalf("read %s: %v", st.Name, err)
		}
		if b.Len() == 0 {
			return rows, cols, after
		}
		cols = b.Columns
		rows = append(rows, b.Rows...)
		after = b.Next
	}
	t.Fatal("no end of stream")
	return nil, nil, ""
}

// TestSourceMariaDBLegacyText pages over keys and values that legacy
// systems hold: GBK bytes in latin1 columns, GBK columns, binary columns.
// The keyset must neither lose nor repeat a row, and values must come back
// as the bytes stored (decoding is the mapping's job).
func TestSourceMariaDBLegacyText(t *testing.T) {
	db, dsn := connectortest.MariaDB(t)
	src := newSource(t, sqlsource.Config{Driver: "mysql", DSN: sqlsource.DSN(dsn)})
	gbkNames := []string{"d5c5c8fd", "c0eecbc4", "cdf5cee5"}    // 张三 李四 王五 in GBK
	ascii := []string{"4a53303031", "4a53303032", "6a73303033"} // JS001 JS002 js003
	for _, tc := range []struct {
		name    string
		keyType string
		keys    []string // hex
	}{
		// GBK bytes in a latin1 column, with the bytes cp1252 leaves unmapped.
		{name: "latin1", keyType: "VARCHAR(16) CHARACTER SET latin1", keys: append([]string{"81", "8d8f", "909d", "e4b8ad"}, append(gbkNames, ascii...)...)},
		{name: "gbk", keyType: "VARCHAR(16) CHARACTER SET gbk", keys: append(gbkNames, ascii...)},
		{name: "utf8mb3", keyType: "VARCHAR(16) CHARACTER SET utf8mb3", keys: append([]string{"e5bca0e4b889", "e69d8ee59b9b"}, ascii...)},
		{name: "varbinary", keyType: "VARBINARY(16)", keys: append([]string{"00", "ff", "80"}, append(gbkNames, ascii...)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table := "t_" + tc.name
			keys := tc.keys
			mustExec(t, db, fmt.Sprintf(`CREATE TABLE %s (
				k %s NOT NULL PRIMARY KEY,
				ts DATETIME NOT NULL,
				name_l VARCHAR(32) CHARACTER SET latin1,
				name_g VARCHAR(32) CHARACTER SET gbk,
				name_u VARCHAR(32) CHARACTER SET utf8mb4,
				KEY ts_k (ts, k))`, table, tc.keyType))
			// All rows share one timestamp, so the key alone orders the
			// page boundaries.
			for _, k := range keys {
				mustExec(t, db, fmt.Sprintf("INSERT INTO %s VALUES (X'%s', '2019-03-01 10:00:00', X'd5c5c8fd', X'd5c5c8fd', '张三')", table, k))
			}
			st := connectors.Stream{Name: table, Table: table, TimestampColumn: "ts", KeyColumns: []string{"k"}}
			rows, cols, _ := readAll(t, src, st, "", 1)
			if len(rows) != len(keys) {
				t.Fatalf("read %d rows, want %d", len(rows), len(keys))
			}
			seen := map[string]bool{}
			for _, r := range rows {
				m := map[string]any{}
				for i, c := range cols {
					m[c] = r[i]
				}
				k := fmt.Sprintf("%x", m["k"])
				if seen[k] {
					t.Fatalf("key %s read twice", k)
				}
				seen[k] = true
				for _, c := range []string{"name_l", "name_g"} {
					if got := fmt.Sprintf("%x", m[c]); got != "d5c5c8fd" {
						t.Errorf("%s: got %s, want the GBK bytes d5c5c8fd", c, got)
					}
				}
				if got, _ := m["name_u"].([]byte); string(got) != "张三" {
					t.Errorf("name_u: got %q, want 张三", got)
				}
			}
			for _, k := range keys {
				if !seen[k] {
					t.Errorf("key %s not read", k)
				}
			}
		})
	}
}

// TestSourceMariaDBTimestampColumn checks a TIMESTAMP cursor column on a
// server that runs in UTC: the session runs in the source's zone, so the
// settle delay holds a fresh row back, then releases it, and the value
// reads as the source zone's wall clock.
func TestSourceMariaDBTimestampColumn(t *testing.T) {
	db, dsn := connectortest.MariaDB(t)
	src := newSource(t, sqlsource.Config{Driver: "mysql", DSN: sqlsource.DSN(dsn), SettleDelay: 2 * time.Second, TimeZone: "+08:00"})
	mustExec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, ts TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), KEY (ts, id))")
	var utc string
	if err := db.QueryRowContext(t.Context(), "SELECT UTC_TIMESTAMP()").Scan(&utc); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "INSERT INTO t (id) VALUES (1)")
	st := connectors.Stream{Name: "t", Table: "t", TimestampColumn: "ts", KeyColumns: []string{"id"}}
	b, err := src.Read(t.Context(), st, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 0 {
		t.Fatalf("a row inside the settle delay was read: %q", b.Rows[0][1])
	}
	time.Sleep(3100 * time.Millisecond)
	b, err = src.Read(t.Context(), st, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 1 {
		t.Fatalf("after the delay: %d rows, want 1", b.Len())
	}
	inserted, _ := time.Parse(time.DateTime, utc)
	got, err := time.ParseInLocation("2006-01-02 15:04:05.000", string(b.Rows[0][1].([]byte)), src.Zone())
	if err != nil {
		t.Fatal(err)
	}
	if d := got.Sub(inserted); d < 0 || d > 3*time.Second {
		t.Errorf("ts %s read in %s is %v from the insert time %s UTC", b.Rows[0][1], src.Zone(), d, utc)
	}
}

// TestSourceMariaDBZeroDates pages across the zero dates that old MySQL
// programs write into NOT NULL DATETIME columns.
func TestSourceMariaDBZeroDates(t *testing.T) {
	db, dsn := connectortest.MariaDB(t)
	src := newSource(t, sqlsource.Config{Driver: "mysql", DSN: sqlsource.DSN(dsn)})
	mustExec(t, db, "SET SESSION sql_mode = ''")
	mustExec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, ts DATETIME NOT NULL, KEY (ts, id))")
	for i := 1; i <= 5; i++ {
		mustExec(t, db, "INSERT INTO t VALUES (?, '0000-00-00 00:00:00')", i)
	}
	mustExec(t, db, "INSERT INTO t VALUES (6, '2019-03-01 10:00:00')")
	rows, _, _ := readAll(t, src, connectors.Stream{Name: "t", Table: "t", TimestampColumn: "ts", KeyColumns: []string{"id"}}, "", 2)
	var got []string
	for _, r := range rows {
		got = append(got, strconv.FormatInt(r[0].(int64), 10)+"@"+string(r[1].([]byte)))
	}
	want := "1@0000-00-00 00:00:00 2@0000-00-00 00:00:00 3@0000-00-00 00:00:00 4@0000-00-00 00:00:00 5@0000-00-00 00:00:00 6@2019-03-01 10:00:00"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v\nwant %s", got, want)
	}
}

// TestSourceMariaDBStats checks the counters the monitoring package exports.
func TestSourceMariaDBStats(t *testing.T) {
	db, dsn := connectortest.MariaDB(t)
	src := newSource(t, sqlsource.Config{Driver: "mysql", DSN: sqlsource.DSN(dsn)})
	mustExec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, ts DATETIME NULL)")
	mustExec(t, db, "INSERT INTO t VALUES (1, '2019-03-01 10:00:00'), (2, NULL), (3, '2019-03-01 10:00:01')")
	st := connectors.Stream{Name: "m", Table: "t", TimestampColumn: "ts", KeyColumns: []string{"id"}}
	readAll(t, src, st, "", 1)
	_, _ = src.Read(t.Context(), connectors.Stream{Name: "bad", Table: "t", TimestampColumn: "ts", KeyColumns: []string{"nope"}}, "", 1)
	s := src.Stats()
	if s.Reads != 3 || s.Rows != 2 || s.Errors != 1 || s.Unavailable != 0 {
		t.Errorf("reads %d rows %d errors %d unavailable %d, want 3 2 1 0", s.Reads, s.Rows, s.Errors, s.Unavailable)
	}
	// Three reads of m: clock and page each, one NULL count; one failed
	// read of bad: clock and page.
	if s.Queries != 9 {
		t.Errorf("queries %d, want 9", s.Queries)
	}
	if s.NullTimestamps["m"] != 1 {
		t.Errorf("null timestamps %v, want m: 1", s.NullTimestamps)
	}
	if s.LastRead.IsZero() || time.Since(s.LastRead) > time.Minute {
		t.Errorf("last read %v", s.LastRead)
	}
}

// BenchmarkKeysetReadMariaDB reads a 21-column settlement-like table of
// 100,000 rows in pages of 5000, as the pipeline does, and reports rows/s.
func BenchmarkKeysetReadMariaDB(b *testing.B) {
	const total, page = 100000, 5000
	db, dsn := connectortest.MariaDB(b)
	mustExec(b, db, `CREATE TABLE settlement (
		id BIGINT NOT NULL PRIMARY KEY,
		settle_no VARCHAR(32) NOT NULL,
		person_id VARCHAR(18) NOT NULL,
		name VARCHAR(32) CHARACTER SET latin1,
		gender CHAR(1),
		birth DATE,
		county CHAR(6),
		hospital VARCHAR(64),
		dept VARCHAR(32),
		diag_code VARCHAR(16),
		diag_name VARCHAR(64),
		admit_time DATETIME,
		discharge_time DATETIME,
		total_fee DECIMAL(12,2),
		fund_pay DECIMAL(12,2),
		self_pay DECIMAL(12,2),
		serious_pay DECIMAL(12,2),
		assist_pay DECIMAL(12,2),
		poverty_flag TINYINT,
		status INT,
		upd_time DATETIME NOT NULL,
		KEY upd_id (upd_time, id))`)
	mustExec(b, db, `INSERT INTO settlement SELECT
		seq, CONCAT('JS', LPAD(seq, 10, '0')), CONCAT('370282', LPAD(seq, 12, '0')), X'd5c5c8fd', IF(seq % 2, 'M', 'F'),
		'1960-01-01' + INTERVAL (seq % 20000) DAY, '370282', '即墨区人民医院', '内科', 'I10', '原发性高血压',
		'2019-01-01 08:00:00' + INTERVAL seq MINUTE, '2019-01-03 10:00:00' + INTERVAL seq MINUTE,
		1234.56 + seq % 1000, 800.12, 434.44, 0, 12.5, seq % 2, 1,
		'2019-01-01 00:00:00' + INTERVAL (seq DIV 3) SECOND
		FROM seq_1_to_100000`)
	mustExec(b, db, "ANALYZE TABLE settlement")
	src := newSource(b, sqlsource.Config{Driver: "mysql", DSN: sqlsource.DSN(dsn)})
	st := connectors.Stream{Name: "settlement", Table: "settlement", TimestampColumn: "upd_time", KeyColumns: []string{"id"}}
	ctx := context.Background()
	rows := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var after connectors.Position
		n := 0
		for {
			batch, err := src.Read(ctx, st, after, page)
			if err != nil {
				b.Fatal(err)
			}
			if batch.Len() == 0 {
				break
			}
			n += batch.Len()
			after = batch.Next
		}
		if n != total {
			b.Fatalf("read %d rows, want %d", n, total)
		}
		rows += n
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// TestSourceMariaDBOutageHidesPassword checks that an outage's error, which
// the pipeline logs, names neither the password nor the whole DSN.
func TestSourceMariaDBOutageHidesPassword(t *testing.T) {
	src := mariadbOutage(t)
	_, err := src.Read(t.Context(), connectors.Stream{Name: "m", Table: "t", TimestampColumn: "ts", KeyColumns: []string{"id"}}, "", 10)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("error %v", err)
	}
	if _, err := src.(*sqlsource.Source).Now(t.Context()); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("error %v", err)
	}
}
