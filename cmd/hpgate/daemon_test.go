package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/mappings/counties"
	"github.com/hpgate/hpgate/pipeline/demo"
)

// Helpers for the tests that run a daemon against a synthetic county and a
// fake Kafka cluster.

// testCluster starts a one-broker fake Kafka cluster with opts, closed when
// the test ends.
func testCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	cluster, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return cluster
}

// testCounty extracts the Jimo county pack into a temporary directory and
// builds a synthetic county from it there (rows per table, a config for
// brokers and, unless listen is empty, an HTTP listener on listen). The
// county is closed when the test ends; pack is the extracted pack.
func testCounty(t *testing.T, rows int, brokers []string, listen string) (county *demo.County, pack string) {
	t.Helper()
	dir := t.TempDir()
	pack, err := counties.Extract("370282-jimo", dir)
	if err != nil {
		t.Fatal(err)
	}
	county, err = demo.Build(dir, pack, demo.Options{RowsPerTable: rows, Brokers: brokers, HTTPListen: listen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(county.Close)
	return county, pack
}

// daemonRun is a daemon's run going on in a goroutine.
type daemonRun struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	err    error         // what run returned, once done is closed
}

// stop cancels the run, waits for it to end and returns its error. It may
// be called again, and after the run ended on its own.
func (r *daemonRun) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// ended reports whether the run has returned.
func (r *daemonRun) ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// startDaemon opens the daemon of cfgPath (no log, a registry of its own)
// and starts its run. When the test ends, a run the test did not stop is
// stopped, and if the test failed the mappings' status is logged.
func startDaemon(t *testing.T, cfgPath string) (*daemon, *daemonRun) {
	t.Helper()
	d, err := openDaemon(cfgPath, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &daemonRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = d.run(ctx)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mappings: %+v", d.pipe.Status())
		}
		cancel()
		select {
		case <-r.done:
		case <-time.After(20 * time.Second):
			t.Error("run did not end after its context was cancelled")
		}
	})
	return d, r
}

// waitUntil polls cond and fails the test if it does not hold in time.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	connectortest.WaitFor(t, what, cond)
}

func allIdle(d *daemon) bool {
	for _, s := range d.pipe.Status() {
		if s.State != "idle" {
			return false
		}
	}
	return true
}

func hasMapping(d *daemon, name string) bool {
	for _, s := range d.pipe.Status() {
		if s.Mapping == name {
			return true
		}
	}
	return false
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// editFile replaces the first old in the file at path with new.
func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, strings.Replace(string(text), old, new, 1))
}

func gaugeValue(g prometheus.Gatherer, name string) (float64, error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetGauge().GetValue(), nil
		}
	}
	return 0, fmt.Errorf("no metric %s", name)
}

// topicValues reads every record value of a topic.
func topicValues(t *testing.T, brokers []string, topic string) [][]byte {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out [][]byte
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r.Value) })
	}
	return out
}
