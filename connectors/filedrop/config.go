package filedrop

import (
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/sqlsource"
)

// Driver is the driver name of the file-drop source (`driver: filedrop`).
const Driver = "filedrop"

// Defaults of Config.
const (
	DefaultQuietPeriod  = 10 * time.Second
	DefaultTimeZone     = "+08:00"
	DefaultBatchSize    = connectors.DefaultBatchSize
	DefaultPollInterval = 10 * time.Second
)

// Encodings of CSV files (Options.Encoding).
const (
	// EncodingAuto takes a byte order mark, else UTF-8 when the start of
	// the file is valid UTF-8, else GBK (GB18030).
	EncodingAuto = "auto"
	EncodingUTF8 = "utf8"
	// EncodingGBK decodes with GB18030, a superset of GBK and GB2312.
	EncodingGBK = "gbk"
)

// Options say how to read the files of one mapping. A zero field takes the
// source's value, and the source's zero field its default.
type Options struct {
	// Encoding of CSV files: "auto" (the default), "utf8" or "gbk" (also
	// "utf-8", "gb18030"). A UTF-8 byte order mark always wins. XLSX
	// files are always Unicode.
	Encoding string `yaml:"encoding"`
	// Sheet of an XLSX file, by name ("花名册") or 1-based index ("2").
	// The default is the first sheet.
	Sheet string `yaml:"sheet"`
	// HeaderRow is the 1-based row (XLSX) or record (CSV) holding the
	// column names; the rows above it (titles, merged banners, export
	// dates) are skipped. The default is 1.
	HeaderRow int `yaml:"header_row"`
	// Delimiter of CSV files: one character. The default is ",".
	Delimiter string `yaml:"delimiter"`
	// MaxBadRowPercent: a file more than this percentage of whose data
	// rows cannot be read into columns (CSV lines with the wrong number
	// of cells, unreadable sheet rows) goes to failed/ whole; below it,
	// those rows go to the DLQ (bad_row) and the rest is delivered. 1 to
	// 100; the default is 50, and 100 never fails a file for bad rows.
	MaxBadRowPercent int `yaml:"max_bad_row_percent"`
}

// Config configures one file-drop source. The Config is read once, by New.
type Config struct {
	// Dir is the drop directory: files are taken from it (not from its
	// sub-directories). Required.
	Dir string
	// DoneDir and FailedDir receive processed files and their reports.
	// They must be on Dir's file system (files are renamed, not copied).
	// The defaults are Dir/done and Dir/failed.
	DoneDir, FailedDir string
	// QuietPeriod is how long a file's size and modification time must
	// stay unchanged before it is taken. The default is 10s.
	QuietPeriod time.Duration
	// TimeZone is the zone the files' modification times are given in
	// (the _file_time column), as a fixed offset. The default is +08:00.
	TimeZone string
	// Options are the defaults for every mapping.
	Options Options
	// Files override Options per mapping: the key is the mapping's
	// `table:` glob, written exactly as in the mapping file.
	Files map[string]Options
	// BatchSize and PollInterval are the pipeline's (defaults 2000, 10s).
	BatchSize    int
	PollInterval time.Duration
}

// FileConfig is a file-drop source's block of the config file, decoded
// strictly by the factory.
//
//	jimo-roster:
//	  driver: filedrop
//	  dir: /srv/hpgate/drop/370282
//	  quiet_period: 30s
//	  encoding: gbk
//	  files:
//	    "花名册*.xlsx": {sheet: 花名册, header_row: 3}
type FileConfig struct {
	Driver       string        `yaml:"driver"`
	Dir          string        `yaml:"dir"`
	DoneDir      string        `yaml:"done_dir"`
	FailedDir    string        `yaml:"failed_dir"`
	QuietPeriod  time.Duration `yaml:"quiet_period"`
	TimeZone     string        `yaml:"time_zone"`
	Options      `yaml:",inline"`
	Files        map[string]Options `yaml:"files"`
	BatchSize    int                `yaml:"batch_size"`
	PollInterval time.Duration      `yaml:"poll_interval"`
}

// Config returns the block as a Config.
func (fc FileConfig) Config() Config {
	return Config{
		Dir: fc.Dir, DoneDir: fc.DoneDir, FailedDir: fc.FailedDir, QuietPeriod: fc.QuietPeriod,
		TimeZone: fc.TimeZone, Options: fc.Options, Files: fc.Files, BatchSize: fc.BatchSize, PollInterval: fc.PollInterval,
	}
}

// Factory is the connectors.SourceFactory of the filedrop driver.
func Factory(name string, decode func(any) error, log *slog.Logger) (connectors.Source, error) {
	var fc FileConfig
	if err := decode(&fc); err != nil {
		return nil, err
	}
	if fc.Driver != "" && fc.Driver != Driver {
		return nil, fieldErr("driver", "%q given to the %s driver's factory", fc.Driver, Driver)
	}
	return New(name, fc.Config(), log)
}

func fieldErr(key, format string, args ...any) error {
	return &sqlsource.FieldError{Key: key, Err: fmt.Errorf(format, args...)}
}

func (c Config) withDefaults() Config {
	if c.DoneDir == "" && c.Dir != "" {
		c.DoneDir = filepath.Join(c.Dir, "done")
	}
	if c.FailedDir == "" && c.Dir != "" {
		c.FailedDir = filepath.Join(c.Dir, "failed")
	}
	if c.QuietPeriod == 0 {
		c.QuietPeriod = DefaultQuietPeriod
	}
	if c.TimeZone == "" {
		c.TimeZone = DefaultTimeZone
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	return c
}

// validate checks every field (defaults applied) and returns all the
// problems, as *sqlsource.FieldError values.
func (c Config) validate() (*time.Location, []error) {
	var errs []error
	if strings.TrimSpace(c.Dir) == "" {
		errs = append(errs, fieldErr("dir", "the drop directory is required"))
	}
	if c.QuietPeriod < 0 {
		errs = append(errs, fieldErr("quiet_period", "must not be negative, got %v", c.QuietPeriod))
	}
	zone, err := sqlsource.ParseZone(c.TimeZone)
	if err != nil {
		errs = append(errs, &sqlsource.FieldError{Key: "time_zone", Err: err})
	}
	if c.BatchSize < 0 {
		errs = append(errs, fieldErr("batch_size", "must be at least 1, got %d", c.BatchSize))
	}
	errs = append(errs, c.Options.validate("")...)
	for glob, o := range c.Files {
		if _, err := path.Match(glob, ""); err != nil {
			errs = append(errs, fieldErr("files", "%q is not a valid glob: %v", glob, err))
		}
		errs = append(errs, o.validate("files: "+glob+": ")...)
	}
	return zone, errs
}

func (o Options) validate(prefix string) []error {
	var errs []error
	if _, err := parseEncoding(o.Encoding); err != nil {
		errs = append(errs, fieldErr("encoding", "%s%v", prefix, err))
	}
	if o.HeaderRow < 0 {
		errs = append(errs, fieldErr("header_row", "%smust be at least 1, got %d", prefix, o.HeaderRow))
	}
	if o.MaxBadRowPercent < 0 || o.MaxBadRowPercent > 100 {
		errs = append(errs, fieldErr("max_bad_row_percent", "%smust be 1 to 100, got %d", prefix, o.MaxBadRowPercent))
	}
	if o.Delimiter != "" {
		r := []rune(o.Delimiter)
		if len(r) != 1 || r[0] == '"' || r[0] == '\r' || r[0] == '\n' {
			errs = append(errs, fieldErr("delimiter", "%smust be one character other than a quote or line break, got %q", prefix, o.Delimiter))
		}
	}
	return errs
}

// merge returns o with its zero fields taken from d.
func (o Options) merge(d Options) Options {
	if o.Encoding == "" {
		o.Encoding = d.Encoding
	}
	if o.Sheet == "" {
		o.Sheet = d.Sheet
	}
	if o.HeaderRow == 0 {
		o.HeaderRow = d.HeaderRow
	}
	if o.Delimiter == "" {
		o.Delimiter = d.Delimiter
	}
	if o.MaxBadRowPercent == 0 {
		o.MaxBadRowPercent = d.MaxBadRowPercent
	}
	return o
}

// DefaultMaxBadRowPercent is the default of Options.MaxBadRowPercent.
const DefaultMaxBadRowPercent = 50

func (o Options) withDefaults() Options {
	return o.merge(Options{Encoding: EncodingAuto, HeaderRow: 1, Delimiter: ",", MaxBadRowPercent: DefaultMaxBadRowPercent})
}

func parseEncoding(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", EncodingAuto:
		return EncodingAuto, nil
	case "utf8", "utf-8":
		return EncodingUTF8, nil
	case "gbk", "gb18030", "gb2312":
		return EncodingGBK, nil
	}
	return "", fmt.Errorf("unknown encoding %q, want auto, utf8 or gbk", s)
}
