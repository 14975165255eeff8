package sqlsource

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
)

func TestWindows(t *testing.T) {
	for _, tc := range []struct {
		spec string
		in   []string
		out  []string
	}{
		{"08:00-12:00", []string{"08:00", "11:59"}, []string{"07:59", "12:00", "00:00"}},
		{"22:00-06:00", []string{"22:00", "23:59", "00:00", "05:59"}, []string{"06:00", "21:59", "12:00"}},
		{"12:00-24:00", []string{"12:00", "23:59"}, []string{"00:00", "11:59"}},
	} {
		w, err := parseWindow(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range tc.in {
			if m, _ := parseHHMM(s, false); !w.contains(m) {
				t.Errorf("%s should contain %s", tc.spec, s)
			}
		}
		for _, s := range tc.out {
			if m, _ := parseHHMM(s, false); w.contains(m) {
				t.Errorf("%s should not contain %s", tc.spec, s)
			}
		}
	}
	for _, bad := range []string{"", "08:00", "8:00-9:00", "08:00-08:00", "24:00-01:00", "08:60-09:00", "00:00-24:00x"} {
		if _, err := parseWindow(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// sqliteSource is a Source on a fresh SQLite file with one row, and a clock
// the test sets.
func sqliteSource(t *testing.T, cfg Config) (*Source, *time.Time) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	cfg.Driver, cfg.DSN = "sqlite", DSN(path)
	s, err := New("test", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for _, q := range []string{
		"CREATE TABLE t (id INTEGER PRIMARY KEY, ts TEXT)",
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100) INSERT INTO t SELECT x, '2019-03-01 10:00:00' FROM c",
	} {
		if _, err := s.db.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2024, 5, 6, 0, 0, 0, 0, s.zone)
	s.clock = func() time.Time { return now }
	return s, &now
}

var tStream = connectors.Stream{Name: "t", Table: "t", TimestampColumn: "ts", KeyColumns: []string{"id"}}

func TestQuietHours(t *testing.T) {
	s, now := sqliteSource(t, Config{QuietHours: []string{"08:00-12:00"}, TimeZone: "+08:00"})
	ctx := context.Background()

	*now = time.Date(2024, 5, 6, 1, 30, 0, 0, time.UTC) // 09:30 at +08:00
	b, err := s.Read(ctx, tStream, "", 10)
	if err != nil || b.Len() != 0 || b.Next != "" {
		t.Fatalf("in quiet hours: %d rows, next %q, %v", b.Len(), b.Next, err)
	}
	if st := s.Stats(); !st.Quiet || st.QuietSkips != 1 || st.Queries != 0 {
		t.Errorf("stats in quiet hours: %+v", st)
	}

	*now = time.Date(2024, 5, 6, 4, 0, 0, 0, time.UTC) // 12:00 at +08:00
	b, err = s.Read(ctx, tStream, "", 10)
	if err != nil || b.Len() != 10 {
		t.Fatalf("after quiet hours: %d rows, %v", b.Len(), err)
	}
	if st := s.Stats(); st.Quiet {
		t.Error("still quiet after a read")
	}
}

func TestRowsPerSecond(t *testing.T) {
	s, now := sqliteSource(t, Config{RowsPerSecond: 20})
	ctx := context.Background()

	b, err := s.Read(ctx, tStream, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 20 {
		t.Fatalf("page of %d rows, want one second's worth, 20", b.Len())
	}
	// The next read must wait a second: with the clock frozen, it waits
	// until ctx gives up.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.Read(short, tStream, b.Next, 1000); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read within the second: %v, want it held back", err)
	}
	*now = now.Add(time.Second)
	b, err = s.Read(ctx, tStream, b.Next, 5)
	if err != nil || b.Len() != 5 {
		t.Fatalf("a second later: %d rows, %v", b.Len(), err)
	}
}

func TestCutoff(t *testing.T) {
	zone := time.FixedZone("+08:00", 8*3600)
	now := time.Date(2024, 5, 6, 10, 0, 7, 900e6, zone)
	for _, tc := range []struct {
		delay time.Duration
		want  string
	}{
		{5 * time.Second, "2024-05-06 10:00:02"},
		{-1, "2024-05-06 10:00:07"},
		{time.Hour, "2024-05-06 09:00:07"},
	} {
		s := &Source{cfg: Config{SettleDelay: tc.delay}}
		if got := s.cutoff(now).Format(time.DateTime); got != tc.want {
			t.Errorf("delay %v: cut-off %s, want %s", tc.delay, got, tc.want)
		}
	}
}

// TestNowInZone checks that the database clock, read as UTC, is expressed
// in the source's zone.
func TestNowInZone(t *testing.T) {
	s, _ := sqliteSource(t, Config{TimeZone: "-05:00"})
	now, err := s.Now(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, off := now.Zone(); off != -5*3600 {
		t.Errorf("zone offset %d", off)
	}
	if d := time.Since(now); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("database clock %v is %v from hpgate's", now, d)
	}
}
