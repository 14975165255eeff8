package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/monitoring"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
)

// A snapshot-mode mapping (a table without a usable timestamp) is read
// whole, pass after pass. Only rows that are new or whose content changed
// since the last pass are written; rows gone since the last pass become
// delete records, built from the identifying fields kept for them. Rows
// rejected are sent to the DLQ once, not at every pass.
//
// Change-detection state changes only after Kafka acknowledged what it
// covers, so a crash repeats records rather than losing them; a pass cut
// short is begun again from the start of the table.

// snapIdent is what is kept (sealed) of a row, to delete it once gone.
type snapIdent struct {
	ID   string          `json:"id"`
	Key  string          `json:"key"`
	Data json.RawMessage `json:"data"`
}

func (r *runner) runSnapshot(ctx context.Context, cp checkpoint.Checkpoint) error {
	snap := r.p.store.Snapshot(r.m.Name)
	hasher := r.p.key.NewHasher()
	total := cp.Rows
	bo := newBackoff(r.p.opts.MinBackoff, r.p.opts.MaxBackoff)
	for ctx.Err() == nil {
		if err := r.adopt(); err != nil {
			return err
		}
		pass, err := snap.BeginPass()
		if err != nil {
			return r.stop(err)
		}
		started := time.Now()
		var pos connectors.Position
		passRows := 0
		for {
			b, err := r.readRetry(ctx, pos, bo)
			if err != nil {
				return r.stop(err)
			}
			if b == nil {
				return nil // ctx done
			}
			if b.Len() == 0 {
				break
			}
			r.setStatus(func(s *monitoring.MappingStatus) { s.State, s.Oldest = "running", started })
			if err := r.deliverChanges(ctx, snap, pass, hasher, b); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return r.stop(err)
			}
			passRows += b.Len()
			total += int64(b.Len())
			pos = b.Next
			r.setStatus(func(s *monitoring.MappingStatus) { s.Rows = total })
		}
		if err := r.sweep(ctx, snap, pass); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return r.stop(err)
		}
		now := time.Now()
		display := fmt.Sprintf("snapshot pass %d: %d rows", pass, passRows)
		if err := r.p.store.Commit(r.m.Name, checkpoint.Checkpoint{
			Fingerprint: r.m.Fingerprint, UpdatedAt: now, Rows: total, Display: display,
		}); err != nil {
			return r.stop(fmt.Errorf("commit checkpoint: %w", err))
		}
		r.setStatus(func(s *monitoring.MappingStatus) {
			// The pass's data is as of its start.
			s.State, s.Oldest, s.LastSuccess, s.Checkpoint, s.Position, s.LastError = "idle", time.Time{}, started, now, display, ""
		})
		if !sleep(ctx, r.poll) {
			return nil
		}
	}
	return nil
}

// deliverChanges maps a batch, writes the records that changed and the
// rejections not sent before, then records the batch as seen.
func (r *runner) deliverChanges(ctx context.Context, snap *checkpoint.Snapshot, pass uint64, hasher interface {
	Sum(*[32]byte, string)
}, b *connectors.Batch) error {
	now := time.Now()
	r.res.Reset()
	if err := r.m.Apply(b, &r.res, now); err != nil {
		return err
	}
	entries := make([]checkpoint.SnapshotEntry, 0, len(r.res.Records)+len(r.res.Rejections))
	for i := range r.res.Records {
		rec := &r.res.Records[i]
		var e checkpoint.SnapshotEntry
		hasher.Sum(&e.Key, "rec:"+string(rec.ID))
		e.Content = sha256.Sum256(rec.Data)
		entries = append(entries, e)
	}
	for i := range r.res.Rejections {
		rj := &r.res.Rejections[i]
		var e checkpoint.SnapshotEntry
		hasher.Sum(&e.Key, "rej:"+rj.Position)
		e.Content = sha256.Sum256(fmt.Appendf(nil, "%v", b.Rows[rj.Row]))
		entries = append(entries, e)
	}
	changed, err := snap.Changed(entries, nil)
	if err != nil {
		return err
	}
	// Keep only what changed, for the write; idents for the changed rows.
	keepRec := r.res.Records[:0]
	for i := range r.res.Records {
		if !changed[i] {
			continue
		}
		rec := r.res.Records[i]
		ident, err := r.m.Ident(&rec)
		if err != nil {
			return err
		}
		entries[i].Ident, err = json.Marshal(snapIdent{ID: string(rec.ID), Key: string(rec.Key), Data: ident})
		if err != nil {
			return err
		}
		keepRec = append(keepRec, rec)
	}
	keepRej := r.res.Rejections[:0]
	for i, rj := range r.res.Rejections {
		if changed[len(r.res.Records)+i] {
			keepRej = append(keepRej, rj)
		}
	}
	filtered := r.res.Filtered
	r.res.Records, r.res.Rejections = keepRec, keepRej
	r.res.Filtered = filtered
	if err := r.write(ctx, b, now); err != nil {
		return err
	}
	return snap.Seen(pass, entries)
}

// sweep writes delete records for the rows the pass did not see.
func (r *runner) sweep(ctx context.Context, snap *checkpoint.Snapshot, pass uint64) error {
	return snap.Sweep(pass, 1000, func(gone []checkpoint.SnapshotEntry) error {
		now := time.Now()
		msgs := make([]connectors.Message, 0, len(gone))
		for _, e := range gone {
			if len(e.Ident) == 0 {
				continue // a rejected row that went away: nothing was published
			}
			var id snapIdent
			if err := json.Unmarshal(e.Ident, &id); err != nil {
				return fmt.Errorf("snapshot ident: %w", err)
			}
			msgs = append(msgs, connectors.Message{
				Topic: r.topic, Key: []byte(id.Key), Headers: r.m.Headers,
				Value: r.m.DeleteValue(nil, []byte(id.ID), id.Data, now),
			})
		}
		if len(msgs) == 0 {
			return nil
		}
		if err := r.writeRetry(ctx, msgs); err != nil {
			return err
		}
		r.p.metrics.Records.WithLabelValues(r.m.Name, r.m.Entity.Name, r.m.County).Add(float64(len(msgs)))
		r.p.metrics.MessagesWritten.WithLabelValues(r.topic).Add(float64(len(msgs)))
		return nil
	})
}
