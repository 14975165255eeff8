package kafkasink

import (
	"maps"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Stats is a snapshot of a Sink's counters, cumulative since New (unlike
// kafka-go's WriterStats, which reset at each read, so that several readers
// can share them). monitoring adapts it to Prometheus at scrape time.
type Stats struct {
	// Writes is the number of Write calls; WriteTime their total duration.
	Writes    int64
	WriteTime time.Duration
	// Messages is the number of messages acknowledged; Failed the number
	// returned as failed (a message retried by the caller counts again).
	Messages int64
	Failed   int64
	// Requests is the number of produce requests sent, kafka-go's retries
	// included; RequestErrors those that failed; Retries the retries.
	Requests      int64
	RequestErrors int64
	Retries       int64
	// RequestTime is the total time of produce requests.
	RequestTime time.Duration
	// Bytes is the size of the messages sent (keys, values, headers),
	// before compression, retries included.
	Bytes int64
	// Topics holds the per-topic counts; the map is the caller's.
	Topics map[string]TopicStats
}

// TopicStats counts the messages of one topic.
type TopicStats struct {
	Messages int64 // acknowledged
	Failed   int64 // returned as failed
}

// Stats returns a snapshot of the Sink's counters. It is safe to call
// concurrently with Write.
func (s *Sink) Stats() Stats {
	return s.stats.snapshot()
}

type collector struct {
	mu     sync.Mutex
	s      Stats
	topics map[string]*TopicStats
}

func (c *collector) addCall(w *writeCall, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Writes++
	c.s.WriteTime += d
	for i := range w.topics {
		t := &w.topics[i]
		ts := c.topics[t.name]
		if ts == nil {
			ts = new(TopicStats)
			c.topics[t.name] = ts
		}
		// Messages of a topic not counted as failed were acknowledged.
		ts.Failed += t.failed
		ts.Messages += t.total - t.failed
		c.s.Failed += t.failed
		c.s.Messages += t.total - t.failed
	}
}

func (c *collector) addWriter(ws kafka.WriterStats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Requests += ws.Writes
	c.s.RequestErrors += ws.Errors
	c.s.Retries += ws.Retries
	c.s.RequestTime += ws.WriteTime.Sum
	c.s.Bytes += ws.Bytes
}

func (c *collector) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	s.Topics = make(map[string]TopicStats, len(c.topics))
	for name, ts := range maps.All(c.topics) {
		s.Topics[name] = *ts
	}
	return s
}
