package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/normalize"
	"github.com/hpgate/hpgate/pipeline/dlq"
)

// The source-to-Kafka audit proves, per mapping and per day, that what
// the source holds reached Kafka. It reads the source range through the
// mapping's own Source.Read and Apply, so the filter, the ids and the
// content hashes are exactly those `run` produces; then reads the
// mapping's canonical topic and the DLQ from their start, and compares by
// id (and hash) and by position.
//
// Days are those of the cursor timestamp (when the row last changed), in
// the mapping's zone; a snapshot mapping has one bucket, "all". A source
// row counts as on the topic when a record with its id is there, and its
// content as matching when one of those records has the current hash, so
// a record superseded by a later one is no mismatch. It counts as in the
// DLQ when a DLQ record of its position is there and it is not on the
// topic; as pending when it is newer than the mapping's checkpoint (not
// yet due); as missing otherwise. A topic record is extra when the source
// no longer has its id in the window, unless its id's latest record is a
// delete or lies after the window (the row changed since).
//
// Memory: the expected records of the window are held in one slice (a
// fixed-size entry a row, the content hash as its 32 bytes) indexed by id
// and by position, about 200 bytes a row (BenchmarkAudit); a county's
// settlement table (10^6 rows a year) needs about 20 MB for a month. On
// top of it comes the topic fetch being decoded (see Scanner.MaxBytes),
// whatever the window. The window is capped at MaxAuditDays.

// MaxAuditDays caps an audit's window.
const MaxAuditDays = 366

// AuditRequest says what to audit.
type AuditRequest struct {
	// Mappings to audit; empty means every mapping in force.
	Mappings []string
	// From and To bound the window by cursor timestamp, [From, To). To
	// defaults to the start of today, From to 7 days before To.
	From, To time.Time
	// Sample, when positive, compares content hashes on about that many
	// rows per mapping, spread evenly; 0 compares all.
	Sample int
}

// AuditDay is the figures of one mapping and one day.
type AuditDay struct {
	Mapping string `json:"mapping"`
	County  string `json:"county"`
	// Day is 2006-01-02, or "all" for a snapshot mapping.
	Day string `json:"day"`
	// Source is the rows of the source that pass the mapping's filter.
	Source int `json:"source"`
	// Topic is those whose id is on the canonical topic; DLQ those found
	// in the dead-letter topic instead.
	Topic int `json:"topic"`
	DLQ   int `json:"dlq"`
	// Pending is rows newer than the mapping's checkpoint: not yet due.
	Pending int `json:"pending"`
	// Missing is rows found in neither place; Extra is topic records
	// whose id the source does not have (see the package doc).
	Missing int `json:"missing"`
	Extra   int `json:"extra"`
	// HashMismatch is rows on the topic none of whose records carries the
	// current content; HashChecked is how many were compared.
	HashMismatch int `json:"hash_mismatch"`
	HashChecked  int `json:"hash_checked"`
}

// Gap reports whether the day shows a loss or a difference.
func (d *AuditDay) Gap() bool { return d.Missing > 0 || d.Extra > 0 || d.HashMismatch > 0 }

// AuditReport is the result of an audit.
type AuditReport struct {
	From time.Time  `json:"from"`
	To   time.Time  `json:"to"`
	Days []AuditDay `json:"days"`
}

// Gap reports whether any day shows a gap.
func (r *AuditReport) Gap() bool {
	return slices.ContainsFunc(r.Days, func(d AuditDay) bool { return d.Gap() })
}

// expected is one source row as `run` would send it.
type expected struct {
	hash  [sha256.Size]byte // of the record; zero for a rejected row
	day   int32
	flags uint8
}

// The flags of an expected row.
const (
	hasHash uint8 = 1 << iota // a record, not a rejection
	sampled
	onTopic
	hashOK
	inDLQ
	pending
)

// auditSet is the expectation of one mapping.
type auditSet struct {
	m    *mappings.Mapping
	days []string
	// rows are the rows of the window in source order; byID and byPos
	// index them.
	rows  []expected
	byID  map[string]int32
	byPos map[string]int32
	// extra candidates: id → day index, -1 once superseded.
	extra map[string]int
	from  time.Time
	to    time.Time
}

// recordHash parses a record's "sha256:<hex>" content hash.
func recordHash(s string) (h [sha256.Size]byte, ok bool) {
	hx, ok := strings.CutPrefix(s, "sha256:")
	var buf [2 * sha256.Size]byte // not []byte(hx): no allocation
	if !ok || len(hx) != len(buf) {
		return h, false
	}
	copy(buf[:], hx)
	_, err := hex.Decode(h[:], buf[:])
	return h, err == nil
}

func (s *auditSet) dayIndex(t time.Time) int {
	if s.m.Stream.Mode == "snapshot" {
		return 0
	}
	if t.Before(s.from) || !t.Before(s.to) {
		return -1
	}
	d := t.In(s.m.Zone()).Format(time.DateOnly)
	i, _ := slices.BinarySearch(s.days, d)
	return i
}

// Audit compares the source with the canonical topics and the DLQ for
// req's window, reading the topics through scan.
func (p *Pipeline) Audit(ctx context.Context, scan *Scanner, req AuditRequest) (*AuditReport, error) {
	names := req.Mappings
	if len(names) == 0 {
		p.mu.Lock()
		for n := range p.current {
			names = append(names, n)
		}
		p.mu.Unlock()
	}
	slices.Sort(names)
	sets := make(map[string]*auditSet, len(names))
	topics := map[string]bool{}
	for _, n := range names {
		m, ok := p.Mapping(n)
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrUnknownMapping, n)
		}
		from, to := auditWindow(req, m.Zone())
		if to.Sub(from) > MaxAuditDays*24*time.Hour {
			return nil, fmt.Errorf("audit window %s to %s is longer than %d days", from.Format(time.DateOnly), to.Format(time.DateOnly), MaxAuditDays)
		}
		s := &auditSet{m: m, byID: map[string]int32{}, byPos: map[string]int32{}, extra: map[string]int{}, from: from, to: to}
		if m.Stream.Mode == "snapshot" {
			s.days = []string{"all"}
		} else {
			for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
				s.days = append(s.days, d.Format(time.DateOnly))
			}
		}
		if err := p.auditSource(ctx, s, req.Sample); err != nil {
			return nil, fmt.Errorf("audit %s: source: %w", n, err)
		}
		sets[n] = s
		topics[m.Topic(p.opts.TopicPrefix)] = true
	}
	for _, t := range slices.Sorted(mapKeys(topics)) {
		if err := scan.Scan(ctx, t, func(rec *TopicRecord) error { return auditTopicRecord(sets, rec) }); err != nil && !errors.Is(err, ErrNoTopic) {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	err := scan.Scan(ctx, dlq.Topic(p.opts.TopicPrefix), func(rec *TopicRecord) error {
		var v struct {
			Mapping string `json:"mapping"`
			Source  struct {
				Position string `json:"position"`
			} `json:"source"`
		}
		if json.Unmarshal(rec.Value, &v) != nil {
			return nil
		}
		if s := sets[v.Mapping]; s != nil {
			if i, ok := s.byPos[v.Source.Position]; ok {
				s.rows[i].flags |= inDLQ
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrNoTopic) {
		return nil, fmt.Errorf("audit: %w", err)
	}
	rep := &AuditReport{}
	for i, n := range names {
		s := sets[n]
		if i == 0 {
			rep.From, rep.To = s.from, s.to
		}
		rep.Days = append(rep.Days, s.tally()...)
	}
	return rep, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// auditWindow returns the request's window in zone, whole days.
func auditWindow(req AuditRequest, zone *time.Location) (from, to time.Time) {
	day := func(t time.Time) time.Time {
		y, m, d := t.In(zone).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, zone)
	}
	to = day(time.Now())
	if !req.To.IsZero() {
		to = day(req.To)
	}
	from = to.AddDate(0, 0, -7)
	if !req.From.IsZero() {
		from = day(req.From)
	}
	return from, to
}

// auditSource reads s's window from the source and maps it.
func (p *Pipeline) auditSource(ctx context.Context, s *auditSet, sample int) error {
	m := s.m
	r := p.newRunner(m, p.sources[m.Source])
	snapshot := m.Stream.Mode == "snapshot"
	var pos connectors.Position
	if !snapshot {
		var err error
		if pos, err = PositionAt(ctx, r.src, m, s.from); err != nil {
			return err
		}
	}
	// Rows newer than the checkpoint are not due yet.
	var due time.Time
	if cp, err := p.store.Load(m.Name); err == nil && cp.Display != "" && !snapshot {
		ts, _, _ := strings.Cut(cp.Display, "|")
		if t, err := normalize.Date(ts, m.Zone()); err == nil {
			due = t
		}
	}
	bo := newBackoff(p.opts.MinBackoff, p.opts.MaxBackoff)
	for {
		b, err := r.readRetry(ctx, pos, bo)
		if err != nil {
			return err
		}
		if b == nil {
			return ctx.Err()
		}
		if b.Len() == 0 {
			break
		}
		sub, done := b, false
		if !snapshot {
			sub, done = clipRange(r, b, s.from, s.to)
		}
		if sub.Len() > 0 {
			now := time.Now()
			r.res.Reset()
			if err := m.Apply(sub, &r.res, now); err != nil {
				return err
			}
			add := func(row int, id string, e expected, position string) {
				t := cursorTime(m, sub, row)
				day := s.dayIndex(t)
				if day < 0 {
					return
				}
				e.day = int32(day)
				if !due.IsZero() && t.After(due) {
					e.flags |= pending
				}
				i := int32(len(s.rows))
				s.rows = append(s.rows, e)
				if id != "" {
					s.byID[id] = i
				}
				s.byPos[position] = i
			}
			for i := range r.res.Records {
				rec := &r.res.Records[i]
				var head struct {
					Hash   string `json:"hash"`
					Source struct {
						Position string `json:"position"`
					} `json:"source"`
				}
				if err := json.Unmarshal(rec.Value, &head); err != nil {
					return err
				}
				h, ok := recordHash(head.Hash)
				if !ok {
					return fmt.Errorf("record at %s: content hash %q is not sha256:<hex>", head.Source.Position, head.Hash)
				}
				add(rec.Row, string(rec.ID), expected{hash: h, flags: hasHash}, head.Source.Position)
			}
			for _, rj := range r.res.Rejections {
				add(rj.Row, "", expected{}, rj.Position)
			}
		}
		if done || b.Len() < r.batchSize {
			break
		}
		pos = b.Next
	}
	stride := 1
	if sample > 0 && len(s.rows) > sample {
		stride = (len(s.rows) + sample - 1) / sample
	}
	for i := range s.rows {
		if e := &s.rows[i]; e.flags&hasHash != 0 && i%stride == 0 {
			e.flags |= sampled
		}
	}
	return nil
}

// topicHead is the part of an envelope the audit reads.
type topicHead struct {
	ID     string `json:"id"`
	Op     string `json:"op"`
	Hash   string `json:"hash"`
	Source struct {
		Mapping  string `json:"mapping"`
		Position string `json:"position"`
	} `json:"source"`
}

func auditTopicRecord(sets map[string]*auditSet, rec *TopicRecord) error {
	var h topicHead
	if json.Unmarshal(rec.Value, &h) != nil {
		return nil
	}
	s := sets[h.Source.Mapping]
	if s == nil {
		return nil
	}
	if i, ok := s.byID[h.ID]; ok {
		e := &s.rows[i]
		e.flags |= onTopic
		if hash, ok := recordHash(h.Hash); ok && e.flags&hasHash != 0 && hash == e.hash {
			e.flags |= hashOK
		}
		return nil
	}
	// Not in the source window: an extra, unless superseded.
	if s.m.Stream.Mode == "snapshot" {
		if h.Op == canonical.OpDelete {
			delete(s.extra, h.ID)
		} else {
			s.extra[h.ID] = 0
		}
		return nil
	}
	ts, _, _ := strings.Cut(h.Source.Position, "|")
	t, err := normalize.Date(ts, s.m.Zone())
	switch {
	case err != nil:
		return nil // no timestamp to place it by
	case !t.Before(s.to) || h.Op == canonical.OpDelete:
		delete(s.extra, h.ID) // a later version, or deleted: not an extra
	case !t.Before(s.from):
		s.extra[h.ID] = s.dayIndex(t)
	}
	return nil
}

// tally turns s into per-day figures.
func (s *auditSet) tally() []AuditDay {
	days := make([]AuditDay, len(s.days))
	for i, d := range s.days {
		days[i] = AuditDay{Mapping: s.m.Name, County: s.m.County, Day: d}
	}
	// A row counts once, if an index still holds it (a later row of the
	// same id or position replaces it).
	seen := make([]bool, len(s.rows))
	for _, i := range s.byPos {
		seen[i] = true
	}
	for _, i := range s.byID {
		seen[i] = true
	}
	for i := range s.rows {
		if !seen[i] {
			continue
		}
		e := &s.rows[i]
		d := &days[e.day]
		d.Source++
		switch f := e.flags; {
		case f&onTopic != 0:
			d.Topic++
			if f&sampled != 0 {
				d.HashChecked++
				if f&hashOK == 0 {
					d.HashMismatch++
				}
			}
		case f&inDLQ != 0:
			d.DLQ++
		case f&pending != 0:
			d.Pending++
		default:
			d.Missing++
		}
	}
	for _, day := range s.extra {
		if day >= 0 {
			days[day].Extra++
		}
	}
	return days
}
