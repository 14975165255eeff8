package pipeline_test

import (
	"cmp"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
	"github.com/hpgate/hpgate/pipeline/dlq"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		runChild()
		return
	}
	goleak.VerifyTestMain(connectortest.WrapMain(m))
}

const goodID = "11010519491231002X"

type env struct {
	t       *testing.T
	cluster *kfake.Cluster
	db      *sql.DB
	dsn     string
	broker  string
	state   string
	key     *pii.Key
	maps    string
	logs    *syncBuffer // every log line of the parts, at debug level
	quiet   []string    // the source's quiet hours
	driver  string      // the source's driver; "" is mysql
}

func newEnv(t *testing.T) *env {
	db, dsn := connectortest.MariaDB(t)
	addr, cluster := connectortest.Broker(t, "hp.settlement.v1", "hp.household.v1", "hp.dlq.v1")
	e := &env{t: t, cluster: cluster, db: db, dsn: dsn, broker: addr, state: t.TempDir(), key: pii.TestKey(), maps: "testdata/maps/ins-settlement.yaml", logs: &syncBuffer{}}
	e.exec(settlementDDL)
	return e
}

// settlementDDL creates the test county's settlement table.
const settlementDDL = `CREATE TABLE yb_jsxx (
		JSID VARCHAR(20) PRIMARY KEY, SFZH VARCHAR(20), XM VARBINARY(40), YYDJ CHAR(1), JSSJ DATETIME,
		ZFY DECIMAL(14,0), GRZF DECIMAL(14,0), ZDDM VARCHAR(10), CXBZ CHAR(1), GXSJ DATETIME NOT NULL,
		KEY gx (GXSJ, JSID))`

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// insert adds settlement i, updated at 2019-03-01 10:00:00 + i/3 seconds
// (so several rows share a timestamp across page boundaries).
func (e *env) insert(i int, id, voided string) {
	ts := time.Date(2019, 3, 1, 10, 0, i/3, 0, time.UTC).Format(time.DateTime)
	e.exec(`INSERT INTO yb_jsxx VALUES (?,?,?,?,?,?,?,?,?,?)`,
		fmt.Sprintf("JS%04d", i), id, []byte{0xd5, 0xc5, 0xc8, 0xfd}, "2", ts, 100000+i, 1000+i, "I10", voided, ts)
}

// start runs a pipeline until the returned stop is called.
func (e *env) start(mapsPath string) (p *pipeline.Pipeline, store *checkpoint.Store, stop func() error) {
	e.t.Helper()
	r := e.run(mapsPath)
	return r.Pipeline, r.store, r.stop
}

// run starts a pipeline on the env's database, as start does, and returns
// it with its metrics.
func (e *env) run(mapsPath string) *running {
	e.t.Helper()
	return startPipeline(e.t, "e2e-ins", func(log *slog.Logger) (connectors.Source, error) {
		return sqlsource.New("e2e-ins", sqlsource.Config{Driver: cmp.Or(e.driver, "mysql"), DSN: sqlsource.DSN(e.dsn), SettleDelay: time.Second, TimeZone: "+08:00", QuietHours: e.quiet}, log)
	}, pipeOpts{maps: loadMaps(e.t, e.key, mapsPath), broker: e.broker, state: e.state, key: e.key, logs: e.logs, batch: 10, poll: 50 * time.Millisecond})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	connectortest.WaitFor(t, what, cond)
}

func idle(p *pipeline.Pipeline) bool {
	for _, s := range p.Status() {
		if s.State != "idle" {
			return false
		}
	}
	return true
}

func TestPipelineMariaDBToKafka(t *testing.T) {
	e := newEnv(t)
	for i := range 25 {
		switch i {
		case 7:
			e.insert(i, "110105194912310021", "0") // bad check digit
		case 11:
			e.insert(i, goodID, "1") // voided
		default:
			e.insert(i, goodID, "0")
		}
	}
	p, _, stop := e.start(e.maps)
	waitFor(t, "the pipeline to catch up", func() bool { return idle(p) && p.Status()[0].Rows == 25 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	recs := connectortest.ReadAll(t, e.broker, "hp.settlement.v1", 24, 10*time.Second)
	if len(recs) != 24 {
		t.Fatalf("%d records, want 24", len(recs))
	}
	wantKey := e.key.PersonKey(goodID)
	seen := map[string]bool{}
	for _, r := range recs {
		if string(r.Key) != wantKey {
			t.Errorf("key %s", r.Key)
		}
		if err := canonical.ValidateEnvelope(r.Value); err != nil {
			t.Errorf("invalid envelope: %v", err)
		}
		if strings.Contains(string(r.Value), goodID) || strings.Contains(string(r.Value), "张三") {
			t.Fatalf("personal data in %s", r.Value)
		}
		var env canonical.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		if seen[env.ID] {
			t.Errorf("repeated %s", env.ID)
		}
		seen[env.ID] = true
		if h, _ := r.Header("schema"); string(h) != "hp.settlement/v1" {
			t.Errorf("schema header %q", h)
		}
		switch env.ID {
		case "insurance:370282:JS0003":
			var s canonical.Settlement
			if err := json.Unmarshal(env.Data, &s); err != nil {
				t.Fatal(err)
			}
			if s.TotalCost != "1000.03" || s.OutOfPocket != "10.03" || s.FacilityLevel != "township" ||
				s.SettledAt != "2019-03-01T10:00:01+08:00" || s.PersonKey != wantKey || s.IDQuality != "valid" || env.Op != "upsert" {
				t.Errorf("JS0003: %s", env.Data)
			}
			if env.Source.Position != "2019-03-01 10:00:01|JS0003" {
				t.Errorf("position %q", env.Source.Position)
			}
		case "insurance:370282:JS0011":
			if env.Op != "delete" {
				t.Errorf("voided row op %s", env.Op)
			}
		}
	}
	if seen["insurance:370282:JS0007"] || !seen["insurance:370282:JS0024"] {
		t.Errorf("ids %v", seen)
	}
	dl := connectortest.ReadAll(t, e.broker, "hp.dlq.v1", 1, 10*time.Second)
	if len(dl) != 1 {
		t.Fatalf("%d DLQ messages", len(dl))
	}
	v, _, row, err := dlq.Open(e.key, dl[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if v.Code != "bad_check_digit" || v.Source.Position != "2019-03-01 10:00:02|JS0007" || row[0] == nil {
		t.Errorf("DLQ %+v", v)
	}
	if strings.Contains(string(dl[0].Value), "110105194912310021") {
		t.Errorf("clear ID in DLQ")
	}

	// Nothing personal in any log line of any part, at debug level.
	logs := e.logs.String()
	if !strings.Contains(logs, "mapping started") {
		t.Fatalf("no logs captured: %q", logs)
	}
	for _, clear := range []string{goodID, "110105194912310021", "19491231", "张三"} {
		if strings.Contains(logs, clear) {
			t.Errorf("logs hold %q", clear)
		}
	}

	// Rows added later arrive on the next run, after the checkpoint.
	for i := 25; i < 28; i++ {
		e.insert(i, goodID, "0")
	}
	p, store, stop := e.start(e.maps)
	waitFor(t, "the new rows", func() bool { return idle(p) && p.Status()[0].Rows == 28 })
	cp, err := store.Load("e2e-ins-settlement")
	if err != nil {
		t.Fatal(err)
	}
	if cp.Rows != 28 || cp.Display != "2019-03-01 10:00:09|JS0027" {
		t.Errorf("checkpoint %+v", cp)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := connectortest.ReadAll(t, e.broker, "hp.settlement.v1", 27, 10*time.Second); len(got) != 27 {
		t.Errorf("%d records after the second run, want 27 (no repeats)", len(got))
	}
}

// TestChangedCursorStopsMapping: a mapping whose filter changed since its
// checkpoint must not resume from a position that may mean nothing now.
func TestChangedCursorStopsMapping(t *testing.T) {
	e := newEnv(t)
	e.insert(1, goodID, "0")
	p, _, stop := e.start(e.maps)
	waitFor(t, "the first run", func() bool { return idle(p) && p.Status()[0].Rows == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src, err := os.ReadFile(e.maps)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(src), "op: ", "filter: 'YYDJ != \"9\"'\nop: ", 1)
	path := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run(path)
	waitFor(t, "the mapping to stop", func() bool { return r.Status()[0].State == "stopped" })
	if msg := r.Status()[0].LastError; !strings.Contains(msg, "hpgate checkpoint reset") {
		t.Errorf("status error %q", msg)
	}
	// The metric tells it from an outage: only an operator can clear it.
	if got := r.mappingState(t, "e2e-ins-settlement"); got != "stopped" {
		t.Errorf("hpgate_mapping_state is %s, want stopped", got)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	_ = connectors.Position("")
}

// TestSourceOutageBacksOff: while the source database is unreachable the
// mapping backs off (and says so in hpgate_mapping_state and
// hpgate_source_up) and checkpoints nothing; with the database back, it
// reads on from its checkpoint.
func TestSourceOutageBacksOff(t *testing.T) {
	e := newEnv(t)
	e.insert(1, goodID, "0")
	r := e.run(e.maps)
	waitFor(t, "the first run", func() bool { return idle(r.Pipeline) && r.Status()[0].Rows == 1 })
	if got := r.mappingState(t, "e2e-ins-settlement"); got != "idle" {
		t.Errorf("caught up: hpgate_mapping_state is %s, want idle", got)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	// The same database behind an address nothing listens on any more.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	cfg, err := mysql.ParseDSN(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	good := e.dsn
	cfg.Net, cfg.Addr = "tcp", closed
	e.dsn = cfg.FormatDSN()
	e.insert(2, goodID, "0")
	r = e.run(e.maps)
	waitFor(t, "the mapping to back off", func() bool { return r.Status()[0].State == "backoff" })
	if got := r.mappingState(t, "e2e-ins-settlement"); got != "backoff" {
		t.Errorf("source unreachable: hpgate_mapping_state is %s, want backoff", got)
	}
	if v := r.gauge(t, "hpgate_source_up", "source", "e2e-ins"); v != 0 {
		t.Errorf("hpgate_source_up %v while unreachable, want 0", v)
	}
	if msg := r.Status()[0].LastError; strings.Contains(msg, goodID) || msg == "" {
		t.Errorf("status error %q", msg)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if cp, err := checkpoint.Open(e.state, e.key.SealKey(), checkpoint.Options{Algorithms: e.key.Algorithms()}); err != nil {
		t.Fatal(err)
	} else {
		got, err := cp.Load("e2e-ins-settlement")
		_ = cp.Close()
		if err != nil || got.Rows != 1 {
			t.Fatalf("checkpoint moved during the outage: %+v %v", got, err)
		}
	}
	// Reachable again: it reads on from its checkpoint, no reset needed.
	e.dsn = good
	r = e.run(e.maps)
	waitFor(t, "recovery", func() bool { return idle(r.Pipeline) && r.Status()[0].Rows == 2 })
	if got := r.mappingState(t, "e2e-ins-settlement"); got != "idle" {
		t.Errorf("after the outage: hpgate_mapping_state is %s, want idle", got)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestResetRestartsStoppedMapping: after a changed cursor stops a mapping,
// an operator's reset starts it again from the beginning.
func TestResetRestartsStoppedMapping(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.insert(i, goodID, "0")
	}
	p, _, stop := e.start(e.maps)
	waitFor(t, "the first run", func() bool { return idle(p) && p.Status()[0].Rows == 3 })
	if err := p.ResetCheckpoint("e2e-ins-settlement"); err == nil || !strings.Contains(err.Error(), "running") {
		t.Errorf("reset of a running mapping: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(mustRead(t, e.maps)), "op: ", "filter: 'YYDJ != \"9\"'\nop: ", 1)
	path := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	p, _, stop = e.start(path)
	waitFor(t, "the mapping to stop", func() bool { return p.Status()[0].State == "stopped" })
	if err := p.ResetCheckpoint("e2e-ins-settlement"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the re-read from the start", func() bool { return idle(p) && p.Status()[0].Rows == 3 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// At least once: the reset re-read the three rows.
	if got := connectortest.ReadAll(t, e.broker, "hp.settlement.v1", 6, 10*time.Second); len(got) != 6 {
		t.Errorf("%d records, want 6", len(got))
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSnapshotChangeDetection: a snapshot mapping emits every row once,
// then only rows that changed, and a delete for a row that vanished.
func TestSnapshotChangeDetection(t *testing.T) {
	e := newEnv(t)
	e.exec(`CREATE TABLE hh (hh_no VARCHAR(20) PRIMARY KEY, members INT, status CHAR(1))`)
	for i := range 5 {
		e.exec(`INSERT INTO hh VALUES (?, ?, '1')`, fmt.Sprintf("4212210001%02d", i), 2+i)
	}
	p, _, stop := e.start("testdata/snap/household.yaml")
	waitFor(t, "the first pass", func() bool { return idle(p) && p.Status()[0].Rows >= 5 })
	waitFor(t, "a second pass", func() bool { return p.Status()[0].Rows >= 10 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := connectortest.ReadAll(t, e.broker, "hp.household.v1", 0, 5*time.Second); len(got) != 5 {
		t.Fatalf("%d records after two passes over 5 unchanged rows, want 5", len(got))
	}
	e.exec(`UPDATE hh SET status = '3' WHERE hh_no = '421221000102'`)
	e.exec(`DELETE FROM hh WHERE hh_no = '421221000104'`)
	p, _, stop = e.start("testdata/snap/household.yaml")
	waitFor(t, "a pass after the changes", func() bool { return idle(p) && p.Status()[0].Rows >= 14 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	recs := connectortest.ReadAll(t, e.broker, "hp.household.v1", 0, 5*time.Second)
	if len(recs) != 7 {
		t.Fatalf("%d records, want 5 + 1 change + 1 delete", len(recs))
	}
	// ReadAll orders by partition: find the new records by content.
	ops := map[string]string{}
	for _, r := range recs {
		var env canonical.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		if err := canonical.ValidateEnvelope(r.Value); err != nil {
			t.Errorf("invalid: %v\n%s", err, r.Value)
		}
		if env.Op == "delete" || strings.Contains(string(env.Data), "exited") {
			ops[env.Op] = string(env.Data)
		}
		if strings.Contains(string(r.Value), "4212210001") {
			t.Errorf("household number in clear: %s", r.Value)
		}
	}
	if !strings.Contains(ops["upsert"], `"poverty_status":"exited"`) {
		t.Errorf("changed row: %q", ops["upsert"])
	}
	wantKey := `"household_key":"` + e.key.PersonKey("household_key:421221000104") + `"`
	if !strings.Contains(ops["delete"], wantKey) || strings.Contains(ops["delete"], "member_count") {
		t.Errorf("delete carries %q, want only identifying fields with %s", ops["delete"], wantKey)
	}
}

// TestBrokerOutage: while the broker refuses every produce request,
// nothing is checkpointed and the mapping backs off; when it comes back,
// every row arrives once, without a restart.
func TestBrokerOutage(t *testing.T) {
	e := newEnv(t)
	var down atomic.Bool
	down.Store(true)
	e.cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		if down.Load() {
			return nil, errors.New("broker down"), true // closes the connection
		}
		return nil, nil, false
	})
	for i := range 30 {
		e.insert(i, goodID, "0")
	}
	r := e.run(e.maps)
	p, store, stop := r.Pipeline, r.store, r.stop
	waitFor(t, "the mapping to back off", func() bool { return p.Status()[0].State == "backoff" })
	if got := r.mappingState(t, "e2e-ins-settlement"); got != "backoff" {
		t.Errorf("broker down: hpgate_mapping_state is %s, want backoff", got)
	}
	time.Sleep(300 * time.Millisecond)
	if cp, err := store.Load("e2e-ins-settlement"); err != nil || cp.Rows != 0 {
		t.Fatalf("checkpoint moved during the outage: %+v %v", cp, err)
	}
	down.Store(false)
	waitFor(t, "recovery", func() bool { return idle(p) && p.Status()[0].Rows == 30 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	recs := connectortest.ReadAll(t, e.broker, "hp.settlement.v1", 0, 10*time.Second)
	ids := map[string]bool{}
	for _, r := range recs {
		var env canonical.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		ids[env.ID] = true
	}
	if len(ids) != 30 {
		t.Errorf("%d distinct records after the outage, want 30 (%d messages)", len(ids), len(recs))
	}
}

// TestQuietHours: inside the source's quiet hours nothing is read, and the
// mapping says so instead of claiming to be caught up.
func TestQuietHours(t *testing.T) {
	e := newEnv(t)
	now := time.Now().In(time.FixedZone("+08:00", 8*3600))
	e.quiet = []string{now.Add(-2*time.Minute).Format("15:04") + "-" + now.Add(3*time.Minute).Format("15:04")}
	e.insert(1, goodID, "0")
	p, _, stop := e.start(e.maps)
	waitFor(t, "the quiet state", func() bool { return p.Status()[0].State == "quiet" })
	time.Sleep(200 * time.Millisecond)
	if st := p.Status()[0]; st.Rows != 0 || st.State != "quiet" {
		t.Errorf("status in quiet hours: %+v", st)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestFallbackTimestamp: rows whose cursor timestamp is NULL are read
// through the mapping's fallback column, not skipped.
func TestFallbackTimestamp(t *testing.T) {
	e := newEnv(t)
	e.exec(`ALTER TABLE yb_jsxx MODIFY GXSJ DATETIME NULL`)
	for i := range 6 {
		e.insert(i, goodID, "0")
	}
	e.exec(`UPDATE yb_jsxx SET GXSJ = NULL WHERE JSID IN ('JS0001', 'JS0004')`)
	p, _, stop := e.start("testdata/fallback/ins-settlement.yaml")
	waitFor(t, "every row", func() bool { return idle(p) && p.Status()[0].Rows == 6 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	recs := connectortest.ReadAll(t, e.broker, "hp.settlement.v1", 0, 5*time.Second)
	if len(recs) != 6 {
		t.Fatalf("%d records, want 6", len(recs))
	}
	for _, r := range recs {
		var env canonical.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		if env.ID == "insurance:370282:JS0004" && env.Source.Position != "2019-03-01 10:00:01|JS0004" {
			t.Errorf("position of a NULL-timestamp row: %q", env.Source.Position)
		}
	}
}

func loadMapping(t *testing.T, key *pii.Key, src string) *mappings.Mapping {
	t.Helper()
	m, err := mappings.Parse("reload.yaml", []byte(src), mappings.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestReload: a changed field rule applies from the next batch on; a
// removed mapping stops and a re-added one resumes from its checkpoint;
// a changed filter stops the mapping.
func TestReload(t *testing.T) {
	e := newEnv(t)
	e.insert(0, goodID, "0")
	p, _, stop := e.start(e.maps)
	defer func() {
		if stop != nil {
			_ = stop()
		}
	}()
	waitFor(t, "the first row", func() bool { return idle(p) && p.Status()[0].Rows == 1 })
	orig := string(mustRead(t, e.maps))

	// 1. A field rule changes: township centres are now mapped as county level.
	changed := strings.Replace(orig, `"2": township`, `"2": county`, 1)
	if err := p.Reload([]*mappings.Mapping{loadMapping(t, e.key, changed)}); err != nil {
		t.Fatal(err)
	}
	e.insert(1, goodID, "0")
	waitFor(t, "the row after the reload", func() bool { return idle(p) && p.Status()[0].Rows == 2 })

	// 2. Removed, then back: it resumes after its checkpoint.
	if err := p.Reload(nil); err != nil {
		t.Fatal(err)
	}
	if n := len(p.Status()); n != 0 {
		t.Fatalf("%d mappings after removing all", n)
	}
	e.insert(2, goodID, "0")
	if err := p.Reload([]*mappings.Mapping{loadMapping(t, e.key, changed)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the re-added mapping", func() bool { return len(p.Status()) == 1 && idle(p) && p.Status()[0].Rows == 3 })

	// 3. A changed filter stops it.
	filtered := strings.Replace(changed, "op: ", "filter: 'YYDJ != \"9\"'\nop: ", 1)
	if err := p.Reload([]*mappings.Mapping{loadMapping(t, e.key, filtered)}); err != nil {
		t.Fatal(err)
	}
	e.insert(3, goodID, "0")
	waitFor(t, "the stop", func() bool { return p.Status()[0].State == "stopped" })
	err := stop()
	stop = nil
	if err != nil {
		t.Fatal(err)
	}

	levels := map[string]string{}
	for _, r := range connectortest.ReadAll(t, e.broker, "hp.settlement.v1", 0, 5*time.Second) {
		var env canonical.Envelope
		var s canonical.Settlement
		if json.Unmarshal(r.Value, &env) != nil || json.Unmarshal(env.Data, &s) != nil {
			t.Fatal("bad record")
		}
		if _, dup := levels[env.ID]; dup {
			t.Errorf("%s delivered twice", env.ID)
		}
		levels[env.ID] = s.FacilityLevel
	}
	want := map[string]string{"insurance:370282:JS0000": "township", "insurance:370282:JS0001": "county", "insurance:370282:JS0002": "county"}
	for id, lvl := range want {
		if levels[id] != lvl {
			t.Errorf("%s facility_level %q, want %q (all: %v)", id, levels[id], lvl, levels)
		}
	}
	if _, ok := levels["insurance:370282:JS0003"]; ok {
		t.Error("a mapping stopped by a changed filter still delivered")
	}
}
