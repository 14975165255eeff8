package reconcile_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/kafkasink"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/reconcile"
)

const county = "370282"

// people of the fixture: P1–P4 are the poor of the county.
var people = map[string]string{} // name → person key

func pk(name string) string {
	if k, ok := people[name]; ok {
		return k
	}
	k := pii.TestKey().PersonKey("fixture person " + name)
	people[name] = k
	return k
}

func subj(name, system, sourceID string) canonical.Subject {
	return canonical.Subject{
		Origin:    canonical.Origin{County: county, SourceSystem: system, SourceID: sourceID},
		PersonKey: pk(name), IDMasked: "370282********001" + name[len(name)-1:], IDQuality: "valid",
	}
}

func ptr[T any](v T) *T { return &v }

// stream collects canonical messages in the order a gateway would write them.
type stream struct {
	t    *testing.T
	msgs []connectors.Message
}

func (s *stream) put(entity, op string, data any) {
	s.t.Helper()
	s.putCounty(entity, op, county, data)
}

func (s *stream) putCounty(entity, op, cty string, data any) {
	s.t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		s.t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		s.t.Fatal(err)
	}
	fields["county"] = cty
	canon, _ := json.Marshal(fields) // maps marshal with sorted keys
	sum := sha256.Sum256(canon)
	key, _ := fields["person_key"].(string)
	system, _ := fields["source_system"].(string)
	sid, _ := fields["source_id"].(string)
	env := canonical.Envelope{
		Schema: "hp." + entity + "/v1", ID: system + ":" + cty + ":" + sid, Op: op, County: cty,
		Source:     canonical.Source{System: system, Mapping: "fixture-" + entity},
		IngestedAt: "2020-01-02T00:00:00+08:00", Hash: "sha256:" + hex.EncodeToString(sum[:]), Data: canon,
	}
	if err := canonical.ValidateEnvelope(mustJSON(s.t, env)); err != nil {
		s.t.Fatalf("fixture %s: %v", env.ID, err)
	}
	if op == canonical.OpUpsert {
		if err := canonical.ValidateData(entity, canon); err != nil {
			s.t.Fatalf("fixture %s: %v", env.ID, err)
		}
	}
	s.msgs = append(s.msgs, connectors.Message{Topic: "hp." + entity + ".v1", Key: []byte(key), Value: mustJSON(s.t, env)})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureStream is the county of the tests; every expected figure in
// TestReconcileReport is computed by hand from it.
func fixtureStream(t *testing.T) *stream {
	s := &stream{t: t}
	reg := func(name, status string, born int, deceased bool) canonical.Person {
		p := canonical.Person{Subject: subj(name, "registry", "R"+name), PovertyStatus: status, BirthYear: ptr(born)}
		if deceased {
			p.Deceased = ptr(true)
		}
		return p
	}
	s.put("person", "upsert", reg("P1", "registered", 1950, false))
	s.put("person", "upsert", reg("P2", "registered", 1980, false))
	s.put("person", "upsert", reg("P3", "pre_exit", 2010, false))
	s.put("person", "upsert", reg("P4", "returned", 1990, false))
	s.put("person", "upsert", reg("P5", "exited", 1970, false))
	s.put("person", "upsert", reg("P6", "registered", 1960, true))
	s.putCounty("person", "upsert", "421221", reg("P7", "registered", 1960, false))
	s.put("person", "upsert", reg("P8", "registered", 1975, false))
	s.put("person", "upsert", reg("P8", "exited", 1975, false)) // latest wins
	s.put("person", "upsert", reg("P9", "registered", 1985, false))
	s.put("person", "delete", canonical.Person{Subject: subj("P9", "registry", "RP9")})
	// The insurance system's view of P2 is not the registry's: ignored.
	s.put("person", "upsert", canonical.Person{Subject: subj("P2", "insurance", "IP2"), PovertyStatus: "none"})

	con := func(name, no, status, from, to, signed string, groups ...string) canonical.Contract {
		return canonical.Contract{Subject: subj(name, "public_health", no), ContractNo: no, Status: status, PeriodFrom: from, PeriodTo: to, SignedOn: signed, PriorityGroups: groups}
	}
	s.put("contract", "upsert", con("P1", "C1", "active", "2019-01-01", "2019-12-31", "2018-12-20", "hypertension", "elderly_65"))
	s.put("contract", "upsert", con("P2", "C2", "expired", "2018-01-01", "2018-12-31", ""))
	s.put("contract", "upsert", con("P3", "C3", "active", "2020-01-01", "2020-12-31", ""))
	s.put("contract", "upsert", con("P4", "C4", "active", "", "", "2019-05-01", "diabetes_t2"))
	s.put("contract", "upsert", con("P5", "C5", "active", "", "", "2019-05-01", "hypertension"))

	enr := func(name, no string, year int, status string, mark bool) canonical.Enrollment {
		return canonical.Enrollment{Subject: subj(name, "insurance", no), EnrollmentNo: no, Year: ptr(year), Status: status, PovertyMark: ptr(mark)}
	}
	s.put("enrollment", "upsert", enr("P1", "N1", 2019, "active", true))
	s.put("enrollment", "upsert", enr("P2", "N2", 2019, "active", false))
	s.put("enrollment", "upsert", enr("P3", "N3", 2019, "suspended", true))
	s.put("enrollment", "upsert", enr("P4", "N4a", 2018, "active", true))
	s.put("enrollment", "upsert", enr("P4", "N4b", 2019, "active", true))
	s.put("enrollment", "upsert", enr("P5", "N5", 2019, "active", true))

	rec := func(name, no, status string) canonical.HealthRecord {
		return canonical.HealthRecord{Subject: subj(name, "public_health", no), RecordNo: no, Status: status}
	}
	s.put("health_record", "upsert", rec("P1", "H1", "active"))
	s.put("health_record", "upsert", rec("P2", "H2", "closed"))
	s.put("health_record", "upsert", rec("P3", "H3", "active"))
	s.put("health_record", "upsert", rec("P4", "H4", "moved_out"))
	s.put("health_record", "upsert", rec("P5", "H5", "active"))

	chk := func(name, no, on string) canonical.HealthCheck {
		return canonical.HealthCheck{Subject: subj(name, "public_health", no), CheckNo: no, CheckedOn: on}
	}
	s.put("health_check", "upsert", chk("P1", "K1", "2019-03-01"))
	s.put("health_check", "upsert", chk("P2", "K2", "2019-04-01"))
	s.put("health_check", "upsert", chk("P3", "K3", "2018-06-01"))
	s.put("health_check", "upsert", chk("P4", "K4a", "2019-07-01"))
	s.put("health_check", "upsert", chk("P4", "K4b", "2019-08-01"))

	fu := func(name, no, cond, on string) canonical.Followup {
		return canonical.Followup{Subject: subj(name, "public_health", no), FollowupNo: no, Condition: cond, FollowedOn: on}
	}
	for i := 1; i <= 4; i++ {
		s.put("followup", "upsert", fu("P1", fmt.Sprintf("F1-%d", i), "hypertension", fmt.Sprintf("2019-%02d-10", i*3)))
		s.put("followup", "upsert", fu("P4", fmt.Sprintf("F4-%d", i), "diabetes_t2", fmt.Sprintf("2019-%02d-10", i*3)))
		s.put("followup", "upsert", fu("P5", fmt.Sprintf("F5-%d", i), "hypertension", fmt.Sprintf("2019-%02d-10", i*3)))
	}
	s.put("followup", "delete", canonical.Followup{Subject: subj("P4", "public_health", "F4-2")})
	s.put("followup", "upsert", fu("P2", "F2-1", "hypertension", "2018-05-01"))
	s.put("followup", "upsert", fu("P3", "F3-1", "stroke", "2019-05-01"))

	type amounts struct{ total, basic, critical, supp, assist, backstop, oop string }
	set := func(name, no, typ, at string, a amounts, oneStop, reversal bool) canonical.Settlement {
		st := canonical.Settlement{Subject: subj(name, "insurance", no), SettlementNo: no, EncounterType: typ, SettledAt: at,
			TotalCost: a.total, BasicInsurance: a.basic, CriticalIllness: a.critical, Supplementary: a.supp,
			MedicalAssistance: a.assist, GovernmentBackstop: a.backstop, OutOfPocket: a.oop, OneStop: ptr(oneStop)}
		if reversal {
			st.Reversal, st.ReversesSettlementNo = ptr(true), "S3"
		}
		return st
	}
	s.put("settlement", "upsert", set("P1", "S1", "inpatient", "2019-03-01T10:00:00+08:00", amounts{total: "10000.00", basic: "7000.00", critical: "1500.00", assist: "500.00", oop: "1000.00"}, true, false))
	s.put("settlement", "upsert", set("P2", "S2", "inpatient", "2019-04-01T10:00:00+08:00", amounts{total: "2345.67", basic: "1800.00", backstop: "300.01", oop: "245.66"}, true, false))
	s.put("settlement", "upsert", set("P4", "S3", "inpatient", "2019-05-01T10:00:00+08:00", amounts{total: "500.00", basic: "400.00", oop: "100.00"}, true, false))
	s.put("settlement", "upsert", set("P4", "S3R", "inpatient", "2019-05-02T10:00:00+08:00", amounts{total: "-500.00", basic: "-400.00", oop: "-100.00"}, false, true))
	s.put("settlement", "upsert", set("P3", "S4", "chronic_outpatient", "2019-06-01T10:00:00+08:00", amounts{total: "300.00", basic: "210.00", supp: "30.00", oop: "60.00"}, true, false))
	s.put("settlement", "upsert", set("P4", "S5", "chronic_outpatient", "2019-06-02T10:00:00+08:00", amounts{total: "199.99", basic: "150.00", oop: "49.99"}, false, false))
	s.put("settlement", "upsert", set("P5", "S6", "inpatient", "2019-06-03T10:00:00+08:00", amounts{total: "1000.00", basic: "100.00", oop: "900.00"}, true, false))
	s.put("settlement", "upsert", set("P1", "S7", "inpatient", "2018-12-31T23:00:00+08:00", amounts{total: "800.00", basic: "100.00", oop: "700.00"}, true, false))
	s.put("settlement", "upsert", set("P1", "S8", "outpatient", "2019-07-01T10:00:00+08:00", amounts{total: "50.00", basic: "25.00", oop: "25.00"}, true, false))

	enc := func(name, no, typ, at string, payAfter, waived bool) canonical.Encounter {
		return canonical.Encounter{Subject: subj(name, "his", no), EncounterNo: no, EncounterType: typ, AdmittedAt: at, PayAfterTreatment: ptr(payAfter), DepositWaived: ptr(waived)}
	}
	s.put("encounter", "upsert", enc("P1", "E1", "inpatient", "2019-03-01T08:00:00+08:00", true, false))
	s.put("encounter", "upsert", enc("P2", "E2", "inpatient", "2019-04-01T08:00:00+08:00", false, true))
	s.put("encounter", "upsert", enc("P4", "E3", "inpatient", "2019-05-01T08:00:00+08:00", false, false))
	s.put("encounter", "upsert", enc("P3", "E4", "outpatient", "2019-05-01T08:00:00+08:00", true, false))
	s.put("encounter", "upsert", enc("P5", "E5", "inpatient", "2019-05-01T08:00:00+08:00", true, false))
	s.put("encounter", "upsert", enc("P1", "E6", "inpatient", "2018-05-01T08:00:00+08:00", true, false))

	card := func(name, no, on string) canonical.ChronicCard {
		return canonical.ChronicCard{Subject: subj(name, "insurance", no), CardNo: no, IssuedOn: on, Status: "active"}
	}
	s.put("chronic_card", "upsert", card("P1", "M1", "2019-02-01"))
	s.put("chronic_card", "upsert", card("P4", "M4", "2018-02-01"))
	s.put("chronic_card", "upsert", card("P3", "M3", "2019-05-01"))
	s.put("chronic_card", "upsert", card("P5", "M5", "2019-05-01"))

	tr := func(name, no, prog, status string) canonical.Treatment {
		return canonical.Treatment{Subject: subj(name, "his", no), TreatmentNo: no, Programme: prog, Status: status}
	}
	s.put("treatment", "upsert", tr("P1", "T1", "major_disease", "treated"))
	s.put("treatment", "upsert", tr("P2", "T2", "major_disease", "to_treat"))
	s.put("treatment", "upsert", tr("P4", "T4", "chronic_contract", "treated"))
	s.put("treatment", "upsert", tr("P3", "T3", "major_disease", "treated"))

	disc := func(name, id, kind, status string) canonical.Discrepancy {
		return canonical.Discrepancy{Subject: subj(name, "hpgate", id), DiscrepancyID: id, Kind: kind, Status: status,
			Systems: []string{"insurance", "registry"}, Authority: "registry",
			Values: map[string]string{"registry": "registered", "insurance": "none"}, Since: "2019-02-01T00:00:00+08:00", Detail: "poverty mark missing"}
	}
	s.put("discrepancy", "upsert", disc("P2", "D1", "registry_mark_missing", "open"))
	s.put("discrepancy", "upsert", disc("P1", "D2", "exited_still_marked", "resolved"))
	s.put("discrepancy", "upsert", disc("P4", "D3", "cause_diagnosis_mismatch", "open"))
	s.putCounty("discrepancy", "upsert", "421221", disc("P7", "D4", "registry_mark_missing", "open"))

	alert := func(name, id, rule, at string) canonical.PolicyAlert {
		return canonical.PolicyAlert{Subject: subj(name, "hpgate", id), AlertID: id, Rule: rule, RaisedAt: at}
	}
	s.put("policy_alert", "upsert", alert("P1", "A1", "R02", "2019-03-02T00:00:00+08:00"))
	s.put("policy_alert", "upsert", alert("P2", "A2", "R02", "2019-04-02T00:00:00+08:00"))
	s.put("policy_alert", "upsert", alert("P2", "A3", "R08", "2018-04-02T00:00:00+08:00"))
	return s
}

// produce starts a broker holding the topics and writes the stream to it
// with the gateway's own sink.
func produce(t *testing.T, s *stream, topics ...string) string {
	t.Helper()
	addr, _ := connectortest.Broker(t, topics...)
	sink, err := kafkasink.New(kafkasink.Config{Brokers: []string{addr}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close(context.Background())
	if err := sink.Write(context.Background(), s.msgs); err != nil {
		t.Fatal(err)
	}
	return addr
}

// load reads the report from the broker as `hpgate reconcile` does.
func load(t *testing.T, addr string) *reconcile.Report {
	t.Helper()
	sink, err := kafkasink.New(kafkasink.Config{Brokers: []string{addr}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	asOf := time.Date(2019, 12, 31, 0, 0, 0, 0, time.UTC)
	rep, err := reconcile.Load(ctx, &pipeline.Scanner{Client: sink.Client()}, reconcile.Options{County: county, AsOf: asOf}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// readCSV reads a report CSV file into rows keyed by its first column.
func readCSV(t *testing.T, path string) (header []string, rows map[string][]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\ufeff")) {
		t.Errorf("%s has no UTF-8 byte-order mark", path)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	rows = map[string][]string{}
	for _, r := range recs[1:] {
		rows[r[0]] = r
	}
	return recs[0], rows
}

func column(header []string, name string) int {
	for i, h := range header {
		if h == name {
			return i
		}
	}
	panic("no column " + name)
}

func TestReconcileReport(t *testing.T) {
	addr := produce(t, fixtureStream(t), reconcile.Topics("hp.")...)
	rep := load(t, addr)
	dir := t.TempDir()
	if _, err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	h, ind := readCSV(t, filepath.Join(dir, "indicators.csv"))
	// id → numerator, denominator, value, met; each worked out by hand from
	// fixtureStream (poor: P1 registered 1950, P2 registered 1980, P3
	// pre_exit 2010, P4 returned 1990).
	want := map[string][4]string{
		"poor_population":       {"", "", "4", ""},
		"contract_rate":         {"2", "4", "50.00", "no"}, // P1 (period covers), P4 (signed, no period)
		"enrolment_rate":        {"3", "4", "75.00", "no"}, // P1, P2, P4 (2019); P3 suspended
		"poverty_mark_rate":     {"2", "3", "66.67", "no"}, // P1, P4 of the three
		"health_record_rate":    {"2", "4", "50.00", "no"}, // P1, P3; P2 closed, P4 moved out
		"checkup_rate":          {"2", "3", "66.67", "no"}, // aged 7–64: P2, P3, P4; checked in 2019: P2, P4
		"major_disease_treated": {"2", "3", "66.67", "no"}, // T1, T3 of T1–T3
		// 7000+1500+500 + 1800+300.01 + 400-400 over 10000+2345.67+500-500
		"reimbursement_inpatient":          {"11100.01", "12345.67", "89.91", "no"},
		"reimbursement_chronic_outpatient": {"390.00", "499.99", "78.00", "no"},
		"followup_hypertension":            {"1", "2", "50.00", ""}, // P1 4 visits; P2 managed (2018 visit), none in 2019
		"followup_diabetes_t2":             {"0", "1", "0.00", ""},  // P4: 4 visits, one deleted
		"followup_stroke":                  {"1", "1", "100.00", ""},
		"followup_copd":                    {"0", "0", "", ""},
		"one_stop_inpatient":               {"", "", "3", ""}, // S1 S2 S3; S3R is not, S6 not poor, S7 2018
		"one_stop_outpatient":              {"", "", "2", ""}, // S4 S8
		"pay_after_treatment":              {"", "", "2", ""}, // E1 pay after, E2 deposit waived
		"chronic_cards_issued":             {"", "", "2", ""}, // M1 M3
		"open_discrepancies":               {"", "", "2", ""}, // D1 D3
		"policy_alerts":                    {"", "", "2", ""}, // A1 A2
	}
	cols := []int{column(h, "numerator"), column(h, "denominator"), column(h, "value"), column(h, "met")}
	for id, w := range want {
		row, ok := ind[id]
		if !ok {
			t.Errorf("indicators.csv has no %s", id)
			continue
		}
		got := [4]string{row[cols[0]], row[cols[1]], row[cols[2]], row[cols[3]]}
		if got != w {
			t.Errorf("%s: numerator, denominator, value, met = %q, want %q", id, got, w)
		}
	}
	if got := rep.Poor; got[0].N != 2 || got[1].N != 1 || got[2].N != 1 {
		t.Errorf("poor by status %+v", got)
	}

	h, re := readCSV(t, filepath.Join(dir, "reimbursement.csv"))
	for typ, w := range map[string][5]string{
		"inpatient":          {"4", "12345.67", "11100.01", "1245.66", "89.91"},
		"chronic_outpatient": {"2", "499.99", "390.00", "109.99", "78.00"},
	} {
		r := re[typ]
		got := [5]string{r[column(h, "settlements")], r[column(h, "total_cost_yuan")], r[column(h, "reimbursed_yuan")], r[column(h, "out_of_pocket_yuan")], r[column(h, "ratio_percent")]}
		if got != w {
			t.Errorf("reimbursement %s = %q, want %q", typ, got, w)
		}
	}

	h, fu := readCSV(t, filepath.Join(dir, "followup.csv"))
	if r := fu["hypertension"]; r[column(h, "managed")] != "2" || r[column(h, "compliant")] != "1" || r[column(h, "required_per_year")] != "4" {
		t.Errorf("followup hypertension %q", r)
	}

	h, di := readCSV(t, filepath.Join(dir, "discrepancies.csv"))
	if len(di) != 2 || di["D1"][column(h, "kind")] != "registry_mark_missing" || di["D3"][column(h, "person_key")] != pk("P4") ||
		di["D1"][column(h, "id_masked")] != "370282********0012" {
		t.Errorf("discrepancies.csv %q", di)
	}

	// Nothing personal: the fixture's identities appear only as HMACs.
	for _, name := range reconcile.Files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("fixture person")) {
			t.Errorf("%s holds a clear identity", name)
		}
	}
}

func TestReconcileMissingTopicIsEmpty(t *testing.T) {
	s := &stream{t: t}
	s.put("person", "upsert", canonical.Person{Subject: subj("P1", "registry", "RP1"), PovertyStatus: "registered", BirthYear: ptr(1950)})
	// Only the person topic exists.
	addr := produce(t, s, "hp.person.v1")
	rep := load(t, addr)
	if rep.Value("poor_population") != "1" || rep.Value("contract_rate") != "0.00" {
		t.Errorf("poor %q, contract rate %q", rep.Value("poor_population"), rep.Value("contract_rate"))
	}
	if len(rep.Missing) == 0 || !strings.Contains(strings.Join(rep.Missing, " "), "hp.settlement.v1") {
		t.Errorf("missing topics %q", rep.Missing)
	}
}
