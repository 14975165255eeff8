package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/normalize"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/pipeline/identity"
)

// idOf is the fictitious, valid ID number of test person n.
func idOf(n int) string {
	first17 := fmt.Sprintf("37028219700101%03d", 500+n)
	return first17 + string(normalize.CheckDigit(first17))
}

// identityEnv is a MariaDB county, a broker, a running gateway and the
// identity stage's clock.
type identityEnv struct {
	t       *testing.T
	exec    func(q string, args ...any)
	cfgPath string
	key     *pii.Key
	brokers []string
	d       *daemon
}

const identitySecret = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func newIdentityEnv(t *testing.T) *identityEnv {
	t.Helper()
	db, dsn := connectortest.MariaDB(t)
	addr, _ := connectortest.Broker(t)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, ddl := range []string{
		`CREATE TABLE reg_person (person_no VARCHAR(20) PRIMARY KEY, id_card VARCHAR(20), status CHAR(1), status_date DATE,
			cause CHAR(2), low_income CHAR(1), dead CHAR(1), death_date DATE, updated DATETIME NOT NULL, KEY u (updated, person_no))`,
		`CREATE TABLE ins_enrol (enrol_no VARCHAR(20) PRIMARY KEY, id_card VARCHAR(20), year INT, mark CHAR(1), mark_from DATE,
			mark_to DATE, updated DATETIME NOT NULL, KEY u (updated, enrol_no))`,
		`CREATE TABLE ins_card (card_no VARCHAR(20) PRIMARY KEY, id_card VARCHAR(20), icd VARCHAR(10), issued DATE, expires DATE,
			updated DATETIME NOT NULL, KEY u (updated, card_no))`,
		`CREATE TABLE his_visit (visit_no VARCHAR(20) PRIMARY KEY, id_card VARCHAR(20), mother_id VARCHAR(20), birth_order VARCHAR(2),
			admitted DATETIME, diag VARCHAR(10), updated DATETIME NOT NULL, KEY u (updated, visit_no))`,
		`CREATE TABLE ins_settle (settle_no VARCHAR(20) PRIMARY KEY, id_card VARCHAR(20), level VARCHAR(10), grade VARCHAR(10),
			kind VARCHAR(20), in_county CHAR(1), settled DATETIME, diag VARCHAR(10), total DECIMAL(12,2), in_scope DECIMAL(12,2),
			non_reimb DECIMAL(12,2), deductible DECIMAL(12,2), basic DECIMAL(12,2), assist DECIMAL(12,2), oop DECIMAL(12,2),
			deposit DECIMAL(12,2), one_stop CHAR(1), updated DATETIME NOT NULL, KEY u (updated, settle_no))`,
	} {
		exec(ddl)
	}
	dir := t.TempDir()
	maps := filepath.Join(dir, "county")
	if err := os.CopyFS(maps, os.DirFS("testdata/identity")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "pii.key"), identitySecret)
	writeFile(t, filepath.Join(dir, "db.dsn"), dsn)
	var b strings.Builder
	b.WriteString("sources:\n")
	for _, s := range []string{"t-reg", "t-ins", "t-his"} {
		fmt.Fprintf(&b, "  %s: {driver: mysql, dsn_file: %q, poll_interval: 100ms, settle_delay: 0s}\n", s, filepath.Join(dir, "db.dsn"))
	}
	fmt.Fprintf(&b, `kafka:
  brokers: [%q]
  create_topics: {enabled: true, partitions: 3, replication_factor: 1}
state: {dir: %q}
pii: {key_id: t1, key_file: pii.key}
http: {listen: ""}
mappings: {paths: [county]}
identity:
  group_id: e2e-identity
  listen: "off"
  sweep_interval: 200ms
  session_timeout: 6s
  heartbeat_interval: 200ms
`, addr, filepath.Join(dir, "state"))
	cfg := filepath.Join(dir, "hpgate.yaml")
	writeFile(t, cfg, b.String())
	secret, _ := hex.DecodeString(identitySecret)
	key, err := pii.NewKey("t1", secret)
	if err != nil {
		t.Fatal(err)
	}
	return &identityEnv{t: t, exec: exec, cfgPath: cfg, key: key, brokers: []string{addr}}
}

func (e *identityEnv) person(n int) string { return e.key.PersonKey(idOf(n)) }

// runGateway starts `hpgate run` and waits until every mapping has read
// rows rows in total.
func (e *identityEnv) runGateway(rows int64) {
	e.t.Helper()
	if e.d == nil {
		e.d, _ = startDaemon(e.t, e.cfgPath)
	}
	waitUntil(e.t, "the gateway to deliver every row", func() bool {
		var n int64
		for _, s := range e.d.pipe.Status() {
			n += s.Rows
		}
		return n >= rows && allIdle(e.d)
	})
}

// runIdentity runs `hpgate identity` in-process at clock now until it has
// consumed every canonical record.
func (e *identityEnv) runIdentity(now time.Time) {
	e.t.Helper()
	off := ""
	p, err := openIdentity(e.cfgPath, identityOverrides{listen: &off, now: func() time.Time { return now }}, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), false)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.run(ctx) }()
	waitUntil(e.t, "the identity stage to catch up", func() bool {
		lag, err := identity.Lag(ctx, p.cfg.Kafka.Config, p.cfg.Identity.GroupID, p.runner.InputTopics())
		return err == nil && lag == 0
	})
	cancel()
	if err := <-done; err != nil {
		e.t.Fatal(err)
	}
}

// records reads a derived topic: every record's data, in order, validated.
func (e *identityEnv) records(entity string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, r := range connectortest.ReadAll(e.t, e.brokers[0], "hp."+entity+".v1", 0, 10*time.Second) {
		if err := canonical.ValidateEnvelope(r.Value); err != nil {
			e.t.Fatalf("%s: %v", entity, err)
		}
		if regexp.MustCompile(`37028219700101\d{3}[\dX]`).Match(r.Value) {
			e.t.Fatalf("a clear ID number on hp.%s.v1", entity)
		}
		var env canonical.Envelope
		_ = json.Unmarshal(r.Value, &env)
		var d map[string]any
		_ = json.Unmarshal(env.Data, &d)
		if string(r.Key) != d["person_key"] {
			e.t.Errorf("hp.%s.v1: key %s, person_key %v", entity, r.Key, d["person_key"])
		}
		out = append(out, d)
	}
	return out
}

// discrepancy is the part of a discrepancy the test states exactly.
type discrepancy struct {
	Person          int
	Kind, Authority string
	Values          map[string]string
	Since, Status   string
	ResolvedAt      string
}

// TestIdentityEndToEndMariaDB runs domain.md §6 scenarios 1–4 from rows in
// legacy tables (MariaDB) through `hpgate run` and `hpgate identity` to the
// exact discrepancy, alert and enriched records on Kafka.
func TestIdentityEndToEndMariaDB(t *testing.T) {
	e := newIdentityEnv(t)
	reg := func(no string, n int, status, since, cause, low, dead, deathDate string) {
		var dd any
		if deathDate != "" {
			dd = deathDate
		}
		e.exec(`INSERT INTO reg_person VALUES (?,?,?,?,?,?,?,?,?)`, no, idOf(n), status, since, cause, low, dead, dd, "2019-06-30 08:00:00")
	}
	enrol := func(no string, n int, mark, from, to, updated string) {
		var f, tt any
		if from != "" {
			f, tt = from, to
		}
		e.exec(`INSERT INTO ins_enrol VALUES (?,?,?,?,?,?,?)`, no, idOf(n), 2019, mark, f, tt, updated)
	}
	// Scenario 1: registered in June, no mark in insurance.
	reg("R1", 1, "1", "2019-06-01", "01", "0", "0", "")
	enrol("E1", 1, "0", "", "", "2019-06-02 09:00:00")
	// Scenario 2: exited in September, and died in October; both still marked.
	reg("R2", 2, "3", "2019-09-01", "01", "0", "0", "")
	enrol("E2", 2, "1", "2019-01-01", "2019-12-31", "2019-01-02 09:00:00")
	reg("R3", 3, "1", "2016-03-01", "01", "0", "1", "2019-10-01")
	enrol("E3", 3, "1", "2019-01-01", "2019-12-31", "2019-01-02 09:00:00")
	// Scenario 4: lung cancer for a person poor for lack of labour (R14);
	// diabetes treated with no chronic card, beside hypertension with one.
	reg("R4", 4, "1", "2016-03-01", "08", "0", "0", "")
	enrol("E4", 4, "1", "2019-01-01", "2019-12-31", "2019-01-02 09:00:00")
	e.exec(`INSERT INTO his_visit VALUES ('V4', ?, NULL, NULL, '2019-08-01 09:30:00', 'C34.1', '2019-08-01 10:00:00')`, idOf(4))
	reg("R5", 5, "1", "2016-03-01", "01", "0", "0", "")
	enrol("E5", 5, "1", "2019-01-01", "2019-12-31", "2019-01-02 09:00:00")
	e.exec(`INSERT INTO his_visit VALUES ('V5', ?, NULL, NULL, '2019-08-02 09:30:00', 'E11.9', '2019-08-02 10:00:00')`, idOf(5))
	// A newborn billed under the mother's (person 6's) ID.
	e.exec(`INSERT INTO his_visit VALUES ('V6', '', ?, '1', '2019-08-03 09:30:00', 'P07.3', '2019-08-03 10:00:00')`, idOf(6))
	// Scenario 3: settlements of a poor 低保 person (7) and of a person
	// not registered (8).
	reg("R7", 7, "1", "2016-03-01", "01", "1", "0", "")
	enrol("E7", 7, "1", "2019-01-01", "2019-12-31", "2019-01-02 09:00:00")
	settle := func(no string, n int, deposit, oop, updated string) {
		e.exec(`INSERT INTO ins_settle VALUES (?,?,'county','secondary','inpatient','1','2019-10-15 10:00:00','J18.9',
			10000.00, 9500.00, 500.00, 350.00, 7777.50, 1500.00, ?, ?, '1', ?)`, no, idOf(n), oop, deposit, updated)
	}
	settle("S1", 7, "0.00", "722.50", "2019-10-15 11:00:00")
	settle("S2", 7, "1000.00", "722.50", "2019-10-16 11:00:00")
	settle("S3", 8, "0.00", "12000.00", "2019-10-17 11:00:00")

	clock := time.Date(2019, 12, 31, 12, 0, 0, 0, normalize.CST())
	e.runGateway(18)
	e.runIdentity(clock)

	want := []discrepancy{
		{Person: 1, Kind: identity.KindMarkMissing, Authority: "registry", Values: map[string]string{"registry": "registered", "insurance": "no_poverty_mark"}, Since: "2019-06-01T00:00:00+08:00", Status: "open"},
		{Person: 2, Kind: identity.KindExitedMarked, Authority: "registry", Values: map[string]string{"registry": "exited", "insurance": "poverty_mark"}, Since: "2019-09-01T00:00:00+08:00", Status: "open"},
		{Person: 3, Kind: identity.KindDeceasedMarked, Authority: "registry", Values: map[string]string{"registry": "deceased", "insurance": "poverty_mark"}, Since: "2019-10-01T00:00:00+08:00", Status: "open"},
		{Person: 4, Kind: identity.KindCauseMismatch, Authority: "registry", Values: map[string]string{"registry": "lack_of_labour", "his": "C34.1"}, Since: "2019-08-01T00:00:00+08:00", Status: "open"},
		{Person: 5, Kind: identity.KindCardMissing, Authority: "insurance", Values: map[string]string{"his": "E11.9", "insurance": "no_card"}, Since: "2019-08-02T00:00:00+08:00", Status: "open"},
	}
	got := e.records("discrepancy")
	checkDiscrepancies(t, e, got, want)
	// The newborn's discrepancy is keyed by the fallback identity.
	var fallback []map[string]any
	for _, d := range got {
		if d["kind"] == identity.KindFallbackIdentity {
			fallback = append(fallback, d)
		}
	}
	if len(fallback) != 1 || fallback[0]["id_quality"] != "fallback" || fmt.Sprint(fallback[0]["systems"]) != "[his]" ||
		fallback[0]["since"] != "2019-08-03T10:00:00+08:00" {
		t.Errorf("fallback discrepancies %v", fallback)
	}

	// Scenario 3: the enriched settlements and the alerts.
	enriched := e.records("settlement_enriched")
	if len(enriched) != 3 {
		t.Fatalf("%d enriched settlements, want 3", len(enriched))
	}
	flags := map[string]string{}
	for _, s := range enriched {
		b, _ := json.Marshal(s["flags"])
		flags[s["settlement_no"].(string)] = string(b)
	}
	wantFlags := map[string]string{
		"S1": `{"as_of":"2019-10-15","deceased":false,"min_living":true,"poor":true,"poverty_cause":"illness","poverty_mark":true,"poverty_status":"registered"}`,
		"S2": `{"alerts":["R08","R09"],"as_of":"2019-10-15","deceased":false,"min_living":true,"poor":true,"poverty_cause":"illness","poverty_mark":true,"poverty_status":"registered"}`,
		"S3": `{"as_of":"2019-10-15"}`,
	}
	if !maps.Equal(flags, wantFlags) {
		t.Errorf("enriched flags:\n got %v\nwant %v", flags, wantFlags)
	}
	alerts := map[string]map[string]any{}
	for _, a := range e.records("policy_alert") {
		alerts[a["rule"].(string)] = a
	}
	if got := slices.Sorted(maps.Keys(alerts)); fmt.Sprint(got) != "[R08 R09 RPR]" {
		t.Fatalf("alert rules %v, want [R08 R09 RPR]", got)
	}
	checkAlert(t, alerts["R08"], e.person(7), "S2", map[string]string{"deposit_paid": "1000.00"})
	checkAlert(t, alerts["R09"], e.person(7), "S2", map[string]string{"deposit_paid": "1000.00", "base_deposit": "2000.00", "allowed_deposit": "400.00"})
	checkAlert(t, alerts["RPR"], e.person(8), "", map[string]string{"annual_out_of_pocket": "12000.00", "year": "2019", "settlements": "1", "poverty_status": "none"})

	// Scenario 1 continued: the mark reaches the insurance system; the
	// discrepancy is re-emitted, resolved, under the same id.
	e.exec(`UPDATE ins_enrol SET mark = '1', mark_from = '2019-12-20', mark_to = '2019-12-31', updated = '2019-12-20 09:00:00' WHERE enrol_no = 'E1'`)
	e.runGateway(19)
	e.runIdentity(clock.Add(time.Hour))
	// Records of one person share a partition, in order: the last is the
	// latest.
	var last map[string]any
	for _, d := range e.records("discrepancy") {
		if d["person_key"] == e.person(1) && d["kind"] == identity.KindMarkMissing {
			last = d
		}
	}
	checkDiscrepancies(t, e, []map[string]any{last}, []discrepancy{{Person: 1, Kind: identity.KindMarkMissing, Status: "resolved",
		ResolvedAt: "2019-12-31T13:00:00+08:00"}})
	// The identity view of person 1 now holds the mark as an episode.
	var view map[string]any
	for _, v := range e.records("identity") {
		if v["person_key"] == e.person(1) {
			view = v
		}
	}
	ins, _ := view["insurance"].(map[string]any)
	eps, _ := json.Marshal(ins["episodes"])
	if ins["poverty_mark"] != true || string(eps) != `[{"flag":"poverty_mark","from":"2019-12-20","source_id":"E1","to":"2019-12-31","value":"true"}]` {
		t.Errorf("person 1 insurance view %v, episodes %s", ins, eps)
	}
}

func checkDiscrepancies(t *testing.T, e *identityEnv, got []map[string]any, want []discrepancy) {
	t.Helper()
	byKey := map[string]map[string]any{}
	for _, d := range got {
		byKey[d["kind"].(string)+"|"+d["person_key"].(string)] = d
	}
	for _, w := range want {
		d, ok := byKey[w.Kind+"|"+e.person(w.Person)]
		if !ok {
			t.Errorf("no %s discrepancy for person %d", w.Kind, w.Person)
			continue
		}
		var systems []string
		for _, s := range d["systems"].([]any) {
			systems = append(systems, s.(string))
		}
		if id := identity.DiscrepancyID(w.Kind, e.person(w.Person), systems); d["discrepancy_id"] != id || d["source_id"] != id {
			t.Errorf("%s: discrepancy_id %v, want %s", w.Kind, d["discrepancy_id"], id)
		}
		if d["status"] != w.Status || d["source_system"] != "hpgate" || d["county"] != "370282" {
			t.Errorf("%s: status %v, source %v, county %v", w.Kind, d["status"], d["source_system"], d["county"])
		}
		if w.Status == "resolved" {
			if d["resolved_at"] != w.ResolvedAt {
				t.Errorf("%s: resolved_at %v, want %s", w.Kind, d["resolved_at"], w.ResolvedAt)
			}
			continue
		}
		vals := map[string]string{}
		for k, v := range d["values"].(map[string]any) {
			vals[k] = v.(string)
		}
		if !maps.Equal(vals, w.Values) || d["authority"] != w.Authority || d["since"] != w.Since {
			t.Errorf("person %d %s: values %v authority %v since %v; want %v %s %s", w.Person, w.Kind, vals, d["authority"], d["since"], w.Values, w.Authority, w.Since)
		}
		if fmt.Sprint(systems) != fmt.Sprint(slices.Sorted(maps.Keys(w.Values))) {
			t.Errorf("%s: systems %v", w.Kind, systems)
		}
	}
	if len(want) > 1 && len(got) != len(want)+1 { // + the newborn's fallback identity
		t.Errorf("%d discrepancy records, want %d", len(got), len(want)+1)
	}
}

func checkAlert(t *testing.T, a map[string]any, personKey, settlementNo string, figures map[string]string) {
	t.Helper()
	if a["person_key"] != personKey || a["raised_at"] != "2019-12-31T12:00:00+08:00" || a["threshold"] == "" {
		t.Errorf("%v: person %v raised_at %v threshold %v", a["rule"], a["person_key"], a["raised_at"], a["threshold"])
	}
	if settlementNo != "" && a["settlement_no"] != settlementNo {
		t.Errorf("%v: settlement_no %v, want %s", a["rule"], a["settlement_no"], settlementNo)
	}
	got := map[string]string{}
	for k, v := range a["figures"].(map[string]any) {
		got[k] = v.(string)
	}
	if !maps.Equal(got, figures) {
		t.Errorf("%v: figures %v, want %v", a["rule"], got, figures)
	}
}

// TestDemoIdentityStage: the demo runs the identity stage after the
// pipeline, and its synthetic county holds at least one case of every
// discrepancy kind and every policy rule, which the summary lists.
func TestDemoIdentityStage(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo builds a county and runs the pipeline; skipped with -short")
	}
	code, out, errOut := runCLI(t, "demo", "--rows", "60")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, k := range identity.DiscrepancyKinds {
		m := regexp.MustCompile(`(?m)^\s+` + k + `\s+(\d+)\s+(\d+)\s*$`).FindStringSubmatch(out)
		if m == nil || m[1] == "0" && m[2] == "0" {
			t.Errorf("no %s discrepancy in the demo summary:\n%s", k, out)
		}
	}
	for _, r := range identity.AlertRules {
		m := regexp.MustCompile(`(?m)^\s+` + r + `\s+(\d+)\s*$`).FindStringSubmatch(out)
		if m == nil || m[1] == "0" {
			t.Errorf("no %s alert in the demo summary:\n%s", r, out)
		}
	}
	if !regexp.MustCompile(`\d+ identity views on hp\.identity\.v1, \d+ settlements on hp\.settlement_enriched\.v1`).MatchString(out) {
		t.Errorf("no identity line in:\n%s", out)
	}
	if regexp.MustCompile(`\b370282(19|20)\d{9}[\dX]\b`).MatchString(out) {
		t.Errorf("a clear ID number in the demo output:\n%s", out)
	}
}

// TestIdentityCheck: --check validates the config and the policy files,
// reporting a bad policy file at its line and column.
func TestIdentityCheck(t *testing.T) {
	dir, cfg := identityCheckConfig(t)
	county := filepath.Join(dir, "county")
	code, out, errOut := runCLI(t, "identity", "-c", cfg, "--check")
	if code != 0 || out != "ok: config and 1 county policy file(s) (370282)\n" {
		t.Fatalf("exit %d: %q %q", code, out, errOut)
	}
	editFile(t, filepath.Join(county, "policy.yaml"), `grace_period: 72h`, `grace_period: soon`)
	code, _, errOut = runCLI(t, "identity", "-c", cfg, "--check")
	if code != 1 || !strings.Contains(errOut, "policy.yaml:3:15: grace_period must be a positive duration") {
		t.Fatalf("exit %d: %q", code, errOut)
	}
}
