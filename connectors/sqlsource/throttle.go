package sqlsource

import (
	"context"
	"math"
	"sync"
	"time"
)

// limiter spreads reads so that rows arrive at rate rows per second on
// average. A read waits until the time its predecessors paid for has
// passed, then pays for the rows it got. Concurrent streams of one source
// share it, so the cap is per source, as the config says; two reads that
// start together may overshoot by one page.
type limiter struct {
	rate  float64
	clock func() time.Time

	mu   sync.Mutex
	next time.Time
}

// pageCap is the most rows one read may take: one second's worth.
func (l *limiter) pageCap() int {
	return int(max(1, math.Ceil(l.rate)))
}

// wait blocks until the limiter allows the next read or ctx is done.
func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	d := l.next.Sub(l.clock())
	l.mu.Unlock()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// spend accounts for n rows read.
func (l *limiter) spend(n int) {
	if n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := l.clock(); l.next.Before(now) {
		l.next = now
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
}
