package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/normalize"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
)

// Replay and backfill: re-read one mapping's range from its source and
// write it again, without touching the live checkpoint of that mapping or
// any other. The replay keeps its own progress under ReplayKey(mapping)
// in the checkpoint store (sealed like every position), committed after
// each acknowledged batch: an interrupted replay resumes where it stopped,
// a finished one removes its key. Consumers drop the repeats by (id, hash).

// ReplayKey is the checkpoint name under which a replay of mapping keeps
// its progress.
func ReplayKey(mapping string) string { return "replay:" + mapping }

// ReplayRequest says what to replay.
type ReplayRequest struct {
	Mapping string
	// From is the position to start after; empty means from FromTime, or
	// from the start of the source when FromTime is zero too.
	From connectors.Position
	// FromTime and ToTime bound the range by the cursor timestamp, in
	// [FromTime, ToTime). Zero means unbounded.
	FromTime, ToTime time.Time
	// Rate caps the rows read per second; 0 is the source's own pace.
	Rate int
	// Restart ignores the progress of an earlier, interrupted replay.
	Restart bool
}

// ReplayResult says what a replay did.
type ReplayResult struct {
	Rows, Records, Rejected, Filtered int64
	// Resumed is true when it went on from an interrupted replay.
	Resumed bool
	// First and Last are the display positions of the first and last rows
	// written (no personal data).
	First, Last string
}

// ErrReplayRunning is returned when a replay of the mapping is already going on.
var ErrReplayRunning = errors.New("a replay of this mapping is already running")

// Replay re-reads req.Mapping's range and writes its records and
// rejections again, at most req.Rate rows a second. Only incremental
// mappings can be replayed (a snapshot mapping is re-read whole by
// `checkpoint reset`). It returns when the range is done, or with ctx's
// error, keeping the progress for a later call.
func (p *Pipeline) Replay(ctx context.Context, req ReplayRequest) (*ReplayResult, error) {
	m, ok := p.Mapping(req.Mapping)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownMapping, req.Mapping)
	}
	if m.Stream.Mode == "snapshot" {
		return nil, fmt.Errorf("%s is a snapshot mapping: reset its checkpoint to send every row again", m.Name)
	}
	if !p.claim("replay:" + m.Name) {
		return nil, fmt.Errorf("%s: %w", m.Name, ErrReplayRunning)
	}
	defer p.release("replay:" + m.Name)
	spec := p.sources[m.Source]
	r := p.newRunner(m, spec)
	r.log = r.log.With("component", "replay")
	key := ReplayKey(m.Name)
	res := &ReplayResult{}
	pos := req.From
	if !req.Restart {
		cp, err := p.store.Load(key)
		if err != nil {
			return nil, err
		}
		if cp.Position != "" && cp.Fingerprint == m.Fingerprint {
			pos, res.Resumed = cp.Position, true
		}
	}
	if pos == "" && !req.FromTime.IsZero() {
		var err error
		if pos, err = PositionAt(ctx, r.src, m, req.FromTime); err != nil {
			return nil, err
		}
	}
	limit := r.batchSize
	if req.Rate > 0 {
		limit = min(limit, req.Rate)
	}
	started := time.Now()
	bo := newBackoff(p.opts.MinBackoff, p.opts.MaxBackoff)
	r.log.Info("replay started", "from", req.FromTime, "to", req.ToTime, "rate", req.Rate, "resumed", res.Resumed)
	for {
		b, err := r.readLimit(ctx, pos, limit, bo)
		if err != nil {
			return res, err
		}
		if b == nil {
			return res, ctx.Err()
		}
		n := b.Len()
		sub, done := clipRange(r, b, req.FromTime, req.ToTime)
		if sub.Len() > 0 {
			now := time.Now()
			r.res.Reset()
			if err := m.Apply(sub, &r.res, now); err != nil {
				return res, err
			}
			if err := r.write(ctx, sub, now); err != nil {
				return res, err
			}
			display := m.DisplayPosition(sub, sub.Len()-1)
			if res.First == "" {
				res.First = m.DisplayPosition(sub, 0)
			}
			res.Last = display
			res.Rows += int64(sub.Len())
			res.Records += int64(len(r.res.Records))
			res.Rejected += int64(len(r.res.Rejections))
			res.Filtered += int64(r.res.Filtered)
			p.metrics.ReplayRows.WithLabelValues(m.Name, m.County).Add(float64(sub.Len()))
		}
		if done || n < limit {
			if err := p.store.Reset(key); err != nil && !errors.Is(err, checkpoint.ErrNotFound) {
				return res, err
			}
			r.log.Info("replay done", "rows", res.Rows, "records", res.Records, "rejected", res.Rejected,
				"duration_seconds", time.Since(started).Seconds())
			return res, nil
		}
		pos = b.Next
		if err := p.store.Commit(key, checkpoint.Checkpoint{
			Position: pos, Fingerprint: m.Fingerprint, Rows: res.Rows, Display: m.DisplayPosition(b, n-1),
		}); err != nil {
			return res, err
		}
		if req.Rate > 0 {
			// Pace: res.Rows rows may take res.Rows/Rate seconds.
			want := time.Duration(float64(res.Rows+int64(n-sub.Len())) / float64(req.Rate) * float64(time.Second))
			if d := want - time.Since(started); d > 0 && !sleep(ctx, d) {
				return res, ctx.Err()
			}
		}
	}
}

// readLimit reads up to limit rows after pos, backing off while the
// source is unavailable.
func (r *runner) readLimit(ctx context.Context, pos connectors.Position, limit int, bo *backoff) (*connectors.Batch, error) {
	saved := r.batchSize
	r.batchSize = limit
	defer func() { r.batchSize = saved }()
	return r.readRetry(ctx, pos, bo)
}

// clipRange returns the rows of b whose cursor timestamp lies in [from,
// to), and whether a row at or past to was met (rows come in cursor
// order, so nothing after it is in the range).
func clipRange(r *runner, b *connectors.Batch, from, to time.Time) (*connectors.Batch, bool) {
	if from.IsZero() && to.IsZero() {
		return b, false
	}
	lo, hi, done := 0, b.Len(), false
	for i := range b.Len() {
		t := r.rowTime(b, i)
		if !from.IsZero() && t.Before(from) {
			lo = i + 1
			continue
		}
		if !to.IsZero() && !t.Before(to) {
			hi, done = i, true
			break
		}
	}
	if lo >= hi {
		return &connectors.Batch{Columns: b.Columns, Next: b.Next}, done
	}
	return b.Slice(lo, hi), done
}

// textLayouts are the text layouts of cursor timestamps PositionAt can
// build a start position in; their text order is their time order.
var textLayouts = []string{"20060102150405", "2006-01-02 15:04:05", "2006/01/02 15:04:05", "2006-01-02T15:04:05", "20060102", "2006-01-02"}

// PositionAt returns a position from which a read of m's stream returns
// the rows whose cursor timestamp is at or after t (and possibly a few
// rows just before it, which the caller skips by their timestamp). It
// reads one row to learn how the source stores the timestamp: a date-time
// type, or text in one of the common layouts. For anything else it
// returns the start of the stream: correct, only slower.
func PositionAt(ctx context.Context, src connectors.Source, m *mappings.Mapping, t time.Time) (connectors.Position, error) {
	st := m.Stream
	if _, ok := src.(*sqlsource.Source); !ok || st.Mode == "snapshot" || st.TimestampColumn == "" {
		return "", nil
	}
	b, err := src.Read(ctx, st, "", 1)
	if err != nil {
		return "", fmt.Errorf("probe %s: %w", m.Name, err)
	}
	if b.Len() == 0 {
		return "", nil
	}
	var sample any
	for j, c := range b.Columns {
		if strings.EqualFold(c, st.TimestampColumn) {
			sample = b.Rows[0][j]
		}
	}
	at := t.Add(-time.Second).In(m.Zone())
	var v any
	switch x := sample.(type) {
	case time.Time:
		v = at
	case string, []byte:
		text := strings.TrimSpace(fmt.Sprintf("%s", x))
		for _, l := range textLayouts {
			if len(text) != len(l) {
				continue
			}
			if _, err := time.Parse(l, text); err == nil {
				if len(l) <= len("2006-01-02") {
					at = at.AddDate(0, 0, -1) // a date alone: start the day before
				}
				v = at.Format(l)
				break
			}
		}
	}
	if v == nil {
		return "", nil
	}
	vals := []any{v}
	for range st.KeyColumns {
		vals = append(vals, "")
	}
	return sqlsource.PositionOf(vals...)
}

// cursorTime is the cursor timestamp of row i of b in m's zone, zero when
// the row has none or it does not parse.
func cursorTime(m *mappings.Mapping, b *connectors.Batch, i int) time.Time {
	st := m.Stream
	for _, col := range []string{st.TimestampColumn, st.TimestampFallback} {
		for j, c := range b.Columns {
			if col == "" || !strings.EqualFold(c, col) || b.Rows[i][j] == nil {
				continue
			}
			t, err := normalize.Date(b.Rows[i][j], m.Zone())
			if err != nil {
				return time.Time{}
			}
			return t
		}
	}
	return time.Time{}
}
