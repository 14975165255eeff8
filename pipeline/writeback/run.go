package writeback

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/kafkasink"
	"github.com/hpgate/hpgate/pipeline"
)

// Topic is the identity topic under a prefix.
func Topic(prefix string) string { return prefix + "identity.v1" }

// Run consumes the identity topic in consumer group group until ctx ends,
// applying each record in partition order and committing a partition's
// offset only after its records were applied or dead-lettered. A target
// that is down is retried with backoff, without committing past it.
func (w *Writer) Run(ctx context.Context, kc kafkasink.Config, group string) error {
	// The sink's connection options (brokers, client id, TLS, SASL with
	// secrets from their variables or files), as `hpgate identity` uses.
	conn, err := kc.FranzOptions()
	if err != nil {
		return fmt.Errorf("writeback: kafka: %w", err)
	}
	cl, err := kgo.NewClient(append(conn,
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(Topic(w.opts.TopicPrefix)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
	)...)
	if err != nil {
		return fmt.Errorf("writeback: kafka client: %w", err)
	}
	defer func() {
		cl.AllowRebalance() // leaving the group waits for a rebalance
		cl.Close()
	}()
	for ctx.Err() == nil {
		fetches := cl.PollRecords(ctx, 500)
		if ctx.Err() != nil {
			break
		}
		for _, fe := range fetches.Errors() {
			w.opts.Log.Warn("fetch failed", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		var done []*kgo.Record
		recs := fetches.Records()
		for _, r := range recs {
			if err := w.handle(ctx, r.Value, fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)); err != nil {
				break // ctx ended while a target was down
			}
			done = append(done, r)
		}
		if len(done) > 0 {
			if err := cl.CommitRecords(context.WithoutCancel(ctx), done...); err != nil {
				w.opts.Log.Warn("commit failed, records will be applied again (idempotent)", "err", err)
			}
		}
		cl.AllowRebalance()
		if len(done) < len(recs) {
			break
		}
	}
	w.opts.Log.Info("stopped")
	return nil
}

// handle applies one record, retrying transient target faults until ctx
// ends, and dead-letters what cannot be applied.
func (w *Writer) handle(ctx context.Context, value []byte, position string) error {
	wait := 500 * time.Millisecond
	for {
		_, rejected, err := w.Apply(ctx, value)
		if err == nil {
			return w.deadLetter(ctx, value, position, rejected)
		}
		if w.opts.Metrics != nil {
			w.opts.Metrics.Retries.Inc()
		}
		w.opts.Log.Warn("target unavailable, backing off", "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

func (w *Writer) deadLetter(ctx context.Context, value []byte, position string, rejected []Rejection) error {
	if len(rejected) == 0 || w.opts.DryRun {
		for _, rj := range rejected {
			fmt.Fprintf(w.opts.Out, "-- writeback %s would dead-letter %s: %s: %s\n", rj.Writeback, position, rj.Code, rj.Message)
		}
		return nil
	}
	county, person := envelopeKey(value)
	msgs := make([]connectors.Message, 0, len(rejected))
	for _, rj := range rejected {
		m, err := DLQMessage(w.opts.TopicPrefix, w.opts.Key, county, person, position, value, rj, w.opts.Now())
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		if w.opts.Metrics != nil {
			w.opts.Metrics.DLQMessages.WithLabelValues(rj.Writeback, rj.Code).Inc()
		}
	}
	wait := 500 * time.Millisecond
	for {
		err := w.opts.DLQ.Write(ctx, msgs)
		if err == nil {
			return nil
		}
		w.opts.Log.Warn("dead-letter write failed, backing off", "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

// DryRun applies, without changing anything, every record the identity
// topic holds now (compacted: each person's current view), printing the
// statements that would change rows; it returns when it has read up to the
// end the topic had at the start.
func (w *Writer) DryRun(ctx context.Context, sc *pipeline.Scanner) error {
	if !w.opts.DryRun {
		return errors.New("writeback: DryRun needs Options.DryRun")
	}
	topic := Topic(w.opts.TopicPrefix)
	return sc.Scan(ctx, topic, func(r *pipeline.TopicRecord) error {
		_, rejected, err := w.Apply(ctx, r.Value)
		if err != nil {
			return err
		}
		return w.deadLetter(ctx, r.Value, fmt.Sprintf("%s/%d/%d", topic, r.Partition, r.Offset), rejected)
	})
}
