package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/trail"
)

// Data assurance in the daemon: the audit trail of changes, the periodic
// source-to-Kafka audit, and the operator actions (DLQ re-drive, replay)
// that the admin API and the CLI run on an opened daemon.

// record appends an entry to the audit trail and publishes what is not
// yet on the audit topic. A trail that cannot be written is logged; the
// action it records has happened either way.
func (d *daemon) record(ctx context.Context, e trail.Entry) {
	if d.trail == nil {
		return
	}
	if e.Operator == "" {
		e.Operator = trail.Operator("")
	}
	a, err := d.trail.Append(e)
	if err != nil {
		d.log.Error("audit trail not written", "action", e.Action, "err", err)
		return
	}
	d.metrics.AuditTrailEntries.WithLabelValues(a.Action).Inc()
	d.log.Info("audit trail", "action", a.Action, "operator", a.Operator, "mapping", a.Mapping, "result", a.Result,
		"added", a.Added, "removed", a.Removed, "changed", a.Changed)
	if d.publish != nil {
		select {
		case d.publish <- struct{}{}:
		default: // a publish is already due
		}
		return
	}
	d.publishTrail(ctx)
}

// trailRetry is how often a running daemon tries again to publish trail
// entries the broker did not take.
const trailRetry = time.Minute

// trailPublisher publishes trail entries in the background while the
// daemon runs, so a slow broker never holds up an action, and retries what
// the broker did not take. Delivery is at least once: consumers drop an
// entry whose seq they have.
func (d *daemon) trailPublisher(ctx context.Context) {
	t := time.NewTicker(trailRetry)
	defer t.Stop()
	// A publish is not cut short by shutdown (a write cut short may still
	// land, and would then be sent twice); what was recorded at the end
	// goes out before the sink closes.
	publish := func() {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		d.publishTrail(pctx)
		cancel()
	}
	for {
		publish()
		select {
		case <-ctx.Done():
			publish()
			return
		case <-d.publish:
		case <-t.C:
		}
	}
}

// publishTrail sends the trail entries not yet on the audit topic.
func (d *daemon) publishTrail(ctx context.Context) {
	if d.trail == nil {
		return
	}
	if _, err := d.trail.Publish(ctx, d.sink, trail.Topic(d.cfg.Kafka.TopicPrefix)); err != nil {
		d.log.Warn("audit trail not published yet; it is kept and sent later", "err", err)
	}
}

// scanner reads hpgate's topics through the sink's brokers and security.
func (d *daemon) scanner() *pipeline.Scanner {
	return &pipeline.Scanner{Client: d.sink.Client()}
}

// redrive re-drives a mapping's DLQ rows and records it in the trail.
func (d *daemon) redrive(ctx context.Context, operator string, req pipeline.RedriveRequest) (*pipeline.RedriveResult, error) {
	m, ok := d.pipe.Mapping(req.Mapping)
	if !ok {
		return nil, fmt.Errorf("%w: %s", pipeline.ErrUnknownMapping, req.Mapping)
	}
	hash, err := trail.FileHash(m.File)
	if err != nil {
		return nil, err
	}
	res, err := d.pipe.Redrive(ctx, d.scanner(), hash, req)
	if !req.DryRun {
		detail := ""
		if res != nil {
			detail = fmt.Sprintf("reason %q: %d delivered, %d filtered, %d still rejected, %d done before, %d unreadable",
				req.Reason, res.Delivered, res.Filtered, res.StillRejected(), res.Done, res.UnreadableTotal())
		}
		d.record(ctx, trail.Entry{Operator: operator, Action: canonical.AuditRedrive, Mapping: req.Mapping, Err: err, Detail: detail,
			Mappings: d.current()})
	}
	return res, err
}

// replay replays a mapping's range and records it in the trail.
func (d *daemon) replay(ctx context.Context, operator string, req pipeline.ReplayRequest) (*pipeline.ReplayResult, error) {
	res, err := d.pipe.Replay(ctx, req)
	var b strings.Builder
	if !req.FromTime.IsZero() {
		fmt.Fprintf(&b, "from %s ", req.FromTime.Format(time.RFC3339))
	}
	if !req.ToTime.IsZero() {
		fmt.Fprintf(&b, "to %s ", req.ToTime.Format(time.RFC3339))
	}
	if req.From != "" {
		b.WriteString("from a given position ")
	}
	if res != nil {
		fmt.Fprintf(&b, "%d rows, %d records, %d rejected, first %s, last %s", res.Rows, res.Records, res.Rejected, res.First, res.Last)
	}
	if errors.Is(err, context.Canceled) {
		err = errors.New("interrupted; run it again to resume")
	}
	d.record(context.WithoutCancel(ctx), trail.Entry{Operator: operator, Action: canonical.AuditReplay, Mapping: req.Mapping, Err: err,
		Detail: strings.TrimSpace(b.String()), Mappings: d.current()})
	return res, err
}

// auditLoop runs the periodic audit until ctx is done.
func (d *daemon) auditLoop(ctx context.Context) {
	a := d.cfg.Audit
	if a.Interval <= 0 {
		return
	}
	t := time.NewTicker(a.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.runAudit(ctx)
		}
	}
}

// runAudit audits the configured window and exports the figures.
func (d *daemon) runAudit(ctx context.Context) {
	a := d.cfg.Audit
	now := time.Now()
	rep, err := d.pipe.Audit(ctx, d.scanner(), pipeline.AuditRequest{
		From: now.AddDate(0, 0, -a.WindowDays), To: now, Sample: a.Sample,
	})
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("audit failed", "err", err)
			d.metrics.AuditLastRun.WithLabelValues("error").SetToCurrentTime()
		}
		return
	}
	d.exportAudit(rep)
	result := "ok"
	if rep.Gap() {
		result = "gap"
		d.log.Warn("audit found a gap between the sources and Kafka; run `hpgate audit` for the table")
	}
	d.metrics.AuditLastRun.WithLabelValues(result).SetToCurrentTime()
}

// exportAudit sets the audit gauges from a report: per mapping, the sums
// over the window.
func (d *daemon) exportAudit(rep *pipeline.AuditReport) {
	type key struct{ mapping, county string }
	sums := map[key]*pipeline.AuditDay{}
	for _, day := range rep.Days {
		k := key{day.Mapping, day.County}
		s := sums[k]
		if s == nil {
			s = &pipeline.AuditDay{}
			sums[k] = s
		}
		s.Source += day.Source
		s.Topic += day.Topic
		s.DLQ += day.DLQ
		s.Missing += day.Missing
		s.Extra += day.Extra
		s.HashMismatch += day.HashMismatch
	}
	for k, s := range sums {
		for kind, v := range map[string]int{"source": s.Source, "topic": s.Topic, "dlq": s.DLQ, "missing": s.Missing,
			"extra": s.Extra, "hash_mismatch": s.HashMismatch} {
			d.metrics.AuditRows.WithLabelValues(k.mapping, k.county, kind).Set(float64(v))
		}
		d.metrics.AuditMissing.WithLabelValues(k.mapping, k.county).Set(float64(s.Missing))
	}
}
