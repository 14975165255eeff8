package pipeline_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/kafkasink"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/monitoring"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
)

// pipeOpts are what the tests vary around a running pipeline: its
// mappings, the broker, the checkpoint directory and the source's pace.
type pipeOpts struct {
	maps   []*mappings.Mapping
	broker string
	state  string // checkpoint directory
	key    *pii.Key
	logs   *syncBuffer // receives every log line, at debug level
	batch  int
	poll   time.Duration
}

// running is a pipeline started by startPipeline, with the parts it runs
// on. reg holds its metrics, wired as the daemon wires them (the per-mapping
// gauges read Status at scrape time).
type running struct {
	*pipeline.Pipeline
	store *checkpoint.Store
	reg   *prometheus.Registry
	// stop cancels the run, waits for it, closes the source, sink and
	// store, and returns Run's error.
	stop func() error
}

// startPipeline builds the parts of a pipeline as `hpgate run` does (log,
// the source newSource makes, a kafka-go sink, the bbolt checkpoint store,
// the metrics) and runs it until stop is called. sourceName is the source
// the mappings read.
func startPipeline(t testing.TB, sourceName string, newSource func(log *slog.Logger) (connectors.Source, error), o pipeOpts) *running {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(o.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	src, err := newSource(log)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := kafkasink.New(kafkasink.Config{Brokers: []string{o.broker}}, log)
	if err != nil {
		t.Fatal(err)
	}
	store, err := checkpoint.Open(o.state, o.key.SealKey(), checkpoint.Options{Algorithms: o.key.Algorithms()})
	if err != nil {
		t.Fatal(err)
	}
	r := &running{store: store, reg: prometheus.NewRegistry()}
	met := monitoring.New(r.reg, monitoring.BuildInfo{}, func() []monitoring.MappingStatus { return r.Status() })
	r.Pipeline, err = pipeline.New(o.maps, map[string]pipeline.SourceSpec{sourceName: {Source: src, BatchSize: o.batch, PollInterval: o.poll}},
		sink, store, o.key, met, pipeline.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	r.stop = func() error {
		cancel()
		err := <-done
		_ = src.Close()
		_ = sink.Close(context.Background())
		_ = store.Close()
		return err
	}
	return r
}

// loadMaps loads mapping files under key.
func loadMaps(t testing.TB, key *pii.Key, paths ...string) []*mappings.Mapping {
	t.Helper()
	ms, err := mappings.Load(mappings.Options{Key: key}, paths...)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// gauge returns the value of the gauge name whose label is value; it
// fails the test when there is none.
func (r *running) gauge(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

// mappingState returns the state hpgate_mapping_state reports for a
// mapping: the one state label whose value is 1. It fails the test unless
// exactly one state is 1 and every other listed state is 0.
func (r *running) mappingState(t *testing.T, mapping string) string {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var current []string
	seen := 0
	for _, mf := range mfs {
		if mf.GetName() != "hpgate_mapping_state" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["mapping"] != mapping {
				continue
			}
			seen++
			switch v := m.GetGauge().GetValue(); v {
			case 1:
				current = append(current, labels["state"])
			case 0:
			default:
				t.Errorf("hpgate_mapping_state{mapping=%q,state=%q} = %v, want 0 or 1", mapping, labels["state"], v)
			}
		}
	}
	if seen != len(monitoring.MappingStates) || len(current) != 1 {
		t.Fatalf("hpgate_mapping_state for %s: %d series, states at 1: %v; want %d series, one at 1", mapping, seen, current, len(monitoring.MappingStates))
	}
	return current[0]
}
