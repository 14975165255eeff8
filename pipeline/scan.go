package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// TopicRecord is one record of a topic as a scan reads it. Key and Value
// are valid only during the callback.
type TopicRecord struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []kafka.Header
}

// Header returns the value of the first header called key.
func (r *TopicRecord) Header(key string) []byte {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// A Scanner reads a topic from its oldest record to the end it had when
// the scan began, partition by partition, in offset order. Records written
// during the scan are not read. It holds one fetch (at most MaxBytes) in
// memory at a time.
type Scanner struct {
	Client *kafka.Client
	// MaxBytes caps one fetch response (compressed, as the broker stores
	// it); 0 means DefaultScanMaxBytes. A batch larger than it still comes
	// whole, one a fetch, so it bounds memory, never what can be read.
	MaxBytes int64
}

// DefaultScanMaxBytes is a Scanner's default MaxBytes: 1 MiB, the Kafka
// consumer's default per-partition fetch. Decoded, a fetch of canonical
// JSON is some 7 MB inside kafka-go; 4 MiB held about 2.5 times the heap
// for the same throughput, and 512 KiB saves little more for twice the
// round trips, which cost on a WAN link to the brokers (BenchmarkAudit).
const DefaultScanMaxBytes = 1 << 20

// ErrNoTopic is returned by Scan for a topic the cluster does not have.
var ErrNoTopic = errors.New("no such topic")

// Scan calls fn for every record of topic; an error from fn ends the scan
// and is returned.
func (s *Scanner) Scan(ctx context.Context, topic string, fn func(*TopicRecord) error) error {
	md, err := s.Client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return fmt.Errorf("scan %s: metadata: %w", topic, err)
	}
	var parts []int
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return fmt.Errorf("scan %s: %w: %w", topic, ErrNoTopic, t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return fmt.Errorf("scan %s: %w", topic, ErrNoTopic)
	}
	sort.Ints(parts)
	reqs := make([]kafka.OffsetRequest, 0, 2*len(parts))
	for _, p := range parts {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	offs, err := s.Client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return fmt.Errorf("scan %s: list offsets: %w", topic, err)
	}
	po := offs.Topics[topic]
	sort.Slice(po, func(i, j int) bool { return po[i].Partition < po[j].Partition })
	for _, p := range po {
		if p.Error != nil {
			return fmt.Errorf("scan %s/%d: list offsets: %w", topic, p.Partition, p.Error)
		}
		if err := s.scanPartition(ctx, topic, p.Partition, p.FirstOffset, p.LastOffset, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *Scanner) scanPartition(ctx context.Context, topic string, part int, first, end int64, fn func(*TopicRecord) error) error {
	maxBytes := s.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultScanMaxBytes
	}
	rec := TopicRecord{Topic: topic, Partition: part}
	for off := first; off < end; {
		res, err := s.Client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: part, Offset: off, MinBytes: 1, MaxBytes: maxBytes})
		if err != nil {
			return fmt.Errorf("scan %s/%d at %d: %w", topic, part, off, err)
		}
		if res.Error != nil {
			return fmt.Errorf("scan %s/%d at %d: %w", topic, part, off, res.Error)
		}
		next, err := readRecords(res.Records, off, end, &rec, fn)
		if err != nil {
			return err
		}
		if next == off {
			// Nothing at or after off below the end: the log was truncated
			// or compacted past it.
			if res.HighWatermark <= off {
				return nil
			}
			off++
			continue
		}
		off = next
	}
	return nil
}

// readRecords reads one fetch response, calls fn for records in [from,
// end) and returns the offset after the last one read.
func readRecords(rr kafka.RecordReader, from, end int64, rec *TopicRecord, fn func(*TopicRecord) error) (int64, error) {
	if rr == nil {
		return from, nil
	}
	next := from
	for {
		r, err := rr.ReadRecord()
		if errors.Is(err, io.EOF) {
			return next, nil
		}
		if err != nil {
			return next, fmt.Errorf("scan %s/%d: %w", rec.Topic, rec.Partition, err)
		}
		if r.Offset < from {
			continue
		}
		if r.Offset >= end {
			return end, nil
		}
		rec.Offset = r.Offset
		if rec.Key, err = readBytes(r.Key); err == nil {
			rec.Value, err = readBytes(r.Value)
		}
		if err != nil {
			return next, fmt.Errorf("scan %s/%d at %d: %w", rec.Topic, rec.Partition, r.Offset, err)
		}
		rec.Headers = r.Headers
		if err := fn(rec); err != nil {
			return next, err
		}
		next = r.Offset + 1
	}
}

func readBytes(b protocol.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	return protocol.ReadAll(b)
}
