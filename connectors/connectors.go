// Package connectors defines hpgate's I/O contract: what a source of rows and
// a sink of messages must do, and the table of drivers that build them.
//
// It holds no implementation and imports no other hpgate package; concrete
// connectors live in sub-packages (sqlsource, kafkasink, …) and are listed in
// one place, builtin.Drivers.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
)

// DefaultBatchSize is the rows a batch holds when the config sets no
// batch_size, for every source: the runner reads the next batch while it
// writes the current one, so throughput is flat from about 2,000 rows
// while memory grows with the batch (hpgate bench).
const DefaultBatchSize = 2000

// ErrUnavailable marks a transient outage (a database or broker that went
// away, a timeout). Callers back off and retry; any other error stops the
// stream with a status. Wrap it: fmt.Errorf("%w: %w", ErrUnavailable, err).
var ErrUnavailable = errors.New("unavailable")

// ErrClosed is returned by a Source or Sink used after Close.
var ErrClosed = errors.New("closed")

// Position is an opaque resume point in one stream, encoded by its source
// (keyset sources hold the timestamp and the key values). The zero value
// means "from the start". A Position may hold personal data (a key column
// that is an ID number): it is stored encrypted and never displayed.
type Position string

// Stream says what to read from a source: one table or query, its cursor and
// its row filter. It is built from a mapping file and is immutable.
type Stream struct {
	// Name is the mapping name; it names the stream in logs and metrics.
	Name string
	// Table is the source table (or view); empty when Query is set.
	Table string
	// Query is a custom SELECT written by IT staff; empty when Table is set.
	Query string
	// Columns are the source columns to read; empty means all (SELECT *).
	Columns []string
	// Mode is "incremental" (keyset on TimestampColumn, KeyColumns) or
	// "snapshot" (full read with change detection).
	Mode string
	// TimestampColumn is the cursor's timestamp column in incremental mode.
	TimestampColumn string
	// TimestampFallback, when set, is read where TimestampColumn is NULL
	// (e.g. a creation time for rows never updated): the cursor is then
	// COALESCE(TimestampColumn, TimestampFallback), which an index on the
	// pair does not serve.
	TimestampFallback string
	// KeyColumns are the unique key columns, in cursor order.
	KeyColumns []string
	// Where is an optional SQL condition added to every read.
	Where string
}

// String returns the stream name.
func (s Stream) String() string { return s.Name }

// Batch is a page of rows read from one stream. Columns is shared by all
// rows; Rows[i][j] holds the value of Columns[j] as the driver returned it
// (string, []byte, int64, float64, time.Time, nil, …). A Batch and its rows
// are owned by the caller after Read returns.
type Batch struct {
	Columns []string
	Rows    [][]any
	// Positions[i] is the resume point just after Rows[i]; the last one is
	// where the next Read starts.
	Positions []Position
	// Next is the position after the whole batch (equal to the last of
	// Positions, or the position read from when the batch is empty).
	Next Position
	// Problems are the rows the source could read only partly or not at
	// all (a CSV line with the wrong number of cells, a spreadsheet row
	// that cannot be parsed), in row order, at most one per row; nil for
	// almost every batch. Such a row still has its place in Rows and
	// Positions, but its values may be nil: the mapper never maps it, it
	// rejects it with the problem's code and message, so the row reaches
	// the dead-letter queue with its position and the rest of the batch
	// goes on.
	Problems []RowProblem
}

// CodeBadRow is the reason code of a row a source could not read into
// columns (a CSV line with the wrong number of cells, an XLSX row that
// cannot be parsed). Such a row holds no data to map again: it is mended
// at its source, never re-driven.
const CodeBadRow = "bad_row"

// RowProblem says why row Row of a Batch could not be read. Code is a
// stable snake_case reason (also a metric label), such as "bad_row";
// Message names where the row is (file and line, sheet row) and what is
// wrong, never a value of it.
type RowProblem struct {
	Row     int
	Code    string
	Message string
}

// Len returns the number of rows.
func (b *Batch) Len() int { return len(b.Rows) }

// Slice returns rows lo to hi-1 of b as a batch of their own, with their
// positions and problems (re-indexed), sharing b's memory. Its Next is the
// position after row hi-1, or b's position before row lo when empty.
func (b *Batch) Slice(lo, hi int) *Batch {
	sub := &Batch{Columns: b.Columns, Rows: b.Rows[lo:hi]}
	if len(b.Positions) >= hi {
		sub.Positions = b.Positions[lo:hi]
	}
	switch {
	case hi > lo:
		sub.Next = b.RowPosition(hi - 1)
	case lo > 0:
		sub.Next = b.RowPosition(lo - 1)
	default:
		sub.Next = b.Next
	}
	for _, p := range b.Problems {
		if p.Row >= lo && p.Row < hi {
			p.Row -= lo
			sub.Problems = append(sub.Problems, p)
		}
	}
	return sub
}

// RowPosition returns the resume point just after row i.
func (b *Batch) RowPosition(i int) Position {
	if i < len(b.Positions) {
		return b.Positions[i]
	}
	return b.Next
}

// A Source reads rows from one configured system. Read must be safe to call
// concurrently for different streams; it must not hold ctx after returning.
type Source interface {
	// Read returns up to limit rows of st strictly after `after`, in cursor
	// order. An empty batch and a nil error mean nothing new yet. A transient
	// outage is returned wrapped in ErrUnavailable.
	Read(ctx context.Context, st Stream, after Position, limit int) (*Batch, error)
	// Close releases the source's connections.
	Close() error
}

// An AckObserver is a Source that wants to know what became of the rows it
// handed out (the file-drop source counts them in each file's report).
// Once Kafka has acknowledged the records and dead letters of batch b of
// stream st, and before its checkpoint is committed, the pipeline calls
// Acked with the number of b's rows sent to the dead-letter queue, by
// reason code (nil when none). Acked is called from the stream's runner,
// one batch at a time, in order; it must be quick and cannot fail. After
// a crash a batch may be acknowledged again when it is read again.
type AckObserver interface {
	Acked(st Stream, b *Batch, rejected map[string]int)
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Message is one record for a sink. Key and Value may alias a caller-owned
// buffer: a Sink must not retain them after Write returns.
type Message struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []Header
}

// A Sink delivers messages. Write returns only after every message is
// acknowledged (acks=all), or with an error; a *WriteError says which
// messages failed, index for index. Write does not retain msgs.
type Sink interface {
	Write(ctx context.Context, msgs []Message) error
	// Close flushes and releases the sink; it gives up when ctx is done.
	Close(ctx context.Context) error
}

// WriteError reports per-message failures of one Sink.Write: Errs[i] is the
// error of msgs[i], nil when that message was acknowledged.
type WriteError struct {
	Errs []error
}

// Error summarises the failures.
func (e *WriteError) Error() string {
	n, first := 0, error(nil)
	for _, err := range e.Errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	return fmt.Sprintf("%d of %d messages not written: %v", n, len(e.Errs), first)
}

// Unwrap returns the per-message errors, so errors.Is sees through them.
func (e *WriteError) Unwrap() []error {
	out := make([]error, 0, len(e.Errs))
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// SourceFactory builds a source from its config block. decode is the strict,
// position-aware decoder of that block (unknown keys fail with line:col). A
// factory validates and resolves secrets but never dials.
type SourceFactory func(name string, decode func(any) error, log *slog.Logger) (Source, error)

// Drivers maps a driver name (the `driver:` key of a source) to its factory.
type Drivers struct {
	sources map[string]SourceFactory
}

// RegisterSource adds a source driver. It panics on a duplicate name, as
// sql.Register does: that is a programming error found at start-up.
func (d *Drivers) RegisterSource(name string, f SourceFactory) {
	if d.sources == nil {
		d.sources = make(map[string]SourceFactory)
	}
	if _, dup := d.sources[name]; dup {
		panic("connectors: source driver registered twice: " + strconv.Quote(name))
	}
	d.sources[name] = f
}

// Source returns the factory of a source driver.
func (d *Drivers) Source(name string) (SourceFactory, bool) {
	f, ok := d.sources[name]
	return f, ok
}

// SourceNames lists the registered source drivers, sorted, for messages
// such as "unknown driver, known: mysql, oracle".
func (d *Drivers) SourceNames() string {
	names := make([]string, 0, len(d.sources))
	for n := range d.sources {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
