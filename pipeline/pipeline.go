// Package pipeline runs hpgate's mappings: per mapping, read a batch from
// its source, map it, write records and rejections to Kafka, and commit the
// checkpoint only after Kafka acknowledged the whole batch.
//
// Delivery is at least once: a crash or a drain timeout repeats at most the
// batch in flight, and records carry a stable id and a content hash for
// consumers to drop repeats. Memory is bounded by one batch per mapping
// whatever the table size. A transient source or broker outage backs off
// and resumes by itself; a condition only an operator can clear (a changed
// cursor, an unknown column) stops that mapping with a status and a log
// line while the others go on.
//
// Data assurance works on the same parts: Audit compares a window of each
// source (mapped as the runners map it) with the canonical topics and the
// DLQ; Redrive maps dead-letter rows again once their mapping is fixed;
// Replay re-sends one mapping's range under a progress key of its own; a
// runner far behind its source reports its catch-up (catchup.go). The
// audit trail of changes is package trail.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/monitoring"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
	"github.com/hpgate/hpgate/pipeline/config"
	"github.com/hpgate/hpgate/pipeline/dlq"
)

// Store is where checkpoints live; *checkpoint.Store implements it.
type Store interface {
	Load(name string) (checkpoint.Checkpoint, error)
	Commit(name string, cp checkpoint.Checkpoint) error
	Reset(name string) error
	Set(name string, pos connectors.Position, display string) error
	Snapshot(mapping string) *checkpoint.Snapshot
}

// SourceSpec is one source instance as the pipeline runs it.
type SourceSpec struct {
	Source       connectors.Source
	BatchSize    int
	PollInterval time.Duration
}

// Options tune the pipeline. Zero values take the defaults.
type Options struct {
	// TopicPrefix prefixes topic names. The default is "hp.".
	TopicPrefix string
	// MinBackoff and MaxBackoff bound the wait after a transient failure.
	// The defaults are 500ms and 1m.
	MinBackoff, MaxBackoff time.Duration
	// CatchupThreshold is the source lag over which a mapping reports its
	// catch-up progress and an estimate of the time left. The default is
	// DefaultCatchupThreshold (1h).
	CatchupThreshold time.Duration
}

func (o *Options) defaults() {
	if o.TopicPrefix == "" {
		o.TopicPrefix = "hp."
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = time.Minute
	}
}

// Pipeline owns one runner per mapping.
type Pipeline struct {
	opts    Options
	sink    connectors.Sink
	store   Store
	key     *pii.Key
	metrics *monitoring.Metrics
	log     *slog.Logger
	runners []*runner

	sources map[string]SourceSpec
	topics  []string
	// current holds the mappings in force by name (guarded by mu), for the
	// operator actions (re-drive, replay) that use them outside a runner.
	current map[string]*mappings.Mapping

	mu      sync.Mutex
	running bool
	busy    map[string]bool // operator actions going on (replay:NAME, redrive:NAME)
	restart chan *runner
	done    chan struct{} // closed when Run returns
}

// New builds a pipeline for ms. Every mapping's source must be in sources.
func New(ms []*mappings.Mapping, sources map[string]SourceSpec, sink connectors.Sink, store Store, key *pii.Key,
	metrics *monitoring.Metrics, opts Options, log *slog.Logger) (*Pipeline, error) {
	opts.defaults()
	p := &Pipeline{opts: opts, sink: sink, store: store, key: key, metrics: metrics, log: log, restart: make(chan *runner, 1), done: make(chan struct{})}
	for _, m := range ms {
		spec, ok := sources[m.Source]
		if !ok {
			return nil, fmt.Errorf("mapping %s reads source %s, which is not configured", m.Name, m.Source)
		}
		p.runners = append(p.runners, p.newRunner(m, spec))
	}
	p.sources = sources
	p.setTopics(ms)
	return p, nil
}

func (p *Pipeline) newRunner(m *mappings.Mapping, spec SourceSpec) *runner {
	r := &runner{
		p: p, name: m.Name, m: m, src: spec.Source, batchSize: spec.BatchSize, poll: spec.PollInterval,
		topic: m.Topic(p.opts.TopicPrefix), dlqTopic: dlq.Topic(p.opts.TopicPrefix),
		log: p.log.With("mapping", m.Name, "source", m.Source),
	}
	if r.batchSize <= 0 {
		r.batchSize = config.DefaultBatchSize
	}
	if r.poll <= 0 {
		r.poll = 30 * time.Second
	}
	r.status = monitoring.MappingStatus{Mapping: m.Name, Source: m.Source, County: m.County, Entity: m.Entity.Name, State: "starting"}
	return r
}

// Topics lists the topics the pipeline writes.
func (p *Pipeline) Topics() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.topics)
}

func (p *Pipeline) setTopics(ms []*mappings.Mapping) {
	// The daemon writes the audit trail of changes beside the pipeline.
	set := map[string]bool{dlq.Topic(p.opts.TopicPrefix): true, p.opts.TopicPrefix + "audit.v1": true}
	p.current = make(map[string]*mappings.Mapping, len(ms))
	for _, m := range ms {
		set[m.Topic(p.opts.TopicPrefix)] = true
		p.current[m.Name] = m
	}
	p.topics = p.topics[:0]
	for t := range set {
		p.topics = append(p.topics, t)
	}
	sort.Strings(p.topics)
}

// claim marks the operator action what as going on; false when it already is.
func (p *Pipeline) claim(what string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.busy[what] {
		return false
	}
	if p.busy == nil {
		p.busy = map[string]bool{}
	}
	p.busy[what] = true
	return true
}

func (p *Pipeline) release(what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.busy, what)
}

// Mapping returns the mapping in force called name.
func (p *Pipeline) Mapping(name string) (*mappings.Mapping, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.current[name]
	return m, ok
}

// Run runs every mapping until ctx is done. A mapping that stops is logged
// and reported in Status while the others go on, until an operator resets
// or sets its checkpoint (ResetCheckpoint, SetCheckpoint), which starts it
// again. Run returns only when ctx is done and every runner has finished
// or abandoned its batch in flight, never checkpointing past
// unacknowledged data.
func (p *Pipeline) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer close(p.done)
	start := func(r *runner) {
		r.setStatus(func(s *monitoring.MappingStatus) { s.State = "starting" })
		r.done = make(chan struct{})
		rctx, cancel := context.WithCancel(ctx)
		r.cancel = cancel
		wg.Go(func() {
			defer close(r.done)
			defer cancel()
			r.log.Info("mapping started")
			if err := r.run(rctx); err != nil {
				r.log.Error("mapping stopped", "err", err)
				return
			}
			r.log.Info("mapping drained")
		})
	}
	p.mu.Lock()
	for _, r := range p.runners {
		start(r)
	}
	p.running = true
	p.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			p.mu.Lock()
			p.running = false
			p.mu.Unlock()
			wg.Wait()
			return nil
		case r := <-p.restart:
			start(r)
		}
	}
}

// ErrRunning is returned when an operator changes the checkpoint of a
// mapping that is running: stop it first (or change it while the daemon
// is down).
var ErrRunning = errors.New("mapping is running; its checkpoint can be changed only while it is stopped")

// ErrUnknownMapping is returned for a mapping name the pipeline does not run.
var ErrUnknownMapping = errors.New("no such mapping")

// ResetCheckpoint removes a stopped mapping's checkpoint and starts it
// again from the beginning of its source.
func (p *Pipeline) ResetCheckpoint(name string) error {
	return p.changeCheckpoint(name, func(s Store) error {
		return s.Reset(name)
	})
}

// SetCheckpoint sets a stopped mapping's position and starts it again.
func (p *Pipeline) SetCheckpoint(name string, pos connectors.Position, display string) error {
	return p.changeCheckpoint(name, func(s Store) error {
		return s.Set(name, pos, display)
	})
}

func (p *Pipeline) changeCheckpoint(name string, change func(Store) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var r *runner
	for _, x := range p.runners {
		if x.name == name {
			r = x
		}
	}
	if r == nil {
		return fmt.Errorf("%w: %s", ErrUnknownMapping, name)
	}
	if p.running {
		select {
		case <-r.done:
		default:
			return fmt.Errorf("%s: %w", name, ErrRunning)
		}
	}
	if err := change(p.store); err != nil {
		return err
	}
	if p.running {
		select {
		case p.restart <- r:
		default:
			// Run has not taken the previous restart yet; the checkpoint
			// is changed and the mapping starts with that restart or the
			// next run.
			return fmt.Errorf("%s: checkpoint changed, but another restart is pending: retry in a moment", name)
		}
	}
	return nil
}

// Status reports every mapping's state, sorted by name.
func (p *Pipeline) Status() []monitoring.MappingStatus {
	p.mu.Lock()
	runners := p.runners
	p.mu.Unlock()
	out := make([]monitoring.MappingStatus, len(runners))
	for i, r := range runners {
		out[i] = r.snapshot()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mapping < out[j].Mapping })
	return out
}

// Reload replaces the pipeline's mappings while it runs. A mapping of the
// same name is handed to its runner, which switches between two batches
// (and stops if its cursor, table, query, filter or source changed); a new
// name starts a runner; a name no longer there ends its runner after the
// batch in flight, uncommitted if that batch cannot finish. Mappings whose
// source is not configured are left out, and reported.
func (p *Pipeline) Reload(ms []*mappings.Mapping) error {
	p.mu.Lock()
	byName := make(map[string]*runner, len(p.runners))
	for _, r := range p.runners {
		byName[r.name] = r
	}
	var (
		keep, fresh []*runner
		errs        []error
		seen        = make(map[string]bool, len(ms))
	)
	for _, m := range ms {
		seen[m.Name] = true
		if r, ok := byName[m.Name]; ok {
			r.next.Store(m)
			keep = append(keep, r)
			continue
		}
		spec, ok := p.sources[m.Source]
		if !ok {
			errs = append(errs, fmt.Errorf("mapping %s reads source %s, which is not configured", m.Name, m.Source))
			continue
		}
		r := p.newRunner(m, spec)
		keep, fresh = append(keep, r), append(fresh, r)
	}
	for _, r := range p.runners {
		if !seen[r.name] {
			if r.cancel != nil {
				r.cancel()
			}
			r.log.Info("mapping removed")
		}
	}
	p.runners = keep
	p.setTopics(ms)
	running := p.running
	p.mu.Unlock()
	if running {
		for _, r := range fresh {
			select {
			case p.restart <- r:
			case <-p.done:
			}
		}
	}
	return errors.Join(errs...)
}

func jitter(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return rand.Int64N(n)
}
