package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/kafkasink"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/monitoring"
)

// Defaults of Options.
const (
	DefaultGroupID        = "hpgate-identity"
	DefaultSweepInterval  = time.Minute
	DefaultMaxPollRecords = 2000
)

// Options configure a Runner.
type Options struct {
	// Kafka is the cluster's connection settings (brokers, TLS, SASL).
	Kafka kafkasink.Config
	// Prefix is the topic prefix. The default is "hp.".
	Prefix string
	// GroupID is the consumer group. The default is "hpgate-identity".
	GroupID string
	// SessionTimeout, HeartbeatInterval and RebalanceTimeout tune the
	// group; zero keeps franz-go's defaults (45s, 3s, 60s). Tests make
	// them short so a rebalance takes seconds.
	SessionTimeout, HeartbeatInterval, RebalanceTimeout time.Duration
	// SweepInterval is how often time-driven checks (grace periods) are
	// re-evaluated. The default is one minute.
	SweepInterval time.Duration
	// MaxPollRecords bounds the records handled per poll (and so per state
	// transaction and per output write). The default is 2000.
	MaxPollRecords int
	// Observe, when set, is called for every input record with its
	// partition and person key, after its outputs are acknowledged. For
	// tests and tracing; it must not block.
	Observe func(partition int32, personKey string)
}

// Runner runs the identity stages as one member of a Kafka consumer group
// over the canonical topics. Each member owns the state of the partitions
// assigned to it: every input topic's partition p goes to the same member
// (the range balancer co-partitions topics of equal partition counts, which
// CheckPartitions verifies), so a person's records all meet in one place.
//
// Processing is at-least-once: for each poll the state changes and outputs
// are computed in one state transaction, the outputs are written and
// acknowledged, the transaction is committed, and only then are the
// consumer offsets committed. A crash in between replays the inputs, and
// outputs are idempotent by id and hash. When a partition is assigned, its
// local state is reused only if it includes exactly the group's committed
// offsets; otherwise it is rebuilt by replaying the partition of every
// input topic from the start, and the current view and open discrepancies
// of its persons are emitted again.
type Runner struct {
	stage   *Stage
	store   *Store
	sink    connectors.Sink
	metrics *monitoring.IdentityMetrics
	log     *slog.Logger
	opts    Options

	topics   []string          // input topics
	entityOf map[string]string // topic → entity

	mu      sync.Mutex
	owned   map[int32]bool
	pending map[int32]map[string]int64 // partition → topic → committed offset, to load
}

// NewRunner returns a runner; it does not connect. metrics may be nil.
func NewRunner(stage *Stage, store *Store, sink connectors.Sink, metrics *monitoring.IdentityMetrics, opts Options, log *slog.Logger) *Runner {
	if opts.Prefix == "" {
		opts.Prefix = "hp."
	}
	if opts.GroupID == "" {
		opts.GroupID = DefaultGroupID
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	if opts.MaxPollRecords <= 0 {
		opts.MaxPollRecords = DefaultMaxPollRecords
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{stage: stage, store: store, sink: sink, metrics: metrics, log: log, opts: opts,
		entityOf: map[string]string{}, owned: map[int32]bool{}, pending: map[int32]map[string]int64{}}
	for _, e := range InputEntities {
		t := Topic(opts.Prefix, e)
		r.topics = append(r.topics, t)
		r.entityOf[t] = e
	}
	return r
}

// InputTopics returns the topics the runner consumes.
func (r *Runner) InputTopics() []string { return slices.Clone(r.topics) }

// OutputTopics returns the topics the runner writes.
func OutputTopics(prefix string) []string {
	var out []string
	for _, e := range OutputEntities {
		out = append(out, Topic(prefix, e))
	}
	return out
}

// PartitionCounter answers a topic's partition count (kafkasink.Sink does).
type PartitionCounter interface {
	PartitionCount(ctx context.Context, topic string) (int, error)
}

// CheckPartitions checks that every topic exists and that all have the same
// partition count (design.md contract 4: the stages rely on a person's
// records sharing one partition number in every topic), and returns it.
func CheckPartitions(ctx context.Context, pc PartitionCounter, topics []string) (int, error) {
	counts := map[string]int{}
	var errs []error
	for _, t := range topics {
		n, err := pc.PartitionCount(ctx, t)
		if err != nil {
			errs = append(errs, fmt.Errorf("topic %s: %w", t, err))
			continue
		}
		counts[t] = n
	}
	if len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	want := -1
	for _, t := range topics {
		if want < 0 {
			want = counts[t]
		}
		if counts[t] != want {
			var desc []string
			for _, t := range topics {
				desc = append(desc, fmt.Sprintf("%s=%d", t, counts[t]))
			}
			return 0, fmt.Errorf("canonical topics differ in partition count (%v): every canonical and identity topic must have the same count, or a person's records would not meet in one partition", desc)
		}
	}
	return want, nil
}

// Run consumes until ctx is done, then leaves the group. It returns an
// error only for faults it cannot ride out (a state store failure).
func (r *Runner) Run(ctx context.Context) error {
	base, err := r.opts.Kafka.FranzOptions()
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	opts := append(base,
		kgo.ConsumerGroup(r.opts.GroupID),
		kgo.ConsumeTopics(r.topics...),
		// Range assigns partition p of every topic to one member: the
		// co-partitioning the per-person state needs (cooperative-sticky
		// balances each topic on its own).
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.OnPartitionsAssigned(r.assigned),
		kgo.OnPartitionsRevoked(r.revoked),
		kgo.OnPartitionsLost(r.revoked),
		kgo.AdjustFetchOffsetsFn(r.adjust),
		kgo.WithLogger(kgoLogger{r.log}),
	)
	if d := r.opts.SessionTimeout; d > 0 {
		opts = append(opts, kgo.SessionTimeout(d))
	}
	if d := r.opts.HeartbeatInterval; d > 0 {
		opts = append(opts, kgo.HeartbeatInterval(d))
	}
	if d := r.opts.RebalanceTimeout; d > 0 {
		opts = append(opts, kgo.RebalanceTimeout(d))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka consumer: %w", err)
	}
	defer cl.CloseAllowingRebalance()
	r.log.Info("identity stage started", "group", r.opts.GroupID, "topics", len(r.topics))
	// The lag is measured once before anything is consumed (what was
	// left when the last instance stopped), then every sweep interval.
	adm := kadm.NewClient(cl)
	r.updateLag(ctx, adm)
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() {
		defer close(lagDone)
		r.measureLag(lagCtx, adm, r.opts.SweepInterval)
	}()
	defer func() {
		stopLag()
		<-lagDone
	}()
	nextSweep := time.Now().Add(r.opts.SweepInterval)
	for {
		pollCtx, cancel := context.WithDeadline(ctx, nextSweep)
		fetches := cl.PollRecords(pollCtx, r.opts.MaxPollRecords)
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			cl.AllowRebalance()
			r.log.Info("identity stage stopped")
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			r.log.Warn("fetch failed", "topic", topic, "partition", p, "err", err)
		})
		err := r.loadPending(ctx)
		if err == nil {
			err = r.process(ctx, fetches)
		}
		if err == nil && !time.Now().Before(nextSweep) {
			err = r.sweep(ctx)
			nextSweep = time.Now().Add(r.opts.SweepInterval)
		}
		if err != nil {
			cl.AllowRebalance()
			if ctx.Err() != nil {
				return nil // stopping: nothing committed past what was written
			}
			return err
		}
		if !fetches.Empty() {
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				// The outputs are written; a failed commit only means the
				// next owner replays them (at-least-once).
				r.log.Warn("offset commit failed", "err", err)
			} else if r.metrics != nil {
				r.metrics.Commits.Inc()
			}
		}
		cl.AllowRebalance()
	}
}

func (r *Runner) assigned(_ context.Context, _ *kgo.Client, tps map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ps := range tps {
		for _, p := range ps {
			r.owned[p] = true
		}
	}
	r.log.Info("partitions assigned", "partitions", sortedParts(r.owned))
	if r.metrics != nil {
		r.metrics.Partitions.Set(float64(len(r.owned)))
	}
}

func (r *Runner) revoked(_ context.Context, _ *kgo.Client, tps map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ps := range tps {
		for _, p := range ps {
			delete(r.owned, p)
			delete(r.pending, p)
		}
	}
	if len(tps) > 0 {
		r.log.Info("partitions revoked", "partitions", sortedParts(r.owned))
	}
	if r.metrics != nil {
		r.metrics.Partitions.Set(float64(len(r.owned)))
	}
}

// adjust records the committed offset of each newly assigned partition: its
// state is loaded (reused or rebuilt) before any of its records are used.
func (r *Runner) adjust(_ context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic, ps := range offs {
		for p, o := range ps {
			at := max(o.EpochOffset().Offset, 0) // -2 (start) when nothing is committed
			if r.pending[p] == nil {
				r.pending[p] = map[string]int64{}
			}
			r.pending[p][topic] = at
		}
	}
	return offs, nil
}

func sortedParts(m map[int32]bool) []int32 {
	return slices.Sorted(maps.Keys(m))
}

// loadPending makes the state of newly assigned partitions current.
func (r *Runner) loadPending(ctx context.Context) error {
	r.mu.Lock()
	pending := r.pending
	r.pending = map[int32]map[string]int64{}
	r.mu.Unlock()
	for _, p := range slices.Sorted(maps.Keys(pending)) {
		if err := r.load(ctx, p, pending[p]); err != nil {
			return fmt.Errorf("load partition %d: %w", p, err)
		}
	}
	return nil
}

func (r *Runner) load(ctx context.Context, p int32, committed map[string]int64) error {
	txn, err := r.store.Begin()
	if err != nil {
		return err
	}
	defer txn.Rollback()
	stored, err := txn.Offsets(p)
	if err != nil {
		return err
	}
	same := true
	for _, t := range r.topics {
		if stored[t] != committed[t] {
			same = false
		}
	}
	if same {
		if r.metrics != nil {
			r.metrics.Rebuilds.WithLabelValues("reused").Inc()
		}
		return txn.Commit()
	}
	start := time.Now()
	if err := txn.Reset(p); err != nil {
		return err
	}
	n, err := r.replay(ctx, txn, p, committed)
	if err != nil {
		return err
	}
	// Emit the current state of every person again: the previous owner
	// may not have seen a grace period end. Consumers drop repeats.
	keys, err := txn.PersonKeys(p)
	if err != nil {
		return err
	}
	out, err := reevaluate(txn, p, keys, r.stage.Snapshot, nil)
	if err != nil {
		return err
	}
	if err := r.write(ctx, out); err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return err
	}
	if r.metrics != nil {
		r.metrics.Rebuilds.WithLabelValues("rebuilt").Inc()
		r.metrics.RebuildInputs.Add(float64(n))
	}
	r.log.Info("partition state rebuilt", "partition", p, "records", n, "persons", len(keys), "duration_seconds", time.Since(start).Seconds())
	return nil
}

// replay reads partition p of every input topic from the start up to the
// committed offsets into the state, without emitting.
func (r *Runner) replay(ctx context.Context, txn *Txn, p int32, committed map[string]int64) (int, error) {
	parts := map[string]map[int32]kgo.Offset{}
	for _, t := range r.topics {
		if committed[t] > 0 {
			parts[t] = map[int32]kgo.Offset{p: kgo.NewOffset().At(0)}
		}
		if err := txn.SetOffset(p, t, committed[t]); err != nil {
			return 0, err
		}
	}
	if len(parts) == 0 {
		return 0, nil
	}
	base, err := r.opts.Kafka.FranzOptions()
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(append(base, kgo.ConsumePartitions(parts), kgo.FetchMaxWait(200*time.Millisecond), kgo.WithLogger(kgoLogger{r.log}))...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	cache := map[string]*Person{}
	n := 0
	for len(parts) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		fetches.EachError(func(topic string, part int32, err error) {
			r.log.Warn("replay fetch failed", "topic", topic, "partition", part, "err", err)
		})
		for _, rec := range fetches.Records() {
			if _, reading := parts[rec.Topic]; !reading || rec.Offset >= committed[rec.Topic] {
				continue
			}
			if _, err := r.handle(txn, cache, rec); err != nil {
				return n, err
			}
			n++
			if rec.Offset+1 >= committed[rec.Topic] {
				delete(parts, rec.Topic)
				cl.RemoveConsumePartitions(map[string][]int32{rec.Topic: {p}})
			}
		}
	}
	for _, per := range cache {
		if err := txn.PutPerson(p, per); err != nil {
			return n, err
		}
	}
	return n, nil
}

// handle applies one record to its person (through cache) and returns the
// outputs. A record that cannot be decoded is logged and counted, not
// retried: retrying would stop the partition for good.
func (r *Runner) handle(txn *Txn, cache map[string]*Person, rec *kgo.Record) ([]connectors.Message, error) {
	entity := r.entityOf[rec.Topic]
	var env canonical.Envelope
	if err := json.Unmarshal(rec.Value, &env); err != nil || len(rec.Key) == 0 {
		r.inputError("decode", rec, err)
		return nil, nil
	}
	key := string(rec.Key)
	per := cache[key]
	if per == nil {
		var err error
		if per, err = txn.Person(rec.Partition, key); err != nil {
			return nil, err
		}
		cache[key] = per
	}
	in := &Input{Entity: entity, Env: env, Where: rec.Topic + "/" + strconv.Itoa(int(rec.Partition)) + "/" + strconv.FormatInt(rec.Offset, 10)}
	msgs, err := r.stage.Handle(per, in, rec.Offset)
	if err != nil {
		r.inputError("apply", rec, err)
		return nil, nil
	}
	if r.metrics != nil {
		r.metrics.Inputs.WithLabelValues(entity).Inc()
	}
	return msgs, nil
}

func (r *Runner) inputError(reason string, rec *kgo.Record, err error) {
	if r.metrics != nil {
		r.metrics.InputErrors.WithLabelValues(reason).Inc()
	}
	// Errors name fields, never values: decoding errors of encoding/json
	// quote no input.
	r.log.Warn("canonical record skipped", "reason", reason, "topic", rec.Topic, "partition", rec.Partition, "position", rec.Offset, "err", err)
}

// entityRank orders the inputs of one poll: identity-bearing records
// before the encounters and settlements that are judged against them. Each
// topic partition keeps its own order.
var entityRank = map[string]int{"person": 0, "enrollment": 1, "chronic_card": 1, "contract": 1, "encounter": 2, "settlement": 3}

// inputOrder sorts a poll's records by entityRank, stably.
func (r *Runner) inputOrder(recs []*kgo.Record) []*kgo.Record {
	slices.SortStableFunc(recs, func(a, b *kgo.Record) int {
		return entityRank[r.entityOf[a.Topic]] - entityRank[r.entityOf[b.Topic]]
	})
	return recs
}

// process handles one poll: state changes in one transaction, outputs
// written and acknowledged, then the transaction committed.
func (r *Runner) process(ctx context.Context, fetches kgo.Fetches) error {
	if fetches.Empty() {
		return nil
	}
	txn, err := r.store.Begin()
	if err != nil {
		return err
	}
	defer txn.Rollback()
	caches := map[int32]map[string]*Person{}
	type seen struct {
		p   int32
		key string
	}
	var (
		out      []connectors.Message
		observed []seen
	)
	for _, rec := range r.inputOrder(fetches.Records()) {
		c := caches[rec.Partition]
		if c == nil {
			c = map[string]*Person{}
			caches[rec.Partition] = c
		}
		msgs, err := r.handle(txn, c, rec)
		if err != nil {
			return err
		}
		out = append(out, msgs...)
		if err := txn.SetOffset(rec.Partition, rec.Topic, rec.Offset+1); err != nil {
			return err
		}
		observed = append(observed, seen{rec.Partition, string(rec.Key)})
	}
	for p, c := range caches {
		for _, per := range c {
			if err := txn.PutPerson(p, per); err != nil {
				return err
			}
		}
	}
	if err := r.write(ctx, out); err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return err
	}
	if r.opts.Observe != nil {
		for _, s := range observed {
			r.opts.Observe(s.p, s.key)
		}
	}
	return nil
}

// sweep re-evaluates the persons of owned partitions whose time-driven
// check has fallen due.
func (r *Runner) sweep(ctx context.Context) error {
	r.mu.Lock()
	parts := sortedParts(r.owned)
	r.mu.Unlock()
	now := r.stage.now()
	txn, err := r.store.Begin()
	if err != nil {
		return err
	}
	defer txn.Rollback()
	var out []connectors.Message
	for _, p := range parts {
		keys, err := txn.DuePersons(p, now)
		if err != nil {
			return err
		}
		if out, err = reevaluate(txn, p, keys, r.stage.Sweep, out); err != nil {
			return err
		}
	}
	if err := r.write(ctx, out); err != nil {
		return err
	}
	return txn.Commit()
}

// reevaluate runs eval on the persons keys of partition p, stores them and
// appends their outputs to out.
func reevaluate(txn *Txn, p int32, keys []string, eval func(*Person) ([]connectors.Message, error), out []connectors.Message) ([]connectors.Message, error) {
	for _, k := range keys {
		per, err := txn.Person(p, k)
		if err != nil {
			return nil, err
		}
		msgs, err := eval(per)
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
		if err := txn.PutPerson(p, per); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// write sends msgs and waits for their acknowledgement, retrying with
// backoff until it succeeds or ctx is done: outputs are never dropped.
func (r *Runner) write(ctx context.Context, msgs []connectors.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	wait := 200 * time.Millisecond
	for {
		err := r.sink.Write(ctx, msgs)
		if err == nil {
			r.count(msgs)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.log.Warn("output write failed, retrying", "records", len(msgs), "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (r *Runner) count(msgs []connectors.Message) {
	if r.metrics == nil {
		return
	}
	for _, m := range msgs {
		e, ok := canonical.LookupSchema(header(m, "schema"))
		if !ok {
			continue
		}
		r.metrics.Outputs.WithLabelValues(e.Name).Inc()
		switch e.Name {
		case EntityDiscrepancy:
			var v struct {
				Data struct{ Kind, Status string } `json:"data"`
			}
			if json.Unmarshal(m.Value, &v) == nil {
				r.metrics.Discrepancies.WithLabelValues(v.Data.Kind, v.Data.Status).Inc()
			}
		case EntityAlert:
			var v struct {
				Data struct{ Rule string } `json:"data"`
			}
			if json.Unmarshal(m.Value, &v) == nil {
				r.metrics.Alerts.WithLabelValues(v.Data.Rule).Inc()
			}
		}
	}
}

func header(m connectors.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// kgoLogger bridges franz-go's logger into slog at warn and above.
type kgoLogger struct{ log *slog.Logger }

func (l kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelWarn
	if level == kgo.LogLevelError {
		lv = slog.LevelError
	}
	l.log.Log(context.Background(), lv, msg, append([]any{"component", "kafka-consumer"}, keyvals...)...)
}

// Owned returns the partitions this member owns now, sorted.
func (r *Runner) Owned() []int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return sortedParts(r.owned)
}
