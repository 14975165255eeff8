package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/pipeline/reconcile"
)

// canonicalRecord is the message of one canonical record of county 370282
// as the gateway writes it.
func canonicalRecord(t *testing.T, entity, system, sourceID string, data any) connectors.Message {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	val, err := json.Marshal(canonical.Envelope{Schema: "hp." + entity + "/v1", ID: system + ":370282:" + sourceID, Op: "upsert", County: "370282",
		Source: canonical.Source{System: system, Mapping: "test-" + entity}, IngestedAt: "2020-01-02T00:00:00+08:00",
		Hash: "sha256:" + strings.Repeat("0", 64), Data: raw})
	if err != nil {
		t.Fatal(err)
	}
	return connectors.Message{Topic: "hp." + entity + ".v1", Key: []byte(sourceID), Value: val}
}

// TestReconcileCommand runs `hpgate reconcile` on a broker holding a small
// county: four registry people, of whom two are poor and alive, and one
// 2019 enrolment of a poor person.
func TestReconcileCommand(t *testing.T) {
	broker, _ := connectortest.Broker(t, "hp.person.v1", "hp.enrollment.v1")
	cfgPath := writebackConfig(t, "mysql", broker, nil)
	key := pii.TestKey()
	subject := func(name, system, sid string) canonical.Subject {
		return canonical.Subject{Origin: canonical.Origin{County: "370282", SourceSystem: system, SourceID: sid},
			PersonKey: key.PersonKey("reconcile test " + name), IDMasked: "370282********001X", IDQuality: "valid"}
	}
	dead, yes := true, true
	year := 2019
	person := func(name, status string, deceased *bool) connectors.Message {
		return canonicalRecord(t, "person", "registry", "R"+name, canonical.Person{Subject: subject(name, "registry", "R"+name), PovertyStatus: status, Deceased: deceased})
	}
	produce(t, broker,
		person("A", "registered", nil),
		person("B", "returned", nil),
		person("C", "exited", nil),
		person("D", "registered", &dead),
		canonicalRecord(t, "enrollment", "insurance", "NA", canonical.Enrollment{Subject: subject("A", "insurance", "NA"), EnrollmentNo: "NA",
			Year: &year, Status: "active", PovertyMark: &yes}),
	)
	out := filepath.Join(t.TempDir(), "report")
	code, stdout, stderr := runCLI(t, "reconcile", "-c", cfgPath, "--county", "370282", "--out", out, "--as-of", "2019-12-31")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if lines[0] != "county 370282, year 2019, as of 2019-12-31: 2 poor people, 0 open discrepancies" {
		t.Errorf("summary line %q", lines[0])
	}
	var want []string
	for _, f := range reconcile.Files {
		want = append(want, filepath.Join(out, f))
	}
	if !slices.Equal(lines[1:], want) {
		t.Errorf("files listed:\n%s\nwant\n%s", strings.Join(lines[1:], "\n"), strings.Join(want, "\n"))
	}
	b, err := os.ReadFile(filepath.Join(out, "indicators.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(b), "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	ind := map[string][]string{}
	for _, r := range rows[1:] {
		ind[r[0]] = r
	}
	// id, rule, name_zh, name_en, numerator, denominator, value, …
	if r := ind["poor_population"]; r == nil || r[6] != "2" {
		t.Errorf("poor_population row %q", r)
	}
	if r := ind["enrolment_rate"]; r == nil || r[4] != "1" || r[5] != "2" || r[6] != "50.00" {
		t.Errorf("enrolment_rate row %q", r)
	}
	html, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "370282") || !strings.Contains(string(html), "建档立卡贫困人口") {
		t.Errorf("report.html lacks the county or the indicators")
	}
	for _, f := range reconcile.Files {
		if _, err := os.Stat(filepath.Join(out, f+".tmp")); err == nil {
			t.Errorf("%s.tmp left behind", f)
		}
	}

	// Operator mistakes are refused before Kafka is read.
	if code, _, stderr := runCLI(t, "reconcile", "-c", cfgPath, "--county", "3702", "--out", out); code != 2 || !strings.Contains(stderr, "--county must be a 6-digit county code") {
		t.Errorf("bad county: exit %d %s", code, stderr)
	}
}
