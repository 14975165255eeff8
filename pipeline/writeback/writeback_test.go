package writeback_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/kafkasink"
	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/connectors/sqlwrite"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/normalize"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/monitoring"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/writeback"
)

func TestMain(m *testing.M) { os.Exit(connectortest.RunMain(m)) }

func validID(first17 string) string { return first17 + string(normalize.CheckDigit(first17)) }

var (
	idA = validID("37028219800101001")
	idB = validID("37028219850202002")
	idC = validID("37028219900303003")
)

const spec = `kind: writeback
name: jimo-ins-poverty-flag
county: "370282"
system: insurance
target: ins
table: yb_cbry
key: GRBH
find:
  records: [person]
  id_card: SFZH
  timestamp: GXSJ
columns:
  PKBZ:
    fact: poverty_status
    values: {registered: "1", pre_exit: "1", returned: "1", exited: "0", monitored: "0", none: "0"}
audit: table
rows_per_second: 1000
`

// dialect is one target database the live scenario runs on.
type dialect struct {
	driver string
	// open returns an empty target database and its DSN, or skips the
	// test when the database cannot be had here.
	open func(t *testing.T) (*sql.DB, string)
	// table is the CREATE TABLE of yb_cbry (GRBH key, SFZH ID number,
	// PKBZ flag, GXSJ timestamp), as the target system has it.
	table string
	// ts binds a "2006-01-02 15:04:05" timestamp.
	ts func(string) any
	// dbaAudit: hpgate does not create its audit table there, a DBA runs
	// the DDL (`hpgate writeback --print-audit-ddl`); the test does.
	dbaAudit bool
	// dryArgs are the masked arguments the dry run prints for GR001.
	dryArgs string
}

func textTS(s string) any { return s }

func timeTS(s string) any {
	v, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return v
}

// dialects are the target databases of the live scenario: MariaDB and
// PostgreSQL private servers, a SQLite file, and the Oracle and SQL Server
// test instances named by HPGATE_TEST_ORACLE_DSN and HPGATE_TEST_MSSQL_DSN.
var dialects = []dialect{
	{
		driver:  "mysql",
		open:    func(t *testing.T) (*sql.DB, string) { return connectortest.MariaDB(t) },
		table:   `CREATE TABLE yb_cbry (GRBH VARCHAR(20) PRIMARY KEY, SFZH VARCHAR(18), PKBZ CHAR(1), GXSJ DATETIME NOT NULL, KEY gx (GXSJ, GRBH))`,
		ts:      textTS,
		dryArgs: `args: ["1", "****1", "1"]`,
	},
	{
		driver: "postgres",
		open:   func(t *testing.T) (*sql.DB, string) { return connectortest.Postgres(t) },
		// Upper-case quoted names, as a system migrated from Oracle keeps
		// them: the writeback file names the columns as the table has them.
		table:   `CREATE TABLE yb_cbry ("GRBH" VARCHAR(20) PRIMARY KEY, "SFZH" VARCHAR(18), "PKBZ" CHAR(1), "GXSJ" TIMESTAMP NOT NULL)`,
		ts:      timeTS,
		dryArgs: `args: ["1", "****1"]`,
	},
	{
		driver: "sqlite",
		open: func(t *testing.T) (*sql.DB, string) {
			// Three pools share the file (the test's, the writer's and the
			// blind index's reads): wait for a lock rather than fail.
			dsn := "file:" + filepath.Join(t.TempDir(), "his.db") + "?_pragma=busy_timeout(10000)"
			db, err := sql.Open("sqlite", dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return db, dsn
		},
		table:   `CREATE TABLE yb_cbry (GRBH TEXT PRIMARY KEY, SFZH TEXT, PKBZ CHAR(1), GXSJ DATETIME NOT NULL)`,
		ts:      textTS,
		dryArgs: `args: ["1", "****1"]`,
	},
	{
		driver: "oracle",
		open: gated("HPGATE_TEST_ORACLE_DSN", "oracle", func(table string) string {
			return "BEGIN EXECUTE IMMEDIATE 'DROP TABLE " + table + " PURGE'; EXCEPTION WHEN OTHERS THEN NULL; END;"
		}),
		table:    `CREATE TABLE yb_cbry (GRBH VARCHAR2(20) PRIMARY KEY, SFZH VARCHAR2(18), PKBZ CHAR(1), GXSJ DATE NOT NULL)`,
		ts:       timeTS,
		dbaAudit: true,
		dryArgs:  `args: ["****1", "1", "1"]`,
	},
	{
		driver: "sqlserver",
		open: gated("HPGATE_TEST_MSSQL_DSN", "sqlserver", func(table string) string {
			return "IF OBJECT_ID('" + table + "', 'U') IS NOT NULL DROP TABLE " + table
		}),
		table:    `CREATE TABLE yb_cbry (GRBH NVARCHAR(20) PRIMARY KEY, SFZH NVARCHAR(18), PKBZ CHAR(1), GXSJ DATETIME2(0) NOT NULL)`,
		ts:       timeTS,
		dbaAudit: true,
		dryArgs:  `args: ["****1", "1"]`,
	},
}

// gated opens the Oracle or SQL Server test instance named by the
// variable env, skipping the test when it is not set. The user needs to
// create and drop tables in its schema or database: yb_cbry and
// hpgate_writeback_audit are dropped before and after the test.
func gated(env, driver string, drop func(table string) string) func(t *testing.T) (*sql.DB, string) {
	return func(t *testing.T) (*sql.DB, string) {
		dsn := os.Getenv(env)
		if dsn == "" {
			t.Skipf("%s is not set: no %s test instance (see README, Writeback)", env, driver)
		}
		d, err := sqlwrite.ForDriver(driver)
		if err != nil {
			t.Fatal(err)
		}
		db, err := d.Open(dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		if err := db.Ping(); err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		clean := func() {
			for _, table := range []string{"yb_cbry", sqlwrite.AuditTable} {
				_, _ = db.Exec(drop(table))
			}
		}
		clean()
		t.Cleanup(clean)
		return db, dsn
	}
}

type env struct {
	t      *testing.T
	dl     dialect
	d      sqlwrite.Dialect
	db     *sql.DB
	dsn    string
	broker string
	kc     kafkasink.Config // the writer's consumer
	key    *pii.Key
	wbs    []*writeback.Writeback
	state  string
	sink   *kafkasink.Sink
}

func newEnv(t *testing.T, dl dialect) *env {
	db, dsn := dl.open(t)
	d, err := sqlwrite.ForDriver(dl.driver)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := connectortest.Broker(t, "hp.identity.v1", "hp.dlq.v1")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "wb.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	wbs, err := writeback.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := kafkasink.New(kafkasink.Config{Brokers: []string{addr}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close(context.Background()) })
	e := &env{t: t, dl: dl, d: d, db: db, dsn: dsn, broker: addr, kc: kafkasink.Config{Brokers: []string{addr}}, key: pii.TestKey(), wbs: wbs, state: t.TempDir(), sink: sink}
	e.exec(dl.table)
	if dl.dbaAudit {
		e.exec(d.CreateAudit())
	}
	e.insert("GR001", idA, "2019-01-01 10:00:00")
	return e
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// insert adds a row to yb_cbry with the flag 0, as the target system does.
func (e *env) insert(key, id, ts string) {
	e.t.Helper()
	q, p := e.d.Quote, e.d.Placeholder
	e.exec(fmt.Sprintf("INSERT INTO %s (%s, %s, %s, %s) VALUES (%s, %s, %s, %s)", q("yb_cbry"), q("GRBH"), q("SFZH"), q("PKBZ"), q("GXSJ"),
		p(1), p(2), p(3), p(4)), key, id, "0", e.dl.ts(ts))
}

func (e *env) setFlag(key, v string) {
	e.t.Helper()
	q, p := e.d.Quote, e.d.Placeholder
	e.exec(fmt.Sprintf("UPDATE %s SET %s = %s WHERE %s = %s", q("yb_cbry"), q("PKBZ"), p(1), q("GRBH"), p(2)), v, key)
}

func (e *env) flag(key string) string {
	e.t.Helper()
	var v sql.NullString
	if err := e.db.QueryRow(e.d.Select("yb_cbry", "GRBH", []string{"PKBZ"}), key).Scan(&v); err != nil {
		e.t.Fatal(err)
	}
	return v.String
}

func (e *env) auditRows() int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(`SELECT COUNT(*) FROM hpgate_writeback_audit`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// writer builds a Writer on the env's target.
func (e *env) writer(dryRun bool, out *bytes.Buffer, met *monitoring.WritebackMetrics) *writeback.Writer {
	e.t.Helper()
	src, err := sqlsource.New("ins", sqlsource.Config{Driver: e.dl.driver, DSN: sqlsource.DSN(e.dsn), SettleDelay: -1}, slog.New(slog.DiscardHandler))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = src.Close() })
	opts := writeback.Options{Key: e.key, StateDir: e.state, TopicPrefix: "hp.", DLQ: e.sink, DryRun: dryRun, Metrics: met,
		Log: slog.New(slog.DiscardHandler), Targets: map[string]writeback.Target{"ins": {Driver: e.dl.driver, DSN: e.dsn, Source: src}}}
	if out != nil {
		opts.Out = out
	}
	w, err := writeback.New(e.wbs, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := w.Prepare(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return w
}

// view is the identity view of a registered person, with the insurance
// system's own person record when insKey is set.
func (e *env) view(id, insKey string) connectors.Message {
	e.t.Helper()
	pk := e.key.PersonKey(id)
	v := canonical.IdentityView{
		Subject:  canonical.Subject{Origin: canonical.Origin{County: "370282", SourceSystem: "hpgate", SourceID: pk}, PersonKey: pk, IDMasked: pii.MaskID(id), IDQuality: "valid"},
		Registry: canonical.SystemIdentity{PovertyStatus: "registered"},
	}
	if insKey != "" {
		v.Insurance = canonical.SystemIdentity{PovertyStatus: "none", Records: []canonical.IdentityRecord{{Entity: "person", ID: "insurance:370282:" + insKey, SourceID: insKey}}}
	}
	data, _ := json.Marshal(v)
	val, _ := json.Marshal(canonical.Envelope{Schema: "hp.identity/v1", ID: "hpgate:370282:" + pk, Op: "upsert", County: "370282",
		Source: canonical.Source{System: "hpgate"}, IngestedAt: "2020-01-01T00:00:00+08:00", Hash: "sha256:" + strings.Repeat("0", 64), Data: data})
	return connectors.Message{Topic: "hp.identity.v1", Key: []byte(pk), Value: val}
}

func (e *env) produce(msgs ...connectors.Message) {
	e.t.Helper()
	if err := e.sink.Write(context.Background(), msgs); err != nil {
		e.t.Fatal(err)
	}
}

// run runs the writer in consumer group group until cond holds.
func (e *env) run(w *writeback.Writer, group, what string, cond func() bool) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(ctx, e.kc, group); err != nil {
			e.t.Error(err)
		}
	})
	connectortest.WaitFor(e.t, what, cond)
	cancel()
	wg.Wait()
}

// TestWritebackLive runs the writeback scenario on every target database:
// the flag set through the system's own key, a blind-index hit for a row
// inserted after the index was built, a person without a row dead-lettered,
// a replay that changes nothing and a dry run that changes nothing.
func TestWritebackLive(t *testing.T) {
	for _, dl := range dialects {
		t.Run(dl.driver, func(t *testing.T) { writebackScenario(t, dl) })
	}
}

func writebackScenario(t *testing.T, dl dialect) {
	e := newEnv(t, dl)
	reg := prometheus.NewRegistry()
	met := monitoring.NewWriteback(reg)
	w := e.writer(false, nil, met)
	indexed := func() float64 { return testutil.ToFloat64(met.IndexRows.WithLabelValues("jimo-ins-poverty-flag")) }
	if n := indexed(); n != 1 {
		t.Errorf("hpgate_writeback_index_rows after the build = %v, want 1 (GR001)", n)
	}
	// Inserted after the blind index was built: found by refreshing it.
	e.insert("GR002", idB, "2019-01-02 10:00:00")
	e.produce(e.view(idA, "GR001"), e.view(idB, ""), e.view(idC, ""))
	rows := func(result string) float64 {
		return testutil.ToFloat64(met.Rows.WithLabelValues("jimo-ins-poverty-flag", result))
	}
	e.run(w, "wb-test", "three identity records applied", func() bool { return rows("updated")+rows("not_found")+rows("error") == 3 })
	w.Close()
	if rows("updated") != 2 || rows("not_found") != 1 {
		t.Errorf("results: %v updated, %v not_found, %v error; want 2, 1, 0", rows("updated"), rows("not_found"), rows("error"))
	}
	if n := indexed(); n != 2 {
		t.Errorf("hpgate_writeback_index_rows after the refresh on a miss = %v, want 2 (GR001, GR002)", n)
	}
	if e.flag("GR001") != "1" || e.flag("GR002") != "1" {
		t.Errorf("flags GR001 %q GR002 %q, want 1 and 1", e.flag("GR001"), e.flag("GR002"))
	}
	if n := e.auditRows(); n != 2 {
		t.Errorf("%d audit rows, want 2", n)
	}
	var old, nv, fact, auth string
	if err := e.db.QueryRow(`SELECT old_value, new_value, fact, authority FROM hpgate_writeback_audit WHERE row_key = 'GR002'`).Scan(&old, &nv, &fact, &auth); err != nil {
		t.Fatal(err)
	}
	if old != "0" || nv != "1" || fact != "poverty_status" || auth != "registry" {
		t.Errorf("audit of GR002: %s → %s, %s from %s", old, nv, fact, auth)
	}
	dl1 := connectortest.ReadAll(t, e.broker, "hp.dlq.v1", 1, 10*time.Second)
	if len(dl1) != 1 || string(dl1[0].Key) != e.key.PersonKey(idC) {
		t.Fatalf("dlq %d records", len(dl1))
	}
	var d canonical.DLQ
	if err := json.Unmarshal(dl1[0].Value, &d); err != nil || d.Code != "not_found" || d.Mapping != "jimo-ins-poverty-flag" {
		t.Errorf("dlq value %s", dl1[0].Value)
	}
	if err := canonical.ValidateDLQ(dl1[0].Value); err != nil {
		t.Errorf("dlq value invalid: %v", err)
	}
	for _, id := range []string{idA, idB, idC} {
		if bytes.Contains(dl1[0].Value, []byte(id)) {
			t.Error("clear ID number in the DLQ")
		}
	}

	// A replay (a new group reads the topic from the start) changes nothing.
	w2 := e.writer(false, nil, met)
	e.run(w2, "wb-replay", "the replay", func() bool { return rows("unchanged") == 2 && rows("not_found") == 2 })
	w2.Close()
	if n := e.auditRows(); n != 2 || rows("updated") != 2 {
		t.Errorf("after replay: %d audit rows, %v updated", n, rows("updated"))
	}

	// Dry run: prints the statement, masked, and changes nothing.
	e.setFlag("GR001", "0")
	var out bytes.Buffer
	dry := e.writer(true, &out, nil)
	defer dry.Close()
	if err := dry.DryRun(context.Background(), &pipeline.Scanner{Client: e.sink.Client()}); err != nil {
		t.Fatal(err)
	}
	if e.flag("GR001") != "0" || e.auditRows() != 2 {
		t.Errorf("dry run changed the target: flag %q, %d audit rows", e.flag("GR001"), e.auditRows())
	}
	got := out.String()
	if !strings.Contains(got, e.d.Update("yb_cbry", "GRBH", []string{"PKBZ"})+";") ||
		!strings.Contains(got, dl.dryArgs) || !strings.Contains(got, "would dead-letter") {
		t.Errorf("dry-run output:\n%s", got)
	}
	if strings.Count(got, e.d.Update("yb_cbry", "GRBH", []string{"PKBZ"})) != 1 || strings.Contains(got, idA) {
		t.Errorf("dry-run output:\n%s", got)
	}
}

func TestWritebackLoad(t *testing.T) {
	wbs, err := writeback.Load("../../mappings/counties/370282-jimo")
	if err != nil {
		t.Fatal(err)
	}
	if len(wbs) != 1 || wbs[0].Name != "jimo-ins-identity-flags" || len(wbs[0].Columns) != 2 {
		t.Fatalf("jimo pack writebacks: %+v", wbs)
	}
	dir := t.TempDir()
	bad := strings.Replace(spec, "fact: poverty_status", "fact: poverty_mark", 1)
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = writeback.Load(dir)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:14:11: insurance's word counts for poverty_mark") {
		t.Errorf("writing the insurance's own fact into it: %v", err)
	}
}

// TestWritebackSASL: the consumer authenticates with the sink's SASL
// settings (SCRAM, password from its variable) rather than refusing them.
func TestWritebackSASL(t *testing.T) {
	e := newEnv(t, dialects[0])
	const mech = kafkasink.SASLScramSHA256
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "hpgate", "s3cret"),
		kfake.SeedTopics(1, "hp.identity.v1", "hp.dlq.v1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	t.Setenv("HPGATE_TEST_KAFKA_PASSWORD", "s3cret")
	e.broker = c.ListenAddrs()[0]
	e.kc = kafkasink.Config{Brokers: []string{e.broker},
		SASL: kafkasink.SASLConfig{Mechanism: mech, Username: "hpgate", PasswordEnv: "HPGATE_TEST_KAFKA_PASSWORD"}}
	e.sink, err = kafkasink.New(e.kc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.sink.Close(context.Background()) })
	met := monitoring.NewWriteback(prometheus.NewRegistry())
	w := e.writer(false, nil, met)
	defer w.Close()
	e.produce(e.view(idA, "GR001"))
	e.run(w, "wb-sasl", "the record applied over SASL", func() bool {
		return testutil.ToFloat64(met.Rows.WithLabelValues("jimo-ins-poverty-flag", writeback.ResultUpdated)) == 1
	})
	if e.flag("GR001") != "1" {
		t.Errorf("flag GR001 %q, want 1", e.flag("GR001"))
	}

	// A password that cannot be resolved stops the run before dialling.
	t.Setenv("HPGATE_TEST_KAFKA_PASSWORD", "")
	err = w.Run(context.Background(), e.kc, "wb-sasl")
	if err == nil || !strings.Contains(err.Error(), "environment variable HPGATE_TEST_KAFKA_PASSWORD is empty") {
		t.Errorf("empty password variable: err = %v", err)
	}
}

// TestWritebackRate: a file's rows_per_second wins; a file without one
// takes the config's default (Options.RowsPerSecond), else 20.
func TestWritebackRate(t *testing.T) {
	dir := t.TempDir()
	unset := strings.Replace(strings.Replace(spec, "rows_per_second: 1000\n", "", 1), "name: jimo-ins-poverty-flag", "name: unset", 1)
	for name, text := range map[string]string{"set.yaml": spec, "unset.yaml": unset} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wbs, err := writeback.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]writeback.Target{"ins": {Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "t.db")}}
	for _, tc := range []struct{ def, set, unset float64 }{{0, 1000, writeback.DefaultRowsPerSecond}, {5, 1000, 5}} {
		w, err := writeback.New(wbs, writeback.Options{Key: pii.TestKey(), Targets: targets, StateDir: t.TempDir(), RowsPerSecond: tc.def})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, wb := range wbs {
			got[wb.Name] = w.Rate(wb)
		}
		w.Close()
		if got["jimo-ins-poverty-flag"] != tc.set || got["unset"] != tc.unset {
			t.Errorf("default %v: rates %v, want file's %v and %v", tc.def, got, tc.set, tc.unset)
		}
	}
}
