package pipeline_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/registry"
	"github.com/hpgate/hpgate/connectors/registry/registrysim"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
)

// The registry API mappings of the Jimo pack, read from the simulator.
const (
	regPersonMap    = "../mappings/counties/370282-jimo/jimo-registry-api-person.yaml"
	regHouseholdMap = "../mappings/counties/370282-jimo/jimo-registry-api-household.yaml"
)

// regClock is the simulator's clock: the real one plus what the test adds.
type regClock struct {
	mu   sync.Mutex
	skew time.Duration
}

func (c *regClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

func (c *regClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skew += d
}

type regEnv struct {
	t      *testing.T
	sim    *registrysim.Sim
	clock  *regClock
	url    string
	broker string
	state  string
	key    *pii.Key
	maps   []*mappings.Mapping
	cfg    registry.Config
	logs   *syncBuffer
}

func newRegEnv(t *testing.T, persons int) *regEnv {
	c := &regClock{}
	sim, err := registrysim.New(registrysim.Options{Persons: persons, Seed: 11, Clock: c.Now, MaxSkew: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	addr, _ := connectortest.Broker(t, "hp.person.v1", "hp.household.v1", "hp.dlq.v1")
	key := pii.TestKey()
	ms, err := mappings.Load(mappings.Options{Key: key}, regPersonMap, regHouseholdMap)
	if err != nil {
		t.Fatal(err)
	}
	return &regEnv{
		t: t, sim: sim, clock: c, url: srv.URL, broker: addr, state: t.TempDir(), key: key, maps: ms, logs: &syncBuffer{},
		cfg: registry.Config{
			URL: srv.URL, AppKey: registrysim.DefaultAppKey, Secret: registry.NewSecret([]byte(registrysim.DefaultSecret)),
			PageSize: 4, SettleDelay: -1, LookBack: -1, Retries: 3, RetryWaitMin: 5 * time.Millisecond, RetryWaitMax: 50 * time.Millisecond,
			RequestTimeout: 2 * time.Second,
		},
	}
}

func (e *regEnv) start() (p *pipeline.Pipeline, store *checkpoint.Store, stop func()) {
	e.t.Helper()
	r := startPipeline(e.t, "jimo-registry-api", func(log *slog.Logger) (connectors.Source, error) {
		return registry.New("jimo-registry-api", e.cfg, log)
	}, pipeOpts{maps: e.maps, broker: e.broker, state: e.state, key: e.key, logs: e.logs, batch: 10, poll: 20 * time.Millisecond})
	return r.Pipeline, r.store, func() {
		if err := r.stop(); err != nil {
			e.t.Error(err)
		}
	}
}

// mappingOf returns the loaded mapping of a resource.
func (e *regEnv) mappingOf(resource string) *mappings.Mapping {
	for _, m := range e.maps {
		if m.Stream.Table == resource {
			return m
		}
	}
	e.t.Fatalf("no mapping reads %s", resource)
	return nil
}

// expected maps the simulator's current records with the real mapping and
// adds them to into, as "id op hash": what must be on Kafka.
func (e *regEnv) expected(resource string, into map[string]bool) {
	e.t.Helper()
	m := e.mappingOf(resource)
	b := &connectors.Batch{Columns: append(m.Columns(), "updated_at", "id")}
	for _, raw := range e.sim.Records(resource) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			e.t.Fatal(err)
		}
		flat := registry.Flatten(rec)
		row := make([]any, len(b.Columns))
		for i, c := range b.Columns {
			row[i] = flat[c]
		}
		b.Rows = append(b.Rows, row)
	}
	var res mappings.Result
	if err := m.Apply(b, &res, time.Now()); err != nil {
		e.t.Fatal(err)
	}
	if len(res.Rejections) > 0 {
		e.t.Fatalf("%s: the simulator's data has %d rejections, e.g. %s", resource, len(res.Rejections), res.Rejections[0].Code)
	}
	for _, r := range res.Records {
		into[envelopeOf(e.t, r.Value)] = true
	}
}

// envelopeOf returns "id op hash" of an envelope.
func envelopeOf(t *testing.T, v []byte) string {
	t.Helper()
	var env struct{ ID, Op, Hash string }
	if err := json.Unmarshal(v, &env); err != nil || env.ID == "" || env.Hash == "" {
		t.Fatalf("envelope: %v", err)
	}
	return env.ID + " " + env.Op + " " + env.Hash
}

// onKafka reads a topic exactly as it stands: how many times each "id op
// hash" is there, and the number of messages.
func (e *regEnv) onKafka(topic string) (map[string]int, int) {
	e.t.Helper()
	got := map[string]int{}
	recs := connectortest.ReadAll(e.t, e.broker, topic, 0, 10*time.Second)
	for _, r := range recs {
		got[envelopeOf(e.t, r.Value)]++
	}
	return got, len(recs)
}

// waitDelivered waits until both mappings are idle having read every
// version of their records.
func (e *regEnv) waitDelivered(p *pipeline.Pipeline) {
	e.t.Helper()
	waitFor(e.t, "the registry delivered", func() bool {
		for _, s := range p.Status() {
			want := int64(e.sim.Versions(registrysim.Persons))
			if strings.HasSuffix(s.Mapping, "household") {
				want = int64(e.sim.Versions(registrysim.Households))
			}
			if s.State == "stopped" {
				e.t.Fatalf("%s stopped: %s", s.Mapping, s.LastError)
			}
			if s.State != "idle" || s.Rows < want {
				return false
			}
		}
		return true
	})
}

// checkExactly asserts the topic holds each wanted record version once,
// and nothing else.
func (e *regEnv) checkExactly(topic, resource string, want map[string]bool) {
	e.t.Helper()
	got, n := e.onKafka(topic)
	if v := e.sim.Versions(resource); n != v {
		e.t.Errorf("%s: %d messages, want %d (one per record version)", topic, n, v)
	}
	for k := range want {
		if got[k] != 1 {
			e.t.Errorf("%s: %s delivered %d times, want once", topic, k, got[k])
		}
	}
	for k := range got {
		if !want[k] {
			e.t.Errorf("%s: unexpected %s", topic, k)
		}
	}
}

// checkpointAt asserts a mapping's checkpoint is just after the last
// record of the resource in (updated_at, id) order.
func (e *regEnv) checkpointAt(store *checkpoint.Store, mapping, resource string) {
	e.t.Helper()
	cp, err := store.Load(mapping)
	if err != nil {
		e.t.Fatal(err)
	}
	recs := e.sim.Records(resource)
	var last struct {
		ID        string `json:"id"`
		UpdatedAt string `json:"updated_at"`
	}
	_ = json.Unmarshal(recs[len(recs)-1], &last)
	body, ok := strings.CutPrefix(string(cp.Position), "r1:")
	var pos struct {
		TS   string `json:"ts"`
		ID   string `json:"id"`
		HWTS string `json:"hw_ts"`
	}
	if !ok || json.Unmarshal([]byte(body), &pos) != nil {
		e.t.Fatalf("%s: checkpoint is not a registry position", mapping)
	}
	if pos.TS != last.UpdatedAt || pos.ID != last.ID || pos.HWTS != "" {
		e.t.Errorf("%s: checkpoint at (%s, %s), look-back %q; want the last record (%s, %s)", mapping, pos.TS, pos.ID, pos.HWTS, last.UpdatedAt, last.ID)
	}
}

// TestRegistryFaults runs the pipeline against the simulator for each
// fault, in both pagination modes: Kafka must end up with every record
// exactly once and the checkpoints just after the last records.
func TestRegistryFaults(t *testing.T) {
	type tc struct {
		name   string
		faults []registrysim.Fault
		edit   func(*registry.Config)
		check  func(t *testing.T, e *regEnv)
	}
	servedFault := func(kind string) func(t *testing.T, e *regEnv) {
		return func(t *testing.T, e *regEnv) {
			for _, r := range e.sim.Requests() {
				if r.Fault == kind {
					return
				}
			}
			t.Errorf("the %s fault was never served", kind)
		}
	}
	cases := []tc{
		{name: "none"},
		{name: "500", faults: []registrysim.Fault{{Kind: registrysim.Fault500, Resource: "persons", Page: 2, Times: 2}}, check: servedFault("500")},
		{name: "429", faults: []registrysim.Fault{{Kind: registrysim.Fault429, Resource: "persons", Page: 2, RetryAfter: time.Second}},
			check: func(t *testing.T, e *regEnv) {
				reqs := e.sim.Requests()
				for i, r := range reqs {
					if r.Fault != "429" {
						continue
					}
					for _, next := range reqs[i+1:] {
						if next.Resource == "persons" {
							if d := next.At.Sub(r.At); d < 900*time.Millisecond {
								t.Errorf("the request after a 429 with Retry-After: 1 came %v later", d)
							}
							return
						}
					}
				}
				t.Error("no 429 served, or no request after it")
			}},
		{name: "slow", faults: []registrysim.Fault{{Kind: registrysim.FaultSlow, Resource: "persons", Page: 2, Delay: 1500 * time.Millisecond}},
			edit: func(c *registry.Config) { c.RequestTimeout = 300 * time.Millisecond }, check: servedFault("slow")},
		{name: "truncated", faults: []registrysim.Fault{{Kind: registrysim.FaultTruncate, Resource: "persons", Page: 2, Times: 2}}, check: servedFault("truncate")},
		{name: "truncated beyond the retries", faults: []registrysim.Fault{{Kind: registrysim.FaultTruncate, Resource: "persons", Times: 7}},
			edit: func(c *registry.Config) { c.Retries = 2 },
			check: func(t *testing.T, e *regEnv) {
				logs := e.logs.String()
				if !strings.Contains(logs, "source unavailable, backing off") || !strings.Contains(logs, "GET /v1/persons page 1: invalid JSON: truncated (after 3 attempts)") {
					t.Errorf("the backoff log does not name the request and the problem:\n%s", logs)
				}
				for _, raw := range e.sim.Records(registrysim.Persons) {
					var p registrysim.Person
					_ = json.Unmarshal(raw, &p)
					if strings.Contains(logs, p.IDNumber) || strings.Contains(logs, p.Name) {
						t.Fatalf("the logs hold a person's ID number or name")
					}
				}
			}},
		{name: "duplicated page", faults: []registrysim.Fault{{Kind: registrysim.FaultDuplicate, Resource: "persons", Page: 3}}, check: servedFault("duplicate")},
		{name: "reordered page", faults: []registrysim.Fault{{Kind: registrysim.FaultReorder, Resource: "persons", Page: 2}}, check: servedFault("reorder")},
	}
	for _, mode := range []string{registry.PaginationCursor, registry.PaginationPage} {
		for _, c := range cases {
			t.Run(mode+"/"+c.name, func(t *testing.T) {
				e := newRegEnv(t, 37)
				e.cfg.Pagination = mode
				if c.edit != nil {
					c.edit(&e.cfg)
				}
				for _, f := range c.faults {
					if err := e.sim.Inject(f); err != nil {
						t.Fatal(err)
					}
				}
				wantP, wantH := map[string]bool{}, map[string]bool{}
				e.expected(registrysim.Persons, wantP)
				e.expected(registrysim.Households, wantH)
				p, store, stop := e.start()
				e.waitDelivered(p)
				// Then the data changes: exits, deaths, removals, new
				// members, read incrementally with the same fault again.
				e.clock.Add(time.Minute)
				for _, f := range c.faults {
					_ = e.sim.Inject(f)
				}
				e.sim.Mutate(8)
				e.expected(registrysim.Persons, wantP)
				e.expected(registrysim.Households, wantH)
				e.waitDelivered(p)
				e.checkpointAt(store, "jimo-registry-api-person", registrysim.Persons)
				e.checkpointAt(store, "jimo-registry-api-household", registrysim.Households)
				stop()
				e.checkExactly("hp.person.v1", registrysim.Persons, wantP)
				e.checkExactly("hp.household.v1", registrysim.Households, wantH)
				if _, n := e.onKafka("hp.dlq.v1"); n != 0 {
					t.Errorf("%d dead letters", n)
				}
				if c.check != nil {
					c.check(t, e)
				}
			})
		}
	}
}

// waitOnKafka waits until every wanted record version is on the topic.
func (e *regEnv) waitOnKafka(topic string, want map[string]bool) map[string]int {
	e.t.Helper()
	var got map[string]int
	waitFor(e.t, "every version on "+topic, func() bool {
		got, _ = e.onKafka(topic)
		for k := range want {
			if got[k] == 0 {
				return false
			}
		}
		return true
	})
	return got
}

// TestRegistryClockGoesBackwards: the registry's clock is corrected
// backwards, so changed records get an updated_at older than the position
// already reached. The look-back re-read finds them; without it they are
// lost. Re-reads repeat records (at-least-once): consumers drop repeats by
// id and hash, and nothing outside the record versions reaches Kafka.
func TestRegistryClockGoesBackwards(t *testing.T) {
	for _, lookBack := range []time.Duration{10 * time.Minute, -1} {
		t.Run(fmt.Sprintf("look_back=%v", max(lookBack, 0)), func(t *testing.T) {
			e := newRegEnv(t, 20)
			e.cfg.LookBack = lookBack
			want := map[string]bool{}
			e.expected(registrysim.Persons, want)
			p, store, stop := e.start()
			defer stop()
			e.waitOnKafka("hp.person.v1", want)

			e.clock.Add(time.Minute)
			e.sim.Mutate(5)
			e.expected(registrysim.Persons, want)
			e.waitOnKafka("hp.person.v1", want)
			e.waitDelivered(p)

			before := map[string]bool{}
			for k := range want {
				before[k] = true
			}
			moved := e.sim.MoveBack(registrysim.Persons, 2, 30*time.Second)
			e.expected(registrysim.Persons, want)
			var movedVersions []string
			for k := range want {
				if !before[k] {
					movedVersions = append(movedVersions, k)
				}
			}
			if len(moved) != 2 || len(movedVersions) != 2 {
				t.Fatalf("moved %v: %d new versions", moved, len(movedVersions))
			}
			e.clock.Add(6 * time.Minute) // the next look-back is due

			if lookBack < 0 {
				n := len(e.sim.Requests())
				waitFor(t, "ten more polls", func() bool { return len(e.sim.Requests()) > n+20 })
				got, _ := e.onKafka("hp.person.v1")
				for _, k := range movedVersions {
					if got[k] != 0 {
						t.Errorf("without look-back, %s arrived", k)
					}
				}
				return
			}
			got := e.waitOnKafka("hp.person.v1", want)
			for k, n := range got {
				if !want[k] {
					t.Errorf("unexpected %s (%d times)", k, n)
				}
			}
			e.waitDelivered(p)
			waitFor(t, "the look-back re-read to end", func() bool {
				cp, err := store.Load("jimo-registry-api-person")
				return err == nil && !strings.Contains(string(cp.Position), "hw_ts")
			})
			// The position went back to where it was, after the moved
			// records' new updated_at.
			cp, _ := store.Load("jimo-registry-api-person")
			var pos struct{ TS, ID string }
			_ = json.Unmarshal([]byte(strings.TrimPrefix(string(cp.Position), "r1:")), &pos)
			for _, raw := range e.sim.Records(registrysim.Persons) {
				var r struct {
					ID        string
					UpdatedAt string `json:"updated_at"`
				}
				_ = json.Unmarshal(raw, &r)
				if slices.Contains(moved, r.ID) && r.UpdatedAt >= pos.TS {
					t.Errorf("the checkpoint %s is not after the moved record's %s", pos.TS, r.UpdatedAt)
				}
			}
		})
	}
}

// TestRegistrySnapshot reads /v1/persons whole at every pass (a full
// resync): the pipeline's change detection sends only what changed.
func TestRegistrySnapshot(t *testing.T) {
	e := newRegEnv(t, 25)
	text := string(mustRead(t, regPersonMap))
	text = strings.Replace(text, "  mode: incremental\n  timestamp: updated_at\n", "  mode: snapshot\n", 1)
	m, err := mappings.Parse("../mappings/counties/370282-jimo/snapshot.yaml", []byte(text), mappings.Options{Key: e.key})
	if err != nil {
		t.Fatal(err)
	}
	e.maps = []*mappings.Mapping{m}
	want := map[string]bool{}
	e.expected(registrysim.Persons, want)
	_, _, stop := e.start()
	defer stop()
	e.waitOnKafka("hp.person.v1", want)
	e.clock.Add(time.Minute)
	ch := e.sim.Mutate(6)
	e.expected(registrysim.Persons, want)
	got := e.waitOnKafka("hp.person.v1", want)
	n := 0
	for k, c := range got {
		n += c
		if !want[k] || c != 1 {
			t.Errorf("%s delivered %d times (wanted: %v)", k, c, want[k])
		}
	}
	if n != 25+ch.Persons {
		t.Errorf("%d messages, want %d initial + %d changed", n, 25, ch.Persons)
	}
}
