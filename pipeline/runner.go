package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/monitoring"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
	"github.com/hpgate/hpgate/pipeline/dlq"
)

// runner moves one mapping's rows: read a batch, map it, write it, commit
// the checkpoint, again. It is the only goroutine touching its Result and
// message buffers.
type runner struct {
	p *Pipeline
	// name is the mapping's name, fixed for the runner's life (a reload
	// replaces m but never its name).
	name      string
	m         *mappings.Mapping
	next      atomic.Pointer[mappings.Mapping] // set by Reload, taken between batches
	cancel    context.CancelFunc               // ends this runner alone (mapping removed)
	src       connectors.Source
	batchSize int
	poll      time.Duration
	topic     string
	dlqTopic  string
	log       *slog.Logger

	res  mappings.Result
	msgs []connectors.Message

	cu catchup // progress while far behind the source

	mu     sync.Mutex
	status monitoring.MappingStatus
	done   chan struct{} // closed when the current run returns
}

// errStopped marks a mapping stopped by a condition only an operator can
// clear (a changed cursor, a configuration mistake).
var errStopped = errors.New("mapping stopped")

func (r *runner) setStatus(f func(s *monitoring.MappingStatus)) {
	r.mu.Lock()
	f(&r.status)
	r.mu.Unlock()
}

func (r *runner) snapshot() monitoring.MappingStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// run loops until ctx is done or the mapping stops. It returns nil on a
// clean stop (ctx done) and errStopped-wrapped errors otherwise.
func (r *runner) run(ctx context.Context) error {
	if nm := r.next.Swap(nil); nm != nil {
		// Reloaded while stopped: start with the new mapping; the
		// checkpoint's fingerprint decides below whether it may resume.
		r.m, r.res, r.topic = nm, mappings.Result{}, nm.Topic(r.p.opts.TopicPrefix)
	}
	cp, err := r.p.store.Load(r.m.Name)
	if err != nil {
		return r.stop(fmt.Errorf("load checkpoint: %w", err))
	}
	if cp.Fingerprint != "" && cp.Fingerprint != r.m.Fingerprint {
		return r.stop(fmt.Errorf("the mapping's cursor, table, query or filter changed since its checkpoint was taken; " +
			"check the position and run `hpgate checkpoint reset` or `hpgate checkpoint set`"))
	}
	pos := cp.Position
	total := cp.Rows
	r.setStatus(func(s *monitoring.MappingStatus) {
		s.State, s.Position, s.Checkpoint, s.Rows = "running", cp.Display, cp.UpdatedAt, total
	})
	if r.m.Stream.Mode == "snapshot" {
		return r.runSnapshot(ctx, cp)
	}
	bo := newBackoff(r.p.opts.MinBackoff, r.p.opts.MaxBackoff)
	var ahead readAhead
	defer ahead.drain()
	for {
		if ctx.Err() != nil {
			return nil
		}
		if r.next.Load() != nil {
			ahead.drain() // read with the old mapping: read again
			if err := r.adopt(); err != nil {
				return err
			}
		}
		b := ahead.take(pos)
		var err error
		if b == nil {
			b, err = r.readRetry(ctx, pos, bo)
		}
		if err != nil {
			return r.stop(err)
		}
		if b == nil {
			return nil // ctx done
		}
		if b.Len() == r.batchSize {
			// More is waiting: read the next page while this one is mapped
			// and written (at most two batches in flight).
			ahead.start(ctx, r, b.Next)
		}
		now := time.Now()
		if b.Len() == 0 && r.quiet() {
			// Quiet hours: nothing was read, so nothing is known to be
			// caught up; the lag keeps counting from the oldest row left.
			r.setStatus(func(s *monitoring.MappingStatus) { s.State = "quiet" })
			if !sleep(ctx, r.poll) {
				return nil
			}
			continue
		}
		if b.Len() == 0 {
			r.setStatus(func(s *monitoring.MappingStatus) {
				s.State, s.LastSuccess, s.Oldest, s.LastError = "idle", now, time.Time{}, ""
			})
			if !sleep(ctx, r.poll) {
				return nil
			}
			continue
		}
		oldest := r.rowTime(b, 0)
		r.setStatus(func(s *monitoring.MappingStatus) { s.State, s.Oldest = "running", oldest })
		r.p.metrics.InFlight.Inc()
		if err := r.deliver(ctx, b, now); err != nil {
			r.p.metrics.InFlight.Dec()
			if ctx.Err() != nil {
				r.log.Info("batch abandoned at shutdown, not checkpointed", "rows", b.Len())
				return nil
			}
			return r.stop(err)
		}
		r.acked(b)
		total += int64(b.Len())
		display := r.m.DisplayPosition(b, b.Len()-1)
		t0 := time.Now()
		err = r.p.store.Commit(r.m.Name, checkpoint.Checkpoint{
			Position: b.Next, Fingerprint: r.m.Fingerprint, UpdatedAt: t0, Rows: total, Display: display,
		})
		r.observe("checkpoint", t0)
		r.p.metrics.InFlight.Dec()
		if err != nil {
			return r.stop(fmt.Errorf("commit checkpoint: %w", err))
		}
		pos = b.Next
		r.trackCatchup(r.rowTime(b, b.Len()-1), b.Len(), b.Len() == r.batchSize, time.Now())
		r.log.Debug("batch delivered", "rows", b.Len(), "records", len(r.res.Records), "rejected", len(r.res.Rejections),
			"position", display, "duration_seconds", time.Since(now).Seconds())
		r.setStatus(func(s *monitoring.MappingStatus) {
			s.Position, s.Checkpoint, s.LastSuccess, s.Rows, s.LastError = display, t0, now, total, ""
		})
		if b.Len() < r.batchSize {
			// Caught up: what is left is younger than the settle delay.
			r.setStatus(func(s *monitoring.MappingStatus) { s.State, s.Oldest = "idle", time.Time{} })
			if !sleep(ctx, r.poll) {
				return nil
			}
		}
	}
}

// adopt switches to the mapping Reload left in next, between batches. A
// mapping whose cursor, table, query, filter or source changed stops: its
// position may mean nothing now.
func (r *runner) adopt() error {
	nm := r.next.Swap(nil)
	if nm == nil {
		return nil
	}
	old := r.m
	r.m, r.res, r.topic = nm, mappings.Result{}, nm.Topic(r.p.opts.TopicPrefix)
	r.setStatus(func(s *monitoring.MappingStatus) { s.County, s.Entity = nm.County, nm.Entity.Name })
	if nm.Fingerprint != old.Fingerprint || nm.Source != old.Source {
		return r.stop(fmt.Errorf("the reloaded mapping's cursor, table, query, filter or source changed; " +
			"check the position and run `hpgate checkpoint reset` or `hpgate checkpoint set`"))
	}
	r.log.Info("mapping reloaded")
	return nil
}

// quieter is a source that can pause in quiet hours (sqlsource).
type quieter interface{ Quiet() bool }

// quiet reports whether the source's latest read was skipped for its
// quiet hours.
func (r *runner) quiet() bool {
	q, ok := r.src.(quieter)
	return ok && q.Quiet()
}

// readRetry reads a batch, backing off and retrying while the source is
// unavailable. It returns nil and no error once ctx is done; any other
// error is one only an operator can clear.
func (r *runner) readRetry(ctx context.Context, pos connectors.Position, bo *backoff) (*connectors.Batch, error) {
	for {
		b, err := r.read(ctx, pos)
		if err == nil {
			bo.reset()
			r.p.metrics.SourceUp.WithLabelValues(r.m.Source).Set(1)
			return b, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		if !errors.Is(err, connectors.ErrUnavailable) {
			return nil, err
		}
		r.p.metrics.SourceUp.WithLabelValues(r.m.Source).Set(0)
		r.setStatus(func(s *monitoring.MappingStatus) { s.State, s.LastError = "backoff", safeError(err) })
		r.log.Warn("source unavailable, backing off", "wait", bo.peek(), "err", safeError(err))
		if !sleep(ctx, bo.next()) {
			return nil, nil
		}
	}
}

func (r *runner) read(ctx context.Context, pos connectors.Position) (*connectors.Batch, error) {
	t0 := time.Now()
	b, err := r.src.Read(ctx, r.m.Stream, pos, r.batchSize)
	r.observe("read", t0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", r.m.Name, err)
	}
	r.p.metrics.RowsRead.WithLabelValues(r.m.Source, r.m.Name, r.m.County).Add(float64(b.Len()))
	return b, nil
}

// deliver maps a batch and writes its records and rejections.
func (r *runner) deliver(ctx context.Context, b *connectors.Batch, now time.Time) error {
	t0 := time.Now()
	r.res.Reset()
	if err := r.m.Apply(b, &r.res, now); err != nil {
		return err
	}
	r.observe("map", t0)
	return r.write(ctx, b, now)
}

// write sends the Result's records and rejections of batch b and counts
// them once acknowledged.
func (r *runner) write(ctx context.Context, b *connectors.Batch, now time.Time) error {
	r.msgs = r.msgs[:0]
	for i := range r.res.Records {
		rec := &r.res.Records[i]
		r.msgs = append(r.msgs, connectors.Message{Topic: r.topic, Key: rec.Key, Value: rec.Value, Headers: r.m.Headers})
	}
	for i := range r.res.Rejections {
		msg, err := dlq.Message(r.m, r.p.key, r.dlqTopic, r.m.Source, b, &r.res.Rejections[i], now)
		if err != nil {
			return err
		}
		r.msgs = append(r.msgs, msg)
	}
	if err := r.writeRetry(ctx, r.msgs); err != nil {
		return err
	}
	r.countDelivered()
	return nil
}

// writeRetry writes msgs until Kafka acknowledges all of them or ctx ends.
// Every failure is retried, transient or not: a missing topic or a refused
// ACL is fixed by an operator at some point, and the batch must then go on
// from here, not from a reset.
func (r *runner) writeRetry(ctx context.Context, msgs []connectors.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	bo := newBackoff(r.p.opts.MinBackoff, r.p.opts.MaxBackoff)
	for {
		t1 := time.Now()
		err := r.p.sink.Write(ctx, msgs)
		r.observe("write", t1)
		if err == nil {
			return nil
		}
		r.countWriteErrors(msgs, err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.p.metrics.WriteRetries.Inc()
		r.setStatus(func(s *monitoring.MappingStatus) { s.State, s.LastError = "backoff", safeError(err) })
		r.log.Warn("kafka write failed, retrying the batch", "wait", bo.peek(), "err", safeError(err))
		if !sleep(ctx, bo.next()) {
			return ctx.Err()
		}
	}
}

func (r *runner) countWriteErrors(msgs []connectors.Message, err error) {
	var we *connectors.WriteError
	if !errors.As(err, &we) {
		r.p.metrics.WriteErrors.WithLabelValues(r.topic).Add(float64(len(msgs)))
		return
	}
	for i, e := range we.Errs {
		if e != nil && i < len(msgs) {
			r.p.metrics.WriteErrors.WithLabelValues(msgs[i].Topic).Inc()
		}
	}
}

// acked tells a source that observes acknowledgements (the file-drop
// source's reports) what became of batch b: its rejections by reason.
func (r *runner) acked(b *connectors.Batch) {
	ao, ok := r.src.(connectors.AckObserver)
	if !ok {
		return
	}
	var rejected map[string]int
	for i := range r.res.Rejections {
		if rejected == nil {
			rejected = make(map[string]int)
		}
		rejected[r.res.Rejections[i].Code]++
	}
	ao.Acked(r.m.Stream, b, rejected)
}

func (r *runner) countDelivered() {
	met := r.p.metrics
	nrec, nrej := len(r.res.Records), len(r.res.Rejections)
	met.Records.WithLabelValues(r.m.Name, r.m.Entity.Name, r.m.County).Add(float64(nrec))
	met.MessagesWritten.WithLabelValues(r.topic).Add(float64(nrec))
	if nrej > 0 {
		met.MessagesWritten.WithLabelValues(r.dlqTopic).Add(float64(nrej))
	}
	for i := range r.res.Rejections {
		code := r.res.Rejections[i].Code
		met.Rejections.WithLabelValues(r.m.Name, code, r.m.County).Inc()
		met.DLQMessages.WithLabelValues(r.m.Name, code, r.m.County).Inc()
	}
	if r.res.Filtered > 0 {
		met.Filtered.WithLabelValues(r.m.Name, r.m.County).Add(float64(r.res.Filtered))
	}
	r.setStatus(func(s *monitoring.MappingStatus) {
		s.Records += int64(nrec)
		s.Rejected += int64(nrej)
	})
}

func (r *runner) observe(stage string, t0 time.Time) {
	r.p.metrics.BatchDuration.WithLabelValues(r.m.Name, stage, r.m.County).Observe(time.Since(t0).Seconds())
}

// rowTime is the cursor timestamp of row i, zero when there is none.
func (r *runner) rowTime(b *connectors.Batch, i int) time.Time {
	if r.m.Stream.TimestampColumn == "" {
		return time.Now()
	}
	return cursorTime(r.m, b, i)
}

// stop records a stopped mapping and returns the error to log.
func (r *runner) stop(err error) error {
	r.setStatus(func(s *monitoring.MappingStatus) { s.State, s.LastError = "stopped", safeError(err) })
	return fmt.Errorf("%w: %s: %w", errStopped, r.m.Name, err)
}

// safeError renders an error for status pages and logs. Errors from hpgate
// packages never hold personal data; a driver's message might quote a
// value, so it is cut to its first line and length-capped.
func safeError(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// sleep waits d or until ctx is done; false means ctx is done.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff is exponential with full jitter between min and max.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max, cur: min} }

func (b *backoff) peek() time.Duration { return b.cur }

func (b *backoff) next() time.Duration {
	d := b.cur
	b.cur *= 2
	if b.cur > b.max {
		b.cur = b.max
	}
	return d/2 + time.Duration(jitter(int64(d/2)+1))
}

func (b *backoff) reset() { b.cur = b.min }

// readAhead holds the read of the next page, started while the current
// page is mapped and written, so the database and the broker work at the
// same time.
type readAhead struct {
	pos connectors.Position
	ch  chan readResult
}

type readResult struct {
	b   *connectors.Batch
	err error
}

func (a *readAhead) start(ctx context.Context, r *runner, pos connectors.Position) {
	a.pos, a.ch = pos, make(chan readResult, 1)
	ch := a.ch
	go func() {
		b, err := r.read(ctx, pos)
		ch <- readResult{b, err}
	}()
}

// take returns the read-ahead batch if one was started at pos. A failed
// read-ahead returns nothing: the caller reads again through its usual
// back-off path.
func (a *readAhead) take(pos connectors.Position) *connectors.Batch {
	if a.ch == nil {
		return nil
	}
	res := <-a.ch
	a.ch = nil
	if res.err != nil || a.pos != pos {
		return nil
	}
	return res.b
}

// drain waits for a read-ahead still running, so no goroutine outlives
// the runner.
func (a *readAhead) drain() {
	if a.ch != nil {
		<-a.ch
		a.ch = nil
	}
}
