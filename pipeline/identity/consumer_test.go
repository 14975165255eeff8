package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/kafkasink"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/monitoring"
)

// member is one running identity instance of a test.
type member struct {
	name    string
	runner  *Runner
	metrics *monitoring.IdentityMetrics
	cancel  context.CancelFunc
	done    chan error
}

type handled struct {
	member    string
	partition int32
	key       string
	owned     bool
	// lag is the member's consumer-lag gauge, summed, when it handled
	// the record.
	lag float64
}

type recorder struct {
	mu  sync.Mutex
	got []handled
}

func (r *recorder) add(h handled) {
	r.mu.Lock()
	r.got = append(r.got, h)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []handled {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]handled(nil), r.got...)
}

func startMember(t *testing.T, name, addr string, pols *Policies, now func() time.Time, rec *recorder) *member {
	t.Helper()
	cfg := kafkasink.Config{Brokers: []string{addr}, WriteTimeout: 5 * time.Second}
	sink, err := kafkasink.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	m := &member{name: name, metrics: monitoring.NewIdentity(prometheus.NewRegistry()), done: make(chan error, 1)}
	stage := &Stage{Policies: pols, Prefix: "hp.", Connector: "test-group", Now: now}
	m.runner = NewRunner(stage, store, sink, m.metrics, Options{
		Kafka: cfg, Prefix: "hp.", GroupID: "test-group",
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond, RebalanceTimeout: 5 * time.Second,
		SweepInterval: 500 * time.Millisecond,
		Observe: func(p int32, key string) {
			owned := false
			for _, o := range m.runner.Owned() {
				owned = owned || o == p
			}
			lag, _ := lagSeries(t, m.metrics)
			rec.add(handled{name, p, key, owned, lag})
		},
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { m.done <- m.runner.Run(ctx) }()
	t.Cleanup(func() {
		m.stop(t)
		_ = sink.Close(context.Background())
		_ = store.Close()
	})
	return m
}

// lagSeries sums the member's hpgate_identity_consumer_lag_records series
// and counts them.
func lagSeries(t *testing.T, m *monitoring.IdentityMetrics) (sum float64, n int) {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		m.Lag.Collect(ch)
		close(ch)
	}()
	for c := range ch {
		var pb dto.Metric
		if err := c.Write(&pb); err != nil {
			t.Error(err)
		}
		sum += pb.GetGauge().GetValue()
		n++
	}
	return sum, n
}

// caughtUp reports whether the member reports consumer lag for every input
// topic partition and all of it is 0. Until its first measurement it
// reports no series, which is not caught up.
func caughtUp(t *testing.T, m *monitoring.IdentityMetrics) bool {
	sum, n := lagSeries(t, m)
	return n == len(InputEntities)*connectortest.BrokerPartitions && sum == 0
}

func (m *member) stop(t *testing.T) {
	t.Helper()
	if m.cancel == nil {
		return
	}
	m.cancel()
	m.cancel = nil
	select {
	case err := <-m.done:
		if err != nil {
			t.Errorf("%s: Run: %v", m.name, err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("%s did not stop", m.name)
	}
}

func allTopics() []string {
	var ts []string
	for _, e := range InputEntities {
		ts = append(ts, Topic("hp.", e))
	}
	return append(ts, OutputTopics("hp.")...)
}

// personKey makes the i-th test person key.
func personKey(i int) string { return fmt.Sprintf("test:%064x", i+1) }

func produce(t *testing.T, sink *kafkasink.Sink, msgs []connectors.Message) {
	t.Helper()
	if err := sink.Write(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
}

// canonicalMessage wraps rec as a mapping's output for person i.
func canonicalMessage(t *testing.T, i int, entity string, rec any) connectors.Message {
	t.Helper()
	in := input(t, entity, canonical.OpUpsert, rec)
	in.Env.Source.Connector = "test"
	v, err := json.Marshal(&in.Env)
	if err != nil {
		t.Fatal(err)
	}
	return connectors.Message{Topic: Topic("hp.", entity), Key: []byte(personKey(i)), Value: v}
}

func withKey(s canonical.Subject, i int) canonical.Subject {
	s.PersonKey = personKey(i)
	s.SourceID += fmt.Sprint("-", i)
	return s
}

// TestConsumerGroupTwoInstances runs two identity instances in one group
// against one broker: each person is handled by the instance that owns its
// partition; when one instance stops, the other takes its partitions over,
// rebuilds their state from the topics and carries on, and nothing is
// lost: every person's discrepancy, opened under one owner, is resolved
// under the other.
func TestConsumerGroupTwoInstances(t *testing.T) {
	addr, _ := connectortest.Broker(t, allTopics()...)
	now := func() time.Time { return at("2019-06-01 12:00:00") }
	pols := testPolicy(t, "")
	rec := &recorder{}
	a := startMember(t, "a", addr, pols, now, rec)
	b := startMember(t, "b", addr, pols, now, rec)
	connectortest.WaitFor(t, "both members to own partitions", func() bool {
		return len(a.runner.Owned()) > 0 && len(b.runner.Owned()) > 0 && len(a.runner.Owned())+len(b.runner.Owned()) == connectortest.BrokerPartitions
	})

	sink, err := kafkasink.New(kafkasink.Config{Brokers: []string{addr}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close(context.Background())
	const people = 24
	var msgs []connectors.Message
	for i := range people {
		p := registryPerson("registered", "2019-01-01", "illness")
		p.Subject = withKey(p.Subject, i)
		e := enrollment(2019, false, "", "")
		e.Subject = withKey(e.Subject, i)
		msgs = append(msgs, canonicalMessage(t, i, "person", p), canonicalMessage(t, i, "enrollment", e))
	}
	produce(t, sink, msgs)

	// Phase 1: every person gets an open registry_mark_missing.
	open := waitDiscrepancies(t, addr, people, "open")
	phase1 := rec.snapshot()
	owner := map[int32]string{}
	for _, h := range phase1 {
		if !h.owned {
			t.Errorf("%s handled a record of partition %d it did not own", h.member, h.partition)
		}
		if prev, ok := owner[h.partition]; ok && prev != h.member {
			t.Errorf("partition %d handled by %s and %s", h.partition, prev, h.member)
		}
		owner[h.partition] = h.member
	}
	if len(owner) != connectortest.BrokerPartitions {
		t.Fatalf("records in %d partitions, want %d (pick more people)", len(owner), connectortest.BrokerPartitions)
	}

	// Phase 2: a stops; b takes over, rebuilds a's partitions, and resolves
	// every discrepancy when the marks arrive.
	a.stop(t)
	connectortest.WaitFor(t, "b to own every partition", func() bool { return len(b.runner.Owned()) == connectortest.BrokerPartitions })
	msgs = msgs[:0]
	for i := range people {
		e := enrollment(2019, true, "2019-02-01", "2019-12-31")
		e.Subject = withKey(e.Subject, i)
		e.UpdatedAt = "2019-05-01T08:00:00+08:00"
		msgs = append(msgs, canonicalMessage(t, i, "enrollment", e))
	}
	produce(t, sink, msgs)
	resolved := waitDiscrepancies(t, addr, people, "resolved")
	for id := range open {
		if _, ok := resolved[id]; !ok {
			t.Errorf("discrepancy %s never resolved", id)
		}
	}
	for _, h := range rec.snapshot()[len(phase1):] {
		if h.member != "b" || !h.owned {
			t.Errorf("phase 2: %s handled partition %d (owned %v)", h.member, h.partition, h.owned)
		}
	}
	if n := testutil.ToFloat64(b.metrics.Rebuilds.WithLabelValues("rebuilt")); n < 1 {
		t.Errorf("b rebuilt %v partitions, want at least 1", n)
	}
	connectortest.WaitFor(t, "b's consumer lag, one series per input partition, to fall to 0", func() bool { return caughtUp(t, b.metrics) })

	// Phase 3: with every instance stopped, the records produced wait; a
	// new instance sees them as lag before it handles any, and reports 0
	// once it has caught up.
	b.stop(t)
	msgs = msgs[:0]
	for i := range people {
		e := enrollment(2019, true, "2019-02-01", "2019-12-31")
		e.Subject = withKey(e.Subject, i)
		e.UpdatedAt = "2019-05-02T08:00:00+08:00"
		msgs = append(msgs, canonicalMessage(t, i, "enrollment", e))
	}
	produce(t, sink, msgs)
	before := len(rec.snapshot())
	c := startMember(t, "c", addr, pols, now, rec)
	connectortest.WaitFor(t, "c to handle the records produced while no instance ran", func() bool {
		return len(rec.snapshot()) >= before+people
	})
	for _, h := range rec.snapshot()[before:] {
		if h.lag < 1 {
			t.Errorf("c handled a record of partition %d with consumer lag %v, want > 0", h.partition, h.lag)
			break
		}
	}
	connectortest.WaitFor(t, "c's consumer lag, one series per input partition, to fall to 0", func() bool { return caughtUp(t, c.metrics) })

	// The last identity view of every person holds both systems.
	last := map[string]map[string]any{}
	for _, r := range connectortest.ReadAll(t, addr, "hp.identity.v1", 0, 10*time.Second) {
		var env canonical.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		if err := canonical.ValidateEnvelope(r.Value); err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		_ = json.Unmarshal(env.Data, &d)
		last[string(r.Key)] = d
	}
	if len(last) != people {
		t.Fatalf("identity views for %d people, want %d", len(last), people)
	}
	for k, d := range last {
		reg, _ := d["registry"].(map[string]any)
		ins, _ := d["insurance"].(map[string]any)
		if reg["poverty_status"] != "registered" || ins["poverty_mark"] != true {
			t.Errorf("%s: last view registry %v insurance %v", k, reg["poverty_status"], ins["poverty_mark"])
		}
	}
}

// waitDiscrepancies reads hp.discrepancy.v1 until n distinct discrepancies
// have a record with the status, and returns their ids.
func waitDiscrepancies(t *testing.T, addr string, n int, status string) map[string]bool {
	t.Helper()
	var ids map[string]bool
	connectortest.WaitFor(t, fmt.Sprintf("%d %s discrepancies", n, status), func() bool {
		ids = map[string]bool{}
		for _, r := range connectortest.ReadAll(t, addr, "hp.discrepancy.v1", 0, 10*time.Second) {
			var env struct {
				Data canonical.Discrepancy `json:"data"`
			}
			if err := json.Unmarshal(r.Value, &env); err != nil {
				t.Fatal(err)
			}
			if env.Data.Status == status {
				ids[env.Data.DiscrepancyID] = true
			}
		}
		return len(ids) >= n
	})
	if len(ids) != n {
		t.Fatalf("%d %s discrepancies, want %d", len(ids), status, n)
	}
	return ids
}

// TestCheckPartitions: a topic with another partition count is refused,
// naming the counts; a missing topic is an error too.
func TestCheckPartitions(t *testing.T) {
	addr, _ := connectortest.Broker(t, "hp.person.v1", "hp.settlement.v1")
	sink, err := kafkasink.New(kafkasink.Config{Brokers: []string{addr}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close(context.Background())
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "hp.enrollment.v1"); err != nil {
		t.Fatal(err)
	}
	n, err := CheckPartitions(ctx, sink, []string{"hp.person.v1", "hp.settlement.v1"})
	if err != nil || n != connectortest.BrokerPartitions {
		t.Fatalf("CheckPartitions = %d, %v", n, err)
	}
	if _, err := CheckPartitions(ctx, sink, []string{"hp.person.v1", "hp.contract.v1"}); err == nil || !strings.Contains(err.Error(), "hp.contract.v1") {
		t.Errorf("missing topic: %v", err)
	}
	_, err = CheckPartitions(ctx, sink, []string{"hp.person.v1", "hp.settlement.v1", "hp.enrollment.v1"})
	if err == nil || !strings.Contains(err.Error(), "hp.enrollment.v1=2") {
		t.Fatalf("mismatch: %v", err)
	}
}
