package registry

import (
	"errors"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hpgate/hpgate/connectors"
)

// Stats is a snapshot of a Source's counters since New, for the monitoring
// package to export at scrape time (the source does not depend on
// Prometheus), as sqlsource.Stats is.
type Stats struct {
	// Requests counts the HTTP requests sent, every attempt of a retried
	// request included, by resource and status class: "2xx", "3xx", "4xx",
	// "5xx", or "error" when no response came (connection refused, reset,
	// timeout, TLS).
	Requests map[RequestClass]int64
	// Retries counts requests sent again after a fault: a 429, a 5xx, a
	// transport error (retried by the HTTP client) or a malformed page.
	Retries int64
	// RateLimited counts 429 (Too Many Requests) responses.
	RateLimited int64
	// MalformedPages counts 200 responses whose page could not be used:
	// invalid or truncated JSON, an echo of another request, records out
	// of order or without their cursor fields.
	MalformedPages int64
	// LastPage is when the latest usable page arrived (zero before the
	// first).
	LastPage time.Time
	// Errors counts failed Read calls; Unavailable those among them that
	// were outages (connectors.ErrUnavailable). Cancelled Reads are not
	// counted.
	Errors, Unavailable int64
}

// RequestClass labels Stats.Requests: the resource (persons, households,
// …) and the status class of the response.
type RequestClass struct {
	Resource, Class string
}

// stats is the live, mutex-guarded form of Stats.
type stats struct {
	mu sync.Mutex
	s  Stats
}

func (st *stats) snapshot() Stats {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.s
	s.Requests = maps.Clone(st.s.Requests)
	return s
}

func (st *stats) update(f func(s *Stats)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(&st.s)
}

// Stats returns a snapshot of the source's counters.
func (s *Source) Stats() Stats { return s.stats.snapshot() }

// resourceKey carries a request's resource in its context, for the
// counting transport.
type resourceKey struct{}

// counting is the transport under the HTTP client's retries: it sees every
// attempt and counts it by resource and status class.
type counting struct {
	next http.RoundTripper
	st   *stats
}

func (c *counting) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil && req.Context().Err() != nil {
		return resp, err // cancelled, possibly before it was sent
	}
	resource, _ := req.Context().Value(resourceKey{}).(string)
	class := "error"
	if err == nil {
		class = strconv.Itoa(resp.StatusCode/100) + "xx"
	}
	c.st.update(func(s *Stats) {
		if s.Requests == nil {
			s.Requests = map[RequestClass]int64{}
		}
		s.Requests[RequestClass{resource, class}]++
		if err == nil && resp.StatusCode == http.StatusTooManyRequests {
			s.RateLimited++
		}
	})
	return resp, err
}

// countRead records a failed Read (not called for a cancelled one).
func (st *stats) countRead(err error) {
	st.update(func(s *Stats) {
		s.Errors++
		if errors.Is(err, connectors.ErrUnavailable) {
			s.Unavailable++
		}
	})
}
