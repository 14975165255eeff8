package sqlsource

import (
	"maps"
	"sync"
	"time"
)

// Stats is a snapshot of a Source's counters since New, for the monitoring
// package to export at scrape time (the source does not depend on
// Prometheus).
type Stats struct {
	// Reads is the number of Read calls that queried the database.
	Reads int64
	// Queries is the number of statements run: pages, clock reads and
	// NULL-timestamp counts.
	Queries int64
	// Rows is the number of rows returned.
	Rows int64
	// Errors is the number of failed Read calls; Unavailable counts those
	// among them that were reported as connectors.ErrUnavailable.
	Errors      int64
	Unavailable int64
	// QuietSkips is the number of Read calls answered with an empty batch
	// because they fell in quiet hours; Quiet tells whether the latest
	// Read did. A pipeline should not report a quiet source as caught up.
	QuietSkips int64
	Quiet      bool
	// LastRead is when the latest successful Read that queried the
	// database ended (zero before the first).
	LastRead time.Time
	// NullTimestamps holds, by stream name, the number of rows whose
	// timestamp column is NULL as last counted. Incremental reads cannot
	// see those rows (see the package doc); a pipeline should warn while
	// the count is not zero.
	NullTimestamps map[string]int64
}

// stats is the live, mutex-guarded form of Stats.
type stats struct {
	mu          sync.Mutex
	s           Stats
	nullChecked map[string]time.Time
}

func (st *stats) snapshot() Stats {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.s
	s.NullTimestamps = maps.Clone(st.s.NullTimestamps)
	return s
}

func (st *stats) update(f func(s *Stats)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(&st.s)
}

// nullCheckDue reports whether the NULL-timestamp count of stream is due:
// on its first read, then at most once per every, and records the check.
func (st *stats) nullCheckDue(stream string, now time.Time, every time.Duration) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	last, ok := st.nullChecked[stream]
	if ok && now.Sub(last) < every {
		return false
	}
	if st.nullChecked == nil {
		st.nullChecked = make(map[string]time.Time)
	}
	st.nullChecked[stream] = now
	return true
}

// setNull records a count and returns the previous one.
func (st *stats) setNull(stream string, n int64) (prev int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.s.NullTimestamps == nil {
		st.s.NullTimestamps = make(map[string]int64)
	}
	prev = st.s.NullTimestamps[stream]
	st.s.NullTimestamps[stream] = n
	return prev
}

// Quiet reports whether the latest Read fell in quiet hours: its empty
// batch does not mean the source is caught up.
func (s *Source) Quiet() bool {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return s.stats.s.Quiet
}
