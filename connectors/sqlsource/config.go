package sqlsource

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	go_ora "github.com/sijms/go-ora/v2"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/secretsource"
)

// Defaults of Config.
const (
	DefaultTimeZone     = "+08:00"
	DefaultQueryTimeout = 30 * time.Second
	DefaultMaxOpenConns = 2
	DefaultSettleDelay  = 5 * time.Second
	DefaultBatchSize    = connectors.DefaultBatchSize
	DefaultPollInterval = 30 * time.Second
)

// Config configures one SQL source. A zero field selects its default. The
// Config is read once, by New; changing it afterwards has no effect.
type Config struct {
	// Driver names the database: "mysql" (MySQL and MariaDB), "postgres"
	// (PostgreSQL and compatibles such as Kingbase and openGauss) or "sqlite".
	Driver string

	// DSN is the driver's data source name. For mysql it is a
	// go-sql-driver DSN; parseTime=true is refused (naive DATETIME values
	// are read as text in TimeZone), and unless the DSN sets them, the
	// session gets time_zone = TimeZone and character_set_results =
	// binary (text arrives as the bytes stored, see the package doc).
	DSN DSN

	// TimeZone is the zone of the source's naive DATE and DATETIME values,
	// as a fixed offset such as "+08:00" or "UTC": many database servers
	// have no zone tables. The default is "+08:00".
	TimeZone string

	// QueryTimeout bounds each query; it is derived from the caller's
	// context. A query that runs out of it is reported as unavailable.
	// The default is 30s.
	QueryTimeout time.Duration

	// MaxOpenConns caps the connections to the database, idle or in use.
	// The default is 2.
	MaxOpenConns int

	// SettleDelay makes incremental reads take only rows whose timestamp
	// is at or before the database's own clock minus the delay, so that a
	// row committed late with an earlier timestamp is still read. The
	// default is 5s; a negative value disables the delay.
	SettleDelay time.Duration

	// RowsPerSecond caps the average rate of rows read, over all the
	// source's streams; a Read then returns at most one second's worth of
	// rows. Zero, the default, means no cap.
	RowsPerSecond float64

	// QuietHours are daily windows "HH:MM-HH:MM" in TimeZone, by hpgate's
	// clock, during which Read returns an empty batch without touching the
	// database (a county HIS is also the live hospital system). A window
	// may cross midnight ("22:00-06:00"). The default is none.
	QuietHours []string

	// BatchSize is the page size the pipeline asks for, and the limit of a
	// Read given none. The default is 2000.
	BatchSize int

	// PollInterval is how long the pipeline waits after an empty batch;
	// the source itself does not use it. The default is 30s.
	PollInterval time.Duration

	// ServerVersion is the database server's version where the SQL
	// depends on it: for oracle 11 (ROWNUM paging) or 12 and later
	// (FETCH FIRST), for sqlserver 2008 or 2008R2 (TOP) or 2012 and later
	// (OFFSET … FETCH). Empty or "auto", the default, reads it from the
	// server at the first read. Other drivers take none.
	ServerVersion string
}

// FieldError is a problem with one config key. Key is the YAML key
// ("time_zone"), so that a config loader can point at its line and column.
type FieldError struct {
	Key string
	Err error
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns the underlying problem.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(key, format string, args ...any) error {
	return &FieldError{Key: key, Err: fmt.Errorf(format, args...)}
}

// secretErr turns a secretsource error into a FieldError at the same key.
func secretErr(err error) error {
	if se, ok := errors.AsType[*secretsource.Error](err); ok {
		return &FieldError{Key: se.Key, Err: se.Err}
	}
	return err
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.TimeZone == "" {
		c.TimeZone = DefaultTimeZone
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = DefaultQueryTimeout
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = DefaultMaxOpenConns
	}
	if c.SettleDelay == 0 {
		c.SettleDelay = DefaultSettleDelay
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	return c
}

// validated is a Config checked and parsed.
type validated struct {
	d     dialect
	zone  *time.Location
	quiet []window
}

// validate checks every field (defaults applied) and returns all the
// problems, as *FieldError values. checkDSN is false when the DSN's
// resolution already failed and was reported.
func (c Config) validate(checkDSN bool) (validated, []error) {
	var v validated
	var errs []error
	d, err := lookupDialect(c.Driver)
	if err != nil {
		errs = append(errs, &FieldError{Key: "driver", Err: err})
	}
	if c.ServerVersion != "" {
		if _, ok := d.(configurable); !ok && d != nil {
			errs = append(errs, fieldErr("server_version", "the %s driver takes no server_version", c.Driver))
		}
	}
	v.d = d
	if checkDSN && strings.TrimSpace(string(c.DSN)) == "" {
		errs = append(errs, fieldErr("dsn", "empty"))
	}
	if v.zone, err = ParseZone(c.TimeZone); err != nil {
		errs = append(errs, &FieldError{Key: "time_zone", Err: err})
	}
	if cd, ok := d.(configurable); ok && v.zone != nil {
		if v.d, err = cd.configure(v.zone, c.ServerVersion); err != nil {
			errs = append(errs, &FieldError{Key: "server_version", Err: err})
		}
	}
	if c.QueryTimeout < 0 {
		errs = append(errs, fieldErr("query_timeout", "must be positive, got %v", c.QueryTimeout))
	}
	if c.MaxOpenConns < 0 {
		errs = append(errs, fieldErr("max_open_conns", "must be at least 1, got %d", c.MaxOpenConns))
	}
	if c.RowsPerSecond < 0 {
		errs = append(errs, fieldErr("rows_per_second", "must not be negative, got %v", c.RowsPerSecond))
	}
	for _, q := range c.QuietHours {
		w, err := parseWindow(q)
		if err != nil {
			errs = append(errs, &FieldError{Key: "quiet_hours", Err: err})
			continue
		}
		v.quiet = append(v.quiet, w)
	}
	if c.BatchSize < 0 {
		errs = append(errs, fieldErr("batch_size", "must be at least 1, got %d", c.BatchSize))
	}
	if c.PollInterval < 0 {
		errs = append(errs, fieldErr("poll_interval", "must be positive, got %v", c.PollInterval))
	}
	return v, errs
}

// ParseZone reads a source's time_zone, a fixed offset: "+08:00",
// "-05:30", "UTC" or "Z" (many servers have no zone tables, design.md
// "Time"). Other sources (file drops) share it.
func ParseZone(s string) (*time.Location, error) {
	switch s {
	case "UTC", "Z", "+00:00", "-00:00":
		return time.FixedZone("+00:00", 0), nil
	}
	bad := fmt.Errorf("%q is not a fixed offset such as +08:00", s)
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return nil, bad
	}
	h, err1 := strconv.Atoi(s[1:3])
	m, err2 := strconv.Atoi(s[4:6])
	if err1 != nil || err2 != nil || h > 14 || m > 59 {
		return nil, bad
	}
	off := h*3600 + m*60
	if s[0] == '-' {
		off = -off
	}
	return time.FixedZone(s, off), nil
}

// window is a daily quiet window in minutes after midnight, [from, to);
// to < from crosses midnight.
type window struct{ from, to int }

func (w window) contains(minute int) bool {
	if w.from <= w.to {
		return minute >= w.from && minute < w.to
	}
	return minute >= w.from || minute < w.to
}

// parseWindow reads "HH:MM-HH:MM"; the end may be "24:00".
func parseWindow(s string) (window, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(s), "-")
	bad := fmt.Errorf("%q is not a window such as 08:00-12:00", s)
	if !ok {
		return window{}, bad
	}
	f, err1 := parseHHMM(strings.TrimSpace(from), false)
	t, err2 := parseHHMM(strings.TrimSpace(to), true)
	if err1 != nil || err2 != nil || f == t%(24*60) {
		return window{}, bad
	}
	return window{from: f, to: t}, nil
}

func parseHHMM(s string, end bool) (int, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, errors.New("bad time")
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || m > 59 || h > 24 || (h == 24 && (!end || m != 0)) {
		return 0, errors.New("bad time")
	}
	return h*60 + m, nil
}

// FileConfig is a source's block of the config file. The pipeline decodes
// it strictly (unknown keys fail with line:col) through the decode func a
// SourceFactory receives; batch_size and poll_interval are the pipeline's,
// read back through Source.BatchSize and Source.PollInterval.
//
//	jimo-his:
//	  driver: mysql
//	  dsn_env: JIMO_HIS_DSN
//	  time_zone: "+08:00"
//	  settle_delay: 5s
//	  quiet_hours: ["08:00-12:00"]
//	  batch_size: 2000
//	  poll_interval: 30s
type FileConfig struct {
	Driver        string         `yaml:"driver"`
	DSNEnv        string         `yaml:"dsn_env"`
	DSNFile       string         `yaml:"dsn_file"`
	TimeZone      string         `yaml:"time_zone"`
	QueryTimeout  time.Duration  `yaml:"query_timeout"`
	MaxOpenConns  int            `yaml:"max_open_conns"`
	SettleDelay   *time.Duration `yaml:"settle_delay"` // 0s disables the delay
	RowsPerSecond float64        `yaml:"rows_per_second"`
	QuietHours    []string       `yaml:"quiet_hours"`
	BatchSize     int            `yaml:"batch_size"`
	PollInterval  time.Duration  `yaml:"poll_interval"`
	ServerVersion string         `yaml:"server_version"`

	// Instead of a DSN, oracle and sqlserver sources may name the server
	// and read only the password from the environment or a file.
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"`
	Service      string `yaml:"service"`  // oracle service name
	Database     string `yaml:"database"` // sqlserver database
	User         string `yaml:"user"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
}

// Config resolves the block into a Config for driver: it reads the DSN
// from the environment variable dsn_env or the file dsn_file (exactly one
// must be set; surrounding white space is dropped), or, for oracle and
// sqlserver, builds it from host, port, service (oracle) or database
// (sqlserver), user and the password read from password_env or
// password_file. Every problem is
// returned, as *FieldError values joined.
func (fc FileConfig) Config(driver string) (Config, error) {
	cfg, errs := fc.resolve(driver)
	return cfg, errors.Join(errs...)
}

func (fc FileConfig) resolve(driver string) (Config, []error) {
	var errs []error
	if fc.Driver != "" && fc.Driver != driver {
		errs = append(errs, fieldErr("driver", "%q given to the %s driver's factory", fc.Driver, driver))
	}
	cfg := Config{
		Driver:        driver,
		TimeZone:      fc.TimeZone,
		QueryTimeout:  fc.QueryTimeout,
		MaxOpenConns:  fc.MaxOpenConns,
		RowsPerSecond: fc.RowsPerSecond,
		QuietHours:    fc.QuietHours,
		BatchSize:     fc.BatchSize,
		PollInterval:  fc.PollInterval,
		ServerVersion: fc.ServerVersion,
	}
	if fc.SettleDelay != nil {
		cfg.SettleDelay = *fc.SettleDelay
		if cfg.SettleDelay == 0 {
			cfg.SettleDelay = -1 // explicitly none
		} else if cfg.SettleDelay < 0 {
			errs = append(errs, fieldErr("settle_delay", "must not be negative, got %v", *fc.SettleDelay))
		}
	}
	if fc.QueryTimeout < 0 {
		errs = append(errs, fieldErr("query_timeout", "must be positive, got %v", fc.QueryTimeout))
		cfg.QueryTimeout = 0
	}
	switch {
	case fc.Host != "" || fc.User != "" || fc.PasswordEnv != "" || fc.PasswordFile != "":
		if fc.DSNEnv != "" || fc.DSNFile != "" {
			errs = append(errs, fieldErr("host", "give dsn_env or dsn_file, or host, user and password_env, not both"))
			break
		}
		dsn, more := fc.buildDSN(driver)
		errs = append(errs, more...)
		cfg.DSN = dsn
	default:
		dsn, err := secretsource.Read("dsn_env", fc.DSNEnv, "dsn_file", fc.DSNFile, secretsource.Options{})
		if err != nil {
			errs = append(errs, secretErr(err))
		}
		cfg.DSN = DSN(dsn)
	}
	return cfg, errs
}

// buildDSN builds an oracle or sqlserver DSN from the server's parts and a
// password read from password_env or password_file.
func (fc FileConfig) buildDSN(driver string) (DSN, []error) {
	var errs []error
	if driver != "oracle" && driver != "sqlserver" {
		return "", []error{fieldErr("host", "host, user and password_env are for the oracle and sqlserver drivers; give dsn_env or dsn_file")}
	}
	if fc.Host == "" {
		errs = append(errs, fieldErr("host", "missing: name the database server"))
	}
	if fc.User == "" {
		errs = append(errs, fieldErr("user", "missing: name the database user"))
	}
	if fc.Port < 0 || fc.Port > 65535 {
		errs = append(errs, fieldErr("port", "%d is not a TCP port", fc.Port))
	}
	switch {
	case driver == "oracle" && fc.Service == "":
		errs = append(errs, fieldErr("service", "missing: name the Oracle service (e.g. ORCLPDB1)"))
	case driver == "oracle" && fc.Database != "":
		errs = append(errs, fieldErr("database", "oracle sources name a service, not a database"))
	case driver == "sqlserver" && fc.Service != "":
		errs = append(errs, fieldErr("service", "sqlserver sources name a database, not a service"))
	}
	password, err := secretsource.Read("password_env", fc.PasswordEnv, "password_file", fc.PasswordFile,
		secretsource.Options{Trim: secretsource.TrimNewline})
	if err != nil {
		errs = append(errs, secretErr(err))
	}
	if len(errs) > 0 {
		return "", errs
	}
	port := fc.Port
	if driver == "oracle" {
		if port == 0 {
			port = 1521
		}
		return DSN(go_ora.BuildUrl(fc.Host, port, fc.Service, fc.User, password, nil)), nil
	}
	if port == 0 {
		port = 1433
	}
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(fc.User, password), Host: net.JoinHostPort(fc.Host, strconv.Itoa(port))}
	if fc.Database != "" {
		u.RawQuery = url.Values{"database": {fc.Database}}.Encode()
	}
	return DSN(u.String()), nil
}

// Factory returns the connectors.SourceFactory of driver, one of Drivers().
// It panics on another name: that is a programming error found at start-up.
//
//	for _, name := range sqlsource.Drivers() {
//		d.RegisterSource(name, sqlsource.Factory(name))
//	}
func Factory(driver string) connectors.SourceFactory {
	if _, err := lookupDialect(driver); err != nil {
		panic("sqlsource: " + err.Error())
	}
	return func(name string, decode func(any) error, log *slog.Logger) (connectors.Source, error) {
		var fc FileConfig
		if err := decode(&fc); err != nil {
			return nil, err
		}
		cfg, errs := fc.resolve(driver)
		if len(errs) > 0 {
			_, more := cfg.withDefaults().validate(false)
			return nil, errors.Join(append(errs, more...)...)
		}
		s, err := New(name, cfg, log)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}
