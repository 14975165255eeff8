package pipeline

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
	"github.com/hpgate/hpgate/pipeline/dlq"
)

// DLQ re-drive: once a mapping is fixed, the rows it rejected are read back
// from the dead-letter topic, unsealed, mapped with the mapping in force
// and written to the canonical topic. A log in the state store, keyed by
// the DLQ record's topic, partition and offset, remembers every attempt:
// a row delivered (or now filtered out) is never re-driven again, and a
// row still rejected is tried again only once its mapping file changed.
// Rows still rejected are reported by reason; they stay in the DLQ, where
// they already are, rather than being copied there again.

// redriveBucket is the state-store bucket of the re-drive log.
const redriveBucket = "dlq_redrive"

// RedriveRequest says what to re-drive.
type RedriveRequest struct {
	Mapping string
	// Reason, when set, limits the re-drive to rows rejected with that code.
	Reason string
	// DryRun maps the rows and reports, writing nothing and logging nothing.
	DryRun bool
}

// RedriveResult counts what a re-drive did with the DLQ records of the
// mapping (and reason).
type RedriveResult struct {
	// Scanned is the DLQ records of the mapping (and reason) read.
	Scanned int `json:"scanned"`
	// Done is those re-driven before (delivered, filtered, or rejected
	// again by the same mapping file): left alone.
	Done int `json:"done"`
	// Delivered rows now map and were written to the canonical topic.
	Delivered int `json:"delivered"`
	// Filtered rows are now skipped by the mapping's filter.
	Filtered int `json:"filtered"`
	// Rejected counts the rows still rejected, by reason code.
	Rejected map[string]int `json:"rejected,omitempty"`
	// Unreadable counts rows whose sealed copy could not be opened (sealed
	// under another key, or damaged), by cause.
	Unreadable map[string]int `json:"unreadable,omitempty"`
	// BadRows counts rows the source itself could not read (code
	// bad_row): they hold no data to map again and are left alone; the
	// file is mended and dropped again.
	BadRows int `json:"bad_rows,omitempty"`
}

// redriveEntry is one attempt in the re-drive log.
type redriveEntry struct {
	Outcome string    `json:"outcome"` // delivered, filtered, rejected
	Code    string    `json:"code,omitempty"`
	Mapping string    `json:"mapping_file"` // sha256 of the mapping file tried
	Value   string    `json:"value"`        // sha256 of the DLQ value, so a reused offset is not mistaken
	At      time.Time `json:"at"`
}

// pendingRow is a DLQ record decoded for re-drive.
type pendingRow struct {
	key   string // re-drive log key
	value string // sha256 of the DLQ value
	cols  []string
	row   []any
}

// bucketer is a store with key-value buckets (*checkpoint.Store).
type bucketer interface {
	Bucket(name string) *checkpoint.Bucket
}

// Redrive re-drives the DLQ records of req.Mapping with the mapping in
// force, reading the dead-letter topic through scan. fileHash identifies
// the mapping file's content (see trail.FileHash). Only one re-drive of a
// mapping runs at a time.
func (p *Pipeline) Redrive(ctx context.Context, scan *Scanner, fileHash string, req RedriveRequest) (*RedriveResult, error) {
	m, ok := p.Mapping(req.Mapping)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownMapping, req.Mapping)
	}
	bs, ok := p.store.(bucketer)
	if !ok {
		return nil, errors.New("redrive: the state store keeps no re-drive log")
	}
	if !p.claim("redrive:" + m.Name) {
		return nil, fmt.Errorf("%s: a re-drive is already running", m.Name)
	}
	defer p.release("redrive:" + m.Name)
	log := bs.Bucket(redriveBucket)
	r := p.newRunner(m, p.sources[m.Source])
	res := &RedriveResult{Rejected: map[string]int{}, Unreadable: map[string]int{}}
	topic := dlq.Topic(p.opts.TopicPrefix)
	var pending []pendingRow
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := p.redriveBatch(ctx, r, log, fileHash, pending, req.DryRun, res)
		pending = pending[:0]
		return err
	}
	err := scan.Scan(ctx, topic, func(rec *TopicRecord) error {
		var head struct {
			Mapping string `json:"mapping"`
			Code    string `json:"code"`
		}
		if json.Unmarshal(rec.Value, &head) != nil || head.Mapping != m.Name || (req.Reason != "" && head.Code != req.Reason) {
			return nil
		}
		res.Scanned++
		if head.Code == connectors.CodeBadRow {
			res.BadRows++
			return nil
		}
		sum := sha256.Sum256(rec.Value)
		pr := pendingRow{key: rec.Topic + "/" + strconv.Itoa(rec.Partition) + "/" + strconv.FormatInt(rec.Offset, 10), value: hex.EncodeToString(sum[:])}
		prev, err := log.Get([]byte(pr.key))
		if err != nil {
			return err
		}
		if prev != nil {
			var e redriveEntry
			if json.Unmarshal(prev, &e) == nil && e.Value == pr.value && (e.Outcome != "rejected" || e.Mapping == fileHash) {
				res.Done++
				return nil
			}
		}
		_, cols, row, err := dlq.Open(p.key, rec.Value)
		if err != nil {
			res.Unreadable[unreadableCause(err)]++
			return nil
		}
		pr.cols, pr.row = cols, row
		if len(pending) > 0 && !slices.Equal(pending[0].cols, cols) || len(pending) >= r.batchSize {
			if err := flush(); err != nil {
				return err
			}
		}
		pending = append(pending, pr)
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return res, fmt.Errorf("redrive %s: %w", m.Name, err)
	}
	r.log.Info("dlq re-drive done", "component", "redrive", "records", res.Delivered, "filtered", res.Filtered,
		"rejected", res.StillRejected(), "dry_run", req.DryRun)
	return res, nil
}

// StillRejected is the total of rows still rejected, all reasons.
func (r *RedriveResult) StillRejected() int { return sum(r.Rejected) }

// UnreadableTotal is the total of rows that could not be unsealed.
func (r *RedriveResult) UnreadableTotal() int { return sum(r.Unreadable) }

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// unreadableCause is a short, bounded cause for a DLQ row that cannot be
// unsealed; never the error text, which might quote data.
func unreadableCause(err error) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return "undecodable"
	default:
		return "unsealable"
	}
}

// redriveBatch maps rows that share one column set, writes what now maps
// and logs every outcome once Kafka acknowledged.
func (p *Pipeline) redriveBatch(ctx context.Context, r *runner, log *checkpoint.Bucket, fileHash string, rows []pendingRow, dry bool, res *RedriveResult) error {
	m := r.m
	b := &connectors.Batch{Columns: rows[0].cols, Rows: make([][]any, len(rows))}
	for i := range rows {
		b.Rows[i] = rows[i].row
	}
	now := time.Now()
	r.res.Reset()
	if err := m.Apply(b, &r.res, now); err != nil {
		return err
	}
	outcome := make([]redriveEntry, len(rows))
	for i := range outcome {
		outcome[i] = redriveEntry{Outcome: "filtered", Mapping: fileHash, Value: rows[i].value, At: now}
	}
	for _, rec := range r.res.Records {
		outcome[rec.Row].Outcome = "delivered"
	}
	for _, rj := range r.res.Rejections {
		outcome[rj.Row].Outcome, outcome[rj.Row].Code = "rejected", rj.Code
	}
	if !dry && len(r.res.Records) > 0 {
		r.msgs = r.msgs[:0]
		for i := range r.res.Records {
			rec := &r.res.Records[i]
			r.msgs = append(r.msgs, connectors.Message{Topic: r.topic, Key: rec.Key, Value: rec.Value, Headers: m.Headers})
		}
		if err := r.writeRetry(ctx, r.msgs); err != nil {
			return err
		}
		p.metrics.Records.WithLabelValues(m.Name, m.Entity.Name, m.County).Add(float64(len(r.res.Records)))
		p.metrics.MessagesWritten.WithLabelValues(r.topic).Add(float64(len(r.res.Records)))
	}
	for i, e := range outcome {
		switch e.Outcome {
		case "delivered":
			res.Delivered++
		case "filtered":
			res.Filtered++
		default:
			res.Rejected[e.Code]++
		}
		if dry {
			continue
		}
		p.metrics.RedriveRows.WithLabelValues(m.Name, e.Outcome, m.County).Inc()
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := log.Put([]byte(rows[i].key), v); err != nil {
			return err
		}
	}
	return nil
}

// DLQSummary counts DLQ records by mapping and reason, with re-drive state.
type DLQSummary struct {
	Mapping string `json:"mapping"`
	Reason  string `json:"reason"`
	Records int    `json:"records"`
	// Redriven counts those delivered (or filtered) by a re-drive.
	Redriven int `json:"redriven"`
	// Sample is the masked row of the latest record, for people to read.
	Sample map[string]string `json:"sample,omitempty"`
}

// SummarizeDLQ reads the dead-letter topic and counts its records by
// mapping and reason. It shows masked rows only; nothing is unsealed.
// store may be nil (no re-drive state then).
func SummarizeDLQ(ctx context.Context, scan *Scanner, prefix string, store *checkpoint.Store) ([]DLQSummary, error) {
	var log *checkpoint.Bucket
	if store != nil {
		log = store.Bucket(redriveBucket)
	}
	type k struct{ mapping, reason string }
	acc := map[k]*DLQSummary{}
	err := scan.Scan(ctx, dlq.Topic(prefix), func(rec *TopicRecord) error {
		var v canonical.DLQ
		if json.Unmarshal(rec.Value, &v) != nil {
			return nil
		}
		s := acc[k{v.Mapping, v.Code}]
		if s == nil {
			s = &DLQSummary{Mapping: v.Mapping, Reason: v.Code}
			acc[k{v.Mapping, v.Code}] = s
		}
		s.Records++
		s.Sample = v.Row
		if log != nil {
			key := rec.Topic + "/" + strconv.Itoa(rec.Partition) + "/" + strconv.FormatInt(rec.Offset, 10)
			if prev, err := log.Get([]byte(key)); err == nil && prev != nil {
				var e redriveEntry
				if json.Unmarshal(prev, &e) == nil && e.Outcome != "rejected" {
					s.Redriven++
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]DLQSummary, 0, len(acc))
	for _, s := range acc {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b DLQSummary) int {
		return cmp.Or(strings.Compare(a.Mapping, b.Mapping), strings.Compare(a.Reason, b.Reason))
	})
	return out, nil
}
