package sqlsource_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/sqlsource"
)

// newSource builds a Source and closes it in t.Cleanup.
func newSource(t testing.TB, cfg sqlsource.Config) *sqlsource.Source {
	t.Helper()
	src, err := sqlsource.New("test", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// harnessOpen returns a SourceHarness.Open for driver: open gives a fresh
// database and its DSN, and the source is built on it with the case's
// settle delay and query timeout.
func harnessOpen(driver string, open func(t *testing.T) (*sql.DB, string)) func(*testing.T, connectortest.SourceOptions) (connectors.Source, *sql.DB) {
	return func(t *testing.T, o connectortest.SourceOptions) (connectors.Source, *sql.DB) {
		db, dsn := open(t)
		src := newSource(t, sqlsource.Config{
			Driver:       driver,
			DSN:          sqlsource.DSN(dsn),
			SettleDelay:  o.SettleDelay,
			QueryTimeout: o.QueryTimeout,
		})
		return src, db
	}
}

// closedAddr returns a 127.0.0.1 address nobody listens on, for outages.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func sourceNow(ctx context.Context, src connectors.Source) (time.Time, error) {
	return src.(*sqlsource.Source).Now(ctx)
}

func nullTimestamps(src connectors.Source, stream string) int64 {
	return src.(*sqlsource.Source).Stats().NullTimestamps[stream]
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  sqlsource.Config
		keys []string // FieldError keys, in order
	}{
		{name: "defaults", cfg: sqlsource.Config{Driver: "mysql", DSN: "u:p@tcp(db:3306)/his"}},
		{name: "sqlite", cfg: sqlsource.Config{Driver: "sqlite", DSN: "file:demo.db"}},
		{
			name: "everything wrong",
			cfg: sqlsource.Config{
				Driver:        "oracle9",
				TimeZone:      "Asia/Shanghai",
				QueryTimeout:  -time.Second,
				MaxOpenConns:  -1,
				RowsPerSecond: -5,
				QuietHours:    []string{"08:00-12:00", "25:00-26:00", "9-10"},
				BatchSize:     -1,
				PollInterval:  -time.Second,
			},
			keys: []string{"driver", "dsn", "time_zone", "query_timeout", "max_open_conns", "rows_per_second", "quiet_hours", "quiet_hours", "batch_size", "poll_interval"},
		},
		{name: "bad mysql dsn", cfg: sqlsource.Config{Driver: "mysql", DSN: "u:secret@tcp(db:3306"}, keys: []string{"dsn"}},
		{name: "gbk connection refused", cfg: sqlsource.Config{Driver: "mysql", DSN: "u:secret@tcp(db:3306)/his?charset=gbk"}, keys: []string{"dsn"}},
		{name: "utf8mb4 connection", cfg: sqlsource.Config{Driver: "mysql", DSN: "u:secret@tcp(db:3306)/his?charset=utf8mb4,utf8&collation=utf8mb4_unicode_ci"}},
		{name: "parseTime refused", cfg: sqlsource.Config{Driver: "mysql", DSN: "u:secret@tcp(db:3306)/his?parseTime=true"}, keys: []string{"dsn"}},
		{name: "fixed offsets", cfg: sqlsource.Config{Driver: "mysql", DSN: "u:p@/his", TimeZone: "-05:30", QuietHours: []string{"22:00-06:00", "12:00-24:00"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := sqlsource.New("his", tc.cfg, nil)
			if src != nil {
				defer src.Close()
			}
			var got []string
			for _, e := range unjoin(err) {
				var fe *sqlsource.FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("problem %v is not a *FieldError", e)
				}
				got = append(got, fe.Key)
			}
			if strings.Join(got, " ") != strings.Join(tc.keys, " ") {
				t.Fatalf("problems %v (%v), want keys %v", got, err, tc.keys)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// unjoin flattens errors.Join trees.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	if _, ok := err.(*sqlsource.FieldError); !ok {
		if u := errors.Unwrap(err); u != nil {
			return unjoin(u)
		}
	}
	return []error{err}
}

func TestNewDoesNotDial(t *testing.T) {
	start := time.Now()
	// A black-holed address: dialling would hang.
	src, err := sqlsource.New("his", sqlsource.Config{Driver: "mysql", DSN: "u:p@tcp(10.255.255.1:3306)/his"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("New took %v", d)
	}
	if src.BatchSize() != 2000 || src.PollInterval() != 30*time.Second || src.Zone().String() != "+08:00" {
		t.Errorf("defaults: batch %d poll %v zone %v", src.BatchSize(), src.PollInterval(), src.Zone())
	}
}

func TestDSNMasksPassword(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"hpgate:s3cr@t@tcp(10.1.2.3:3306)/his?charset=utf8mb4", "hpgate:***@tcp(10.1.2.3:3306)/his?charset=utf8mb4"},
		{"hpgate@tcp(10.1.2.3:3306)/his", "hpgate@tcp(10.1.2.3:3306)/his"},
		{"oracle://his:s3cret@10.1.2.3:1521/ORCL", "oracle://his:***@10.1.2.3:1521/ORCL"},
		{"postgres://u:s3cret@h/db?sslmode=disable&password=s3cret", "postgres://u:***@h/db?sslmode=disable&password=***"},
		{"his/s3cret@10.1.2.3:1521/ORCL", "his/***@10.1.2.3:1521/ORCL"},
		{"sqlserver://sa:s3cret@h?database=his", "sqlserver://sa:***@h?database=his"},
		{"server=h;user id=sa;password=s3cret;database=his", "server=h;user id=sa;password=***;database=his"},
		{"file:/var/lib/demo.db?mode=ro", "file:/var/lib/demo.db?mode=ro"},
	} {
		d := sqlsource.DSN(tc.dsn)
		var logged bytes.Buffer
		slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "dsn", d, "cfg", sqlsource.Config{DSN: d})
		text, _ := d.MarshalText()
		for what, got := range map[string]string{
			"String":      d.String(),
			"%v":          fmt.Sprintf("%v", d),
			"%q":          fmt.Sprintf("%q", d),
			"%#v":         fmt.Sprintf("%#v", d),
			"%+v config":  fmt.Sprintf("%+v", sqlsource.Config{DSN: d}),
			"slog":        logged.String(),
			"MarshalText": string(text),
		} {
			if strings.Contains(got, "s3cr") {
				t.Errorf("%s of %s shows the password: %s", what, tc.want, got)
			}
		}
		if got := d.String(); got != tc.want {
			t.Errorf("String: got %q, want %q", got, tc.want)
		}
	}
}

// decoderFor decodes a YAML block strictly, as the config loader does.
func decoderFor(t *testing.T, block string) func(any) error {
	t.Helper()
	return func(v any) error {
		dec := yaml.NewDecoder(strings.NewReader(block))
		dec.KnownFields(true)
		return dec.Decode(v)
	}
}

func TestFactory(t *testing.T) {
	t.Setenv("HPGATE_TEST_HIS_DSN", "hpgate:s3cret@tcp(127.0.0.1:1)/his")
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte("hpgate:s3cret@tcp(127.0.0.1:1)/ins\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, driver, block string
		wantErr             []string // substrings, all present
	}{
		{
			name:   "every key",
			driver: "mysql",
			block: `driver: mysql
dsn_env: HPGATE_TEST_HIS_DSN
time_zone: "+08:00"
query_timeout: 10s
max_open_conns: 3
settle_delay: 2s
rows_per_second: 2000
quiet_hours: ["08:00-12:00", "14:00-17:30"]
batch_size: 1000
poll_interval: 15s
`,
		},
		{name: "dsn from a file", driver: "mysql", block: "dsn_file: " + dsnFile + "\n"},
		{name: "sqlite", driver: "sqlite", block: "dsn_env: HPGATE_TEST_HIS_DSN\nsettle_delay: 0s\n"},
		{name: "unknown key", driver: "mysql", block: "dsn_env: HPGATE_TEST_HIS_DSN\ndsn: x\n", wantErr: []string{"dsn"}},
		{name: "no secret", driver: "mysql", block: "time_zone: '+08:00'\n", wantErr: []string{"dsn_env: set dsn_env or dsn_file"}},
		{name: "empty env", driver: "mysql", block: "dsn_env: HPGATE_TEST_UNSET_DSN\ntime_zone: Asia/Shanghai\n", wantErr: []string{"dsn_env: environment variable HPGATE_TEST_UNSET_DSN is not set", "time_zone:"}},
		{name: "both secrets", driver: "mysql", block: "dsn_env: HPGATE_TEST_HIS_DSN\ndsn_file: /x\n", wantErr: []string{"not both"}},
		{name: "negative delay", driver: "mysql", block: "dsn_env: HPGATE_TEST_HIS_DSN\nsettle_delay: -1s\n", wantErr: []string{"settle_delay"}},
		{name: "other driver's block", driver: "sqlite", block: "driver: mysql\ndsn_env: HPGATE_TEST_HIS_DSN\n", wantErr: []string{"driver:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := sqlsource.Factory(tc.driver)("his", decoderFor(t, tc.block), slog.New(slog.DiscardHandler))
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				return
			}
			if err == nil {
				src.Close()
				t.Fatal("no error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestFactoryValues(t *testing.T) {
	t.Setenv("HPGATE_TEST_HIS_DSN", "file:x.db")
	src, err := sqlsource.Factory("sqlite")("demo", decoderFor(t, "dsn_env: HPGATE_TEST_HIS_DSN\nbatch_size: 100\npoll_interval: 2s\ntime_zone: '+05:00'\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s := src.(*sqlsource.Source)
	if s.BatchSize() != 100 || s.PollInterval() != 2*time.Second || s.Zone().String() != "+05:00" || s.Name() != "demo" {
		t.Errorf("batch %d poll %v zone %v name %s", s.BatchSize(), s.PollInterval(), s.Zone(), s.Name())
	}
}

func TestFactoryPanicsOnUnknownDriver(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	sqlsource.Factory("oracle9")
}

func TestDriversRegister(t *testing.T) {
	var d connectors.Drivers
	for _, name := range sqlsource.Drivers() {
		d.RegisterSource(name, sqlsource.Factory(name))
	}
	if got := d.SourceNames(); got != "mysql, oracle, postgres, sqlite, sqlserver" {
		t.Errorf("drivers %q", got)
	}
}
