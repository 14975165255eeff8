package sqlsource

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hpgate/hpgate/connectors"
)

const (
	// nullCheckEvery spaces the counts of rows with a NULL timestamp.
	nullCheckEvery = 10 * time.Minute
	// maxPresize caps the rows a batch is sized for before any arrive.
	maxPresize = 16384
)

// Source reads tables and queries of one database through database/sql.
// It implements connectors.Source and holds no position: the pipeline owns
// positions and passes them to Read.
//
// Read is safe for concurrent use, for the same stream or different ones;
// the connections are shared, capped by Config.MaxOpenConns.
type Source struct {
	name  string
	cfg   Config
	d     dialect
	db    *sql.DB
	zone  *time.Location
	quiet []window
	log   *slog.Logger
	clock func() time.Time // hpgate's wall clock: quiet hours, rate cap, stats
	rate  *limiter         // nil without a cap

	stats  stats
	closed atomic.Bool

	// served is the dialect once the server version is known (versioned
	// dialects read it at the first read); until then d.
	served atomic.Pointer[dialectBox]
	mu     sync.Mutex
	types  map[string][]colType // cursor column types by plan, for cursorTyper dialects
}

type dialectBox struct{ d dialect }

var _ connectors.Source = (*Source)(nil)

// New validates cfg and returns a Source named name (the config's source
// instance). It does not connect: the first Read does. Its error is an
// errors.Join of every problem found, each a *FieldError naming its config
// key. log may be nil.
func New(name string, cfg Config, log *slog.Logger) (*Source, error) {
	cfg = cfg.withDefaults()
	v, errs := cfg.validate(true)
	var db *sql.DB
	if v.d != nil && cfg.DSN != "" && v.zone != nil {
		var err error
		if db, err = v.d.open(string(cfg.DSN), v.zone); err != nil {
			errs = append(errs, &FieldError{Key: "dsn", Err: err})
		}
	}
	if len(errs) > 0 {
		if db != nil {
			_ = db.Close()
		}
		return nil, errors.Join(errs...) // flat: a loader places each key
	}
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	db.SetMaxIdleConns(cfg.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{
		name:  name,
		cfg:   cfg,
		d:     v.d,
		db:    db,
		zone:  v.zone,
		quiet: v.quiet,
		log:   log,
		clock: time.Now,
		types: make(map[string][]colType),
	}
	if cfg.RowsPerSecond > 0 {
		s.rate = &limiter{rate: cfg.RowsPerSecond, clock: func() time.Time { return s.clock() }}
	}
	return s, nil
}

// Name returns the source instance name.
func (s *Source) Name() string { return s.name }

// Zone returns the zone of the source's naive date and time values.
func (s *Source) Zone() *time.Location { return s.zone }

// BatchSize returns the configured page size (default 2000).
func (s *Source) BatchSize() int { return s.cfg.BatchSize }

// PollInterval returns the configured wait after an empty batch (default 30s).
func (s *Source) PollInterval() time.Duration { return s.cfg.PollInterval }

// Stats returns a snapshot of the source's counters.
func (s *Source) Stats() Stats { return s.stats.snapshot() }

// Close closes the connections. Reads in flight finish or fail; later ones
// return connectors.ErrClosed.
func (s *Source) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}

// Now returns the database's clock, read as UTC and expressed in the
// source's zone. It is what the settle delay is measured against.
func (s *Source) Now(ctx context.Context) (time.Time, error) {
	if s.closed.Load() {
		return time.Time{}, connectors.ErrClosed
	}
	qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	now, err := s.now(qctx)
	if err != nil {
		return time.Time{}, s.classify(ctx, "read database clock", err)
	}
	return now, nil
}

func (s *Source) now(ctx context.Context) (time.Time, error) {
	s.stats.update(func(c *Stats) { c.Queries++ })
	var v any
	if err := s.db.QueryRowContext(ctx, s.d.nowQuery()).Scan(&v); err != nil {
		return time.Time{}, err
	}
	t, err := s.d.parseNow(v)
	if err != nil {
		return time.Time{}, err
	}
	return t.In(s.zone), nil
}

// Read returns up to limit rows of st strictly after the position after, in
// cursor order (limit <= 0 means Config.BatchSize).
//
// In incremental mode (the default) the cursor is st.TimestampColumn then
// st.KeyColumns, and only rows whose timestamp is at or before the
// database's now minus the settle delay are read. Rows whose timestamp is
// NULL are never read in this mode; they are counted in Stats. In snapshot
// mode the cursor is the key columns alone and the whole table is read,
// page by page; change detection is the pipeline's.
//
// Batch.Columns are the columns of the result (st.Columns, or all), values
// are as the driver returns them ([]byte for text, DECIMAL and, with mysql,
// DATETIME; int64; float64; nil; time.Time in the source's zone for
// drivers that parse dates), and every []byte is a copy the Batch owns.
// Batch.Positions[i] is the position just after row i.
//
// An empty batch and a nil error mean nothing new, or quiet hours (see
// Stats.Quiet). Errors wrap connectors.ErrUnavailable for outages: a lost
// or refused connection, a query that ran out of Config.QueryTimeout, lock
// contention. A cancelled or expired ctx returns its error, not
// ErrUnavailable. Any other error (an unknown column, a bad stream, a
// malformed position, a NULL in a cursor column) is a mistake to fix, and
// its text holds no position or row value.
func (s *Source) Read(ctx context.Context, st connectors.Stream, after connectors.Position, limit int) (*connectors.Batch, error) {
	if s.closed.Load() {
		return nil, connectors.ErrClosed
	}
	p, err := newPlan(s.d, st)
	if err != nil {
		s.stats.update(func(c *Stats) { c.Errors++ })
		return nil, err
	}
	cur, err := decodePosition(after, len(p.cursor))
	if err != nil {
		s.stats.update(func(c *Stats) { c.Errors++ })
		return nil, fmt.Errorf("read %s: %w", st.Name, err)
	}
	if limit <= 0 {
		limit = s.cfg.BatchSize
	}
	if s.rate != nil {
		limit = min(limit, s.rate.pageCap())
	}
	if s.inQuietHours() {
		s.stats.update(func(c *Stats) { c.QuietSkips++; c.Quiet = true })
		return &connectors.Batch{Next: after}, nil
	}
	if s.rate != nil {
		if err := s.rate.wait(ctx); err != nil {
			return nil, fmt.Errorf("read %s: %w", st.Name, err)
		}
	}

	qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	d, p, err := s.prepare(qctx, p)
	if err != nil {
		return nil, s.fail(ctx, st, "prepare", err)
	}
	var cutoff any
	if p.incremental {
		now, err := s.now(qctx)
		if err != nil {
			return nil, s.fail(ctx, st, "read database clock for", err)
		}
		cutoff = d.timeArg(s.cutoff(now))
	}
	b, err := s.page(qctx, d, p, p.page(d, cur, cutoff, limit), limit)
	if err != nil {
		s.forgetTypes(p)
		return nil, s.fail(ctx, st, "read", err)
	}
	b.Next = after
	if n := len(b.Positions); n > 0 {
		b.Next = b.Positions[n-1]
	}
	if p.incremental && s.stats.nullCheckDue(st.Name, s.clock(), nullCheckEvery) {
		s.countNulls(qctx, d, p)
	}
	if s.rate != nil {
		s.rate.spend(len(b.Rows))
	}
	end := s.clock()
	s.stats.update(func(c *Stats) {
		c.Reads++
		c.Rows += int64(len(b.Rows))
		c.Quiet = false
		c.LastRead = end
	})
	return b, nil
}

// cutoff returns the newest timestamp an incremental read may take: the
// database's now minus the settle delay, truncated to the second (a
// conservative bound, and a value every timestamp column type can hold).
func (s *Source) cutoff(now time.Time) time.Time {
	if s.cfg.SettleDelay > 0 {
		now = now.Add(-s.cfg.SettleDelay)
	}
	return now.Truncate(time.Second)
}

func (s *Source) inQuietHours() bool {
	if len(s.quiet) == 0 {
		return false
	}
	h, m, _ := s.clock().In(s.zone).Clock()
	for _, w := range s.quiet {
		if w.contains(h*60 + m) {
			return true
		}
	}
	return false
}

// prepare returns the dialect for the server's version and p ready to
// render: for a cursorTyper dialect, typed by its cursor columns' types,
// which are described once per table or query and cursor.
func (s *Source) prepare(ctx context.Context, p *plan) (dialect, *plan, error) {
	d, err := s.serverDialect(ctx)
	if err != nil {
		return nil, nil, err
	}
	ct, ok := d.(cursorTyper)
	if !ok {
		return d, p, nil
	}
	key := typesKey(p)
	s.mu.Lock()
	types := s.types[key]
	s.mu.Unlock()
	if types == nil {
		if types, err = s.describe(ctx, p); err != nil {
			return nil, nil, err
		}
		s.mu.Lock()
		s.types[key] = types
		s.mu.Unlock()
	}
	return d, p.typed(ct, types), nil
}

func typesKey(p *plan) string { return p.from + "\x00" + strings.Join(p.cursorSQL, "\x00") }

// forgetTypes drops the described types of p's cursor after a failed
// page: the table may have changed.
func (s *Source) forgetTypes(p *plan) {
	s.mu.Lock()
	delete(s.types, typesKey(p))
	s.mu.Unlock()
}

// describe returns the types of p's cursor columns, from a statement that
// returns no row.
func (s *Source) describe(ctx context.Context, p *plan) ([]colType, error) {
	s.stats.update(func(c *Stats) { c.Queries++ })
	rows, err := s.db.QueryContext(ctx, p.describe().text)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	if len(types) != len(p.cursor) {
		return nil, fmt.Errorf("describing the cursor returned %d columns, want %d", len(types), len(p.cursor))
	}
	out := make([]colType, len(types))
	for i, ct := range types {
		out[i] = colTypeOf(ct)
	}
	return out, rows.Close()
}

// serverDialect returns the dialect for the server's version, reading the
// version at the first call for a versioned dialect set to auto. A version
// query refused for lack of privilege leaves the form every version
// accepts; an outage is returned, and the next read tries again.
func (s *Source) serverDialect(ctx context.Context) (dialect, error) {
	if b := s.served.Load(); b != nil {
		return b.d, nil
	}
	v, ok := s.d.(versioned)
	if !ok || v.versionKnown() {
		s.served.Store(&dialectBox{s.d})
		return s.d, nil
	}
	s.stats.update(func(c *Stats) { c.Queries++ })
	var raw any
	if err := s.db.QueryRowContext(ctx, v.versionQuery()).Scan(&raw); err != nil {
		if ctx.Err() != nil || transient(err) || s.d.transient(err) {
			return nil, err
		}
		s.log.Warn("cannot read the database server version; paging in the form every version accepts", "err", err)
		raw = nil
	}
	d, err := v.withServerVersion(raw)
	if err != nil {
		return nil, err
	}
	s.log.Info("database server version", "version", asText(raw))
	s.served.Store(&dialectBox{d})
	return d, nil
}

// page runs one page statement and scans its rows.
func (s *Source) page(ctx context.Context, d dialect, p *plan, q stmt, limit int) (*connectors.Batch, error) {
	s.stats.update(func(c *Stats) { c.Queries++ })
	rows, err := s.db.QueryContext(ctx, q.text, q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	sc, err := newBatchScanner(d, s.zone, types, p.cursor)
	if err != nil {
		return nil, err
	}
	cols := make([]string, sc.ncols)
	for i := range cols {
		cols[i] = types[i].Name()
	}
	size := min(limit, maxPresize)
	b := &connectors.Batch{
		Columns:   cols,
		Rows:      make([][]any, 0, size),
		Positions: make([]connectors.Position, 0, size),
	}
	if err := sc.scanInto(rows, b, limit); err != nil {
		return nil, err
	}
	return b, rows.Close()
}

// countNulls refreshes the count of rows incremental reads cannot see. A
// failure does not fail the Read whose page is already in hand; it is
// logged, and the count is retried at the next check.
func (s *Source) countNulls(ctx context.Context, d dialect, p *plan) {
	s.stats.update(func(c *Stats) { c.Queries++ })
	q := p.nullCount(d)
	var n int64
	if err := s.db.QueryRowContext(ctx, q.text, q.args...).Scan(&n); err != nil {
		s.log.Warn("count of rows with a null timestamp failed", "stream", p.st.Name, "err", err)
		return
	}
	if prev := s.stats.setNull(p.st.Name, n); n > 0 && n != prev {
		s.log.Warn("rows with a null timestamp are not read incrementally",
			"stream", p.st.Name, "rows", n, "column", p.st.TimestampColumn)
	}
}

// fail counts a failed Read and classifies its error.
func (s *Source) fail(ctx context.Context, st connectors.Stream, op string, err error) error {
	err = s.classify(ctx, op+" "+st.Name, err)
	unavailable := errors.Is(err, connectors.ErrUnavailable)
	s.stats.update(func(c *Stats) {
		c.Errors++
		if unavailable {
			c.Unavailable++
		}
	})
	return err
}

// classify wraps err with what was attempted, and with
// connectors.ErrUnavailable when it is an outage. ctx is the caller's: when
// it is done, the caller gave up, and its error is returned instead.
func (s *Source) classify(ctx context.Context, what string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if transient(err) || s.d.transient(err) {
		return fmt.Errorf("%w: %s: %w", connectors.ErrUnavailable, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// transient reports the outages every driver shares: a bad or closed
// connection, a network error, a timeout.
func transient(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &ne):
		return true
	}
	return false
}
