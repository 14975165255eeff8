package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hpgate/hpgate/mappings/normalize"
	"github.com/hpgate/hpgate/pipeline/identity"
)

// demoClock is the identity stage's clock in the demo: the end of the
// synthetic county's era (its rows are dated 2016–2019), so grace periods
// and "marks in force today" mean what they would have meant then.
var demoClock = time.Date(2019, 12, 31, 12, 0, 0, 0, normalize.CST())

// identitySummary is what the demo's identity stage produced: per
// discrepancy kind and status, and per alert rule, the number of distinct
// records (by id, latest version).
type identitySummary struct {
	Discrepancies map[string]map[string]int // kind → status → count
	Alerts        map[string]int            // rule → count
	Views         int                       // persons with an identity record
	Enriched      int                       // settlements re-published
}

// runIdentityDemo runs `hpgate identity` in-process on the demo's config
// until it has consumed every canonical record, then stops it and reads
// back what it wrote.
func runIdentityDemo(ctx context.Context, log *slog.Logger, configPath string) (*identitySummary, error) {
	off := ""
	p, err := openIdentity(configPath, identityOverrides{listen: &off, now: func() time.Time { return demoClock }},
		log, prometheus.NewRegistry(), false)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.run(runCtx) }()
	deadline := time.After(time.Minute)
	for caughtUp := false; !caughtUp; {
		select {
		case err := <-done:
			return nil, fmt.Errorf("identity stage ended early: %w", errors.Join(err, errors.New("see the log")))
		case <-deadline:
			cancel()
			<-done
			return nil, errors.New("demo: the identity stage did not catch up within a minute")
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		lag, err := identity.Lag(ctx, p.cfg.Kafka.Config, p.cfg.Identity.GroupID, p.runner.InputTopics())
		caughtUp = err == nil && lag == 0
	}
	cancel()
	if err := <-done; err != nil {
		return nil, err
	}
	prefix := p.cfg.Kafka.TopicPrefix
	brokers := p.cfg.Kafka.Brokers
	s := &identitySummary{Discrepancies: map[string]map[string]int{}, Alerts: map[string]int{}}
	type rec struct {
		Data struct {
			ID     string `json:"discrepancy_id"`
			Kind   string `json:"kind"`
			Status string `json:"status"`
			Alert  string `json:"alert_id"`
			Rule   string `json:"rule"`
		} `json:"data"`
	}
	latest := map[string]rec{}
	err = readTopic(ctx, brokers, identity.Topic(prefix, identity.EntityDiscrepancy), func(v []byte) {
		var r rec
		if json.Unmarshal(v, &r) == nil {
			latest[r.Data.ID] = r
		}
	})
	if err != nil {
		return nil, err
	}
	for _, r := range latest {
		if s.Discrepancies[r.Data.Kind] == nil {
			s.Discrepancies[r.Data.Kind] = map[string]int{}
		}
		s.Discrepancies[r.Data.Kind][r.Data.Status]++
	}
	alerts := map[string]string{}
	if err := readTopic(ctx, brokers, identity.Topic(prefix, identity.EntityAlert), func(v []byte) {
		var r rec
		if json.Unmarshal(v, &r) == nil {
			alerts[r.Data.Alert] = r.Data.Rule
		}
	}); err != nil {
		return nil, err
	}
	for _, rule := range alerts {
		s.Alerts[rule]++
	}
	views := map[string]bool{}
	if err := readTopicKeys(ctx, brokers, identity.Topic(prefix, identity.EntityIdentity), func(k []byte) { views[string(k)] = true }); err != nil {
		return nil, err
	}
	s.Views = len(views)
	enriched := map[string]bool{}
	if err := readTopic(ctx, brokers, identity.Topic(prefix, identity.EntityEnriched), func(v []byte) {
		var r struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(v, &r) == nil {
			enriched[r.ID] = true
		}
	}); err != nil {
		return nil, err
	}
	s.Enriched = len(enriched)
	return s, nil
}

func printIdentitySummary(out io.Writer, s *identitySummary) {
	fmt.Fprintf(out, "\nidentity stage (hpgate identity, clock %s): %d identity views on hp.identity.v1, %d settlements on hp.settlement_enriched.v1\n",
		demoClock.Format(time.DateOnly), s.Views, s.Enriched)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "discrepancy kind (hp.discrepancy.v1)\topen\tresolved\t")
	for _, k := range identity.DiscrepancyKinds {
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", k, s.Discrepancies[k]["open"], s.Discrepancies[k]["resolved"])
	}
	_ = tw.Flush()
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy rule (hp.policy_alert.v1)\talerts\t")
	for _, r := range identity.AlertRules {
		fmt.Fprintf(tw, "%s\t%d\t\n", r, s.Alerts[r])
	}
	_ = tw.Flush()
}

// readTopic calls fn with the value of every record of topic present when
// it is called.
func readTopic(ctx context.Context, brokers []string, topic string, fn func(value []byte)) error {
	return consumeAll(ctx, brokers, topic, func(r *kgo.Record) { fn(r.Value) })
}

// readTopicKeys calls fn with the key of every record of topic.
func readTopicKeys(ctx context.Context, brokers []string, topic string, fn func(key []byte)) error {
	return consumeAll(ctx, brokers, topic, func(r *kgo.Record) { fn(r.Key) })
}

func consumeAll(ctx context.Context, brokers []string, topic string, fn func(*kgo.Record)) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("read %s: %w", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			fn(r)
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return nil
}

// sortedKinds is for tests: the kinds with at least one discrepancy.
func (s *identitySummary) kinds() []string {
	var out []string
	for k := range s.Discrepancies {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
