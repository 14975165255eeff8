package identity

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hpgate/hpgate/connectors/kafkasink"
)

// Lag returns how many records of topics the consumer group has not yet
// committed: 0 when the identity stages have caught up with the canonical
// topics. The demo uses it to know when to stop; operators can run it
// against a live group.
func Lag(ctx context.Context, cfg kafkasink.Config, group string, topics []string) (int64, error) {
	opts, err := cfg.FranzOptions()
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	parts, err := groupLag(ctx, kadm.NewClient(cl), group, topics)
	if err != nil {
		return 0, err
	}
	var lag int64
	for _, ps := range parts {
		for _, n := range ps {
			lag += n
		}
	}
	return lag, nil
}

// groupLag returns, per topic and partition, how many records the group
// has not committed: the end offset less the committed offset, or less the
// log start offset where nothing is committed (the group then starts
// there). Every partition of topics is in the answer.
func groupLag(ctx context.Context, adm *kadm.Client, group string, topics []string) (map[string]map[int32]int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	out := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		at := int64(0)
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok {
			at = s.Offset
		}
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.At >= 0 {
			at = c.At
		}
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = max(o.Offset-at, 0)
	})
	return out, nil
}

// measureLag sets the consumer-lag gauge from the group's committed and
// end offsets, every interval until ctx is done. It runs beside the
// consumer loop, not in it, so the gauge keeps moving while the loop is
// stuck (outputs that cannot be written, a long rebuild): that is when it
// matters. Every instance reports the whole group's lag (aggregate with
// max by topic and partition); one that cannot measure drops its series
// rather than report stale figures.
func (r *Runner) measureLag(ctx context.Context, adm *kadm.Client, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.updateLag(ctx, adm)
	}
}

func (r *Runner) updateLag(ctx context.Context, adm *kadm.Client) {
	if r.metrics == nil {
		return
	}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	lag, err := groupLag(mctx, adm, r.opts.GroupID, r.topics)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("consumer lag not measured", "err", err)
			r.metrics.Lag.Reset()
		}
		return
	}
	for topic, ps := range lag {
		for p, n := range ps {
			r.metrics.Lag.WithLabelValues(topic, strconv.Itoa(int(p))).Set(float64(n))
		}
	}
}
