package pipeline

import (
	"time"
)

// Catch-up after a long outage: a mapping whose source lag (now minus the
// cursor timestamp of the last row delivered) is over the threshold reads
// on in its usual bounded pages (at most two batches in memory), and
// reports its progress: a log line every CatchupLogEvery and the gauge
// hpgate_catchup_remaining_estimate_seconds, estimated from the source
// time covered per second of wall time since the catch-up began. The
// estimate is lag / (rate - 1): the source keeps moving while the mapping
// catches up; -1 means it is not gaining.

// DefaultCatchupThreshold is the lag over which a mapping counts as
// catching up.
const DefaultCatchupThreshold = time.Hour

// CatchupLogEvery is how often a catching-up mapping logs its progress.
const CatchupLogEvery = 30 * time.Second

// catchup is a runner's catch-up state; only the runner's goroutine uses it.
type catchup struct {
	active    bool
	startWall time.Time
	startTS   time.Time
	lastLog   time.Time
	rows      int64
}

// trackCatchup updates the catch-up state after a delivered batch of n
// rows whose last row has cursor timestamp last; full is whether the batch
// was a full page (more is waiting).
func (r *runner) trackCatchup(last time.Time, n int, full bool, now time.Time) {
	c := &r.cu
	threshold := r.p.opts.CatchupThreshold
	if threshold <= 0 {
		threshold = DefaultCatchupThreshold
	}
	lag := now.Sub(last)
	if last.IsZero() || r.m.Stream.TimestampColumn == "" || !full || lag < threshold {
		if c.active {
			c.active = false
			r.p.metrics.CatchupRemaining.DeleteLabelValues(r.m.Name, r.m.County)
			r.log.Info("caught up", "rows", c.rows, "duration_seconds", now.Sub(c.startWall).Seconds())
		}
		return
	}
	if !c.active {
		*c = catchup{active: true, startWall: now, startTS: last, lastLog: now}
		r.log.Info("far behind the source, catching up", "lag_seconds", lag.Seconds())
		r.p.metrics.CatchupRemaining.WithLabelValues(r.m.Name, r.m.County).Set(-1)
		return
	}
	c.rows += int64(n)
	remaining := estimateRemaining(lag, last.Sub(c.startTS), now.Sub(c.startWall))
	r.p.metrics.CatchupRemaining.WithLabelValues(r.m.Name, r.m.County).Set(remaining.Seconds())
	if now.Sub(c.lastLog) >= CatchupLogEvery {
		c.lastLog = now
		r.log.Info("catching up", "lag_seconds", lag.Seconds(), "rows", c.rows,
			"remaining_estimate_seconds", remaining.Seconds())
	}
}

// estimateRemaining is the time left to close a lag when covered source
// time was read in elapsed wall time; -1s when it is not gaining.
func estimateRemaining(lag, covered, elapsed time.Duration) time.Duration {
	if elapsed <= 0 || covered <= 0 {
		return -time.Second
	}
	rate := covered.Seconds() / elapsed.Seconds() // source seconds per second
	if rate <= 1 {
		return -time.Second
	}
	return time.Duration(lag.Seconds() / (rate - 1) * float64(time.Second))
}
