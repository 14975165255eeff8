package registry

import (
	"context"
	"sync"
	"time"
)

// bucket caps the rate of HTTP requests: a token bucket of capacity one
// (requests are spaced at least 1/rate apart, no bursts), shared by every
// stream of a source. golang.org/x/time/rate is not a dependency, and
// sqlsource's row limiter pays per row after the read; a request limit
// pays before it.
type bucket struct {
	every time.Duration
	clock func() time.Time

	mu   sync.Mutex
	next time.Time // when the next request may go
}

func newBucket(perSecond float64, clock func() time.Time) *bucket {
	return &bucket{every: time.Duration(float64(time.Second) / perSecond), clock: clock}
}

// wait reserves the next slot and blocks until it comes or ctx is done (a
// cancelled wait gives its slot back only if no later one was taken).
func (b *bucket) wait(ctx context.Context) error {
	b.mu.Lock()
	now := b.clock()
	at := b.next
	if at.Before(now) {
		at = now
	}
	b.next = at.Add(b.every)
	b.mu.Unlock()
	d := at.Sub(now)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		b.mu.Lock()
		if b.next.Equal(at.Add(b.every)) {
			b.next = at
		}
		b.mu.Unlock()
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
