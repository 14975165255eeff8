package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/mappings/canonical"
)

const capPolicy = "rules:\n  R06: {annual_cap: {file: cap.csv}}\n"

// chronicSettlement is a chronic outpatient settlement of the test person
// for E11.9 (catalogue category 1002, cap 1000 yuan, 1200 for the poor).
func chronicSettlement(no, at, inScope, basic string) canonical.Settlement {
	return canonical.Settlement{Subject: subject("insurance", no), SettlementNo: no, SettledAt: at,
		EncounterType: "chronic_outpatient", MainDiagnosis: "E11.9", FacilityLevel: "township",
		TotalCost: inScope, InScopeCost: inScope, Deductible: "0.00", BasicInsurance: basic}
}

func reversal(no, of, at, basic string) canonical.Settlement {
	return canonical.Settlement{Subject: subject("insurance", no), SettlementNo: no, SettledAt: at,
		TotalCost: "-" + basic, BasicInsurance: "-" + basic, Reversal: ptr(true), ReversesSettlementNo: of}
}

// r06Alerts feeds the inputs to a fresh poor person and returns the R06
// alerts raised by the last one.
func r06Alerts(t *testing.T, pols *Policies, ins []*Input) []decoded {
	t.Helper()
	st := &Stage{Policies: pols, Prefix: "hp.", Now: func() time.Time { return at("2019-12-31 12:00:00") }}
	p := newPerson(testKey)
	all := append([]*Input{input(t, "person", "upsert", registryPerson("registered", "2016-03-01", "illness"))}, ins...)
	var last []decoded
	for i, in := range all {
		msgs, err := st.Handle(p, in, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		last = nil
		for _, d := range ofTopic(decode(t, msgs), "hp.policy_alert.v1") {
			if d.Data["rule"] == RuleR06 {
				last = append(last, d)
			}
		}
	}
	return last
}

// TestR06AnnualCap: within the disease's annual cap (raised 20% for the
// poor) basic insurance pays 70% of the in-scope cost; what earlier
// settlements of the calendar year paid for the same disease uses the cap
// up, reversals and voids give it back, a new year starts afresh.
func TestR06AnnualCap(t *testing.T) {
	pols := testPolicy(t, capPolicy)
	up := func(t *testing.T, s canonical.Settlement) *Input { return input(t, "settlement", "upsert", s) }
	s1 := func(t *testing.T) *Input {
		return up(t, chronicSettlement("S1", "2019-03-01T10:00:00+08:00", "1000.00", "700.00"))
	}
	tests := []struct {
		name string
		ins  func(t *testing.T) []*Input
		want map[string]string // figures of the one R06 alert, nil for none
	}{
		{"70% within the cap passes", func(t *testing.T) []*Input {
			return []*Input{up(t, chronicSettlement("S2", "2019-04-01T10:00:00+08:00", "1000.00", "700.00"))}
		}, nil},
		{"under 70% with the cap untouched alerts", func(t *testing.T) []*Input {
			return []*Input{up(t, chronicSettlement("S2", "2019-04-01T10:00:00+08:00", "1000.00", "699.99"))}
		}, map[string]string{"required_basic_insurance": "700.00", "paid_before_this_year": "0.00", "annual_cap": "1200.00", "disease": "1002"}},
		{"what is left of the cap (1200 - 700) passes", func(t *testing.T) []*Input {
			return []*Input{s1(t), up(t, chronicSettlement("S2", "2019-04-01T10:00:00+08:00", "1000.00", "500.00"))}
		}, nil},
		{"one fen under what is left of the cap alerts", func(t *testing.T) []*Input {
			return []*Input{s1(t), up(t, chronicSettlement("S2", "2019-04-01T10:00:00+08:00", "1000.00", "499.99"))}
		}, map[string]string{"required_basic_insurance": "500.00", "paid_before_this_year": "700.00", "basic_insurance": "499.99"}},
		{"a cap used up asks nothing more", func(t *testing.T) []*Input {
			return []*Input{s1(t), up(t, chronicSettlement("S2", "2019-04-01T10:00:00+08:00", "1000.00", "500.00")),
				up(t, chronicSettlement("S3", "2019-05-01T10:00:00+08:00", "1000.00", "0.00"))}
		}, nil},
		{"a reversal gives the cap back", func(t *testing.T) []*Input {
			return []*Input{s1(t), up(t, reversal("R1", "S1", "2019-03-15T10:00:00+08:00", "700.00")),
				up(t, chronicSettlement("S2", "2019-04-01T10:00:00+08:00", "1000.00", "699.99"))}
		}, map[string]string{"required_basic_insurance": "700.00", "paid_before_this_year": "0.00"}},
		{"a reversal written with positive amounts still subtracts", func(t *testing.T) []*Input {
			r := reversal("R1", "S1", "2019-03-15T10:00:00+08:00", "700.00")
			r.BasicInsurance, r.TotalCost = "700.00", "700.00"
			return []*Input{s1(t), up(t, r), up(t, chronicSettlement("S2", "2019-04-01T10:00:00+08:00", "1000.00", "699.99"))}
		}, map[string]string{"required_basic_insurance": "700.00", "paid_before_this_year": "0.00"}},
		{"a void gives the cap back", func(t *testing.T) []*Input {
			void := chronicSettlement("S1", "", "", "")
			return []*Input{s1(t), input(t, "settlement", canonical.OpDelete, void),
				up(t, chronicSettlement("S2", "2019-04-01T10:00:00+08:00", "1000.00", "699.99"))}
		}, map[string]string{"required_basic_insurance": "700.00", "paid_before_this_year": "0.00"}},
		{"last year's payments do not count", func(t *testing.T) []*Input {
			return []*Input{up(t, chronicSettlement("S0", "2018-12-31T23:00:00+08:00", "2000.00", "1200.00")),
				up(t, chronicSettlement("S2", "2019-01-01T09:00:00+08:00", "1000.00", "699.99"))}
		}, map[string]string{"required_basic_insurance": "700.00", "paid_before_this_year": "0.00"}},
		{"a later settlement that arrived first does not count", func(t *testing.T) []*Input {
			return []*Input{up(t, chronicSettlement("S9", "2019-09-01T10:00:00+08:00", "2000.00", "1200.00")),
				up(t, chronicSettlement("S2", "2019-04-01T10:00:00+08:00", "1000.00", "699.99"))}
		}, map[string]string{"required_basic_insurance": "700.00", "paid_before_this_year": "0.00"}},
		{"another disease has its own cap", func(t *testing.T) []*Input {
			other := chronicSettlement("S2", "2019-04-01T10:00:00+08:00", "1000.00", "699.99")
			other.MainDiagnosis = "J45.0"
			return []*Input{s1(t), up(t, chronicSettlement("S3", "2019-03-02T10:00:00+08:00", "1000.00", "500.00")), up(t, other)}
		}, map[string]string{"required_basic_insurance": "700.00", "paid_before_this_year": "0.00", "disease": "J45", "annual_cap": "960.00"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := r06Alerts(t, pols, tc.ins(t))
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("R06 alerts %v, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d R06 alerts, want 1", len(got))
			}
			fig := got[0].Data["figures"].(map[string]any)
			for k, v := range tc.want {
				if fig[k] != v {
					t.Errorf("figure %s = %v, want %s (all %v)", k, fig[k], v, fig)
				}
			}
			if th, _ := got[0].Data["threshold"].(string); tc.want["paid_before_this_year"] == "700.00" && !strings.Contains(th, "annual cap") {
				t.Errorf("threshold %q does not name the cap", th)
			}
		})
	}
}

// TestR06StateSurvivesRestart: the year's payments are part of the stored
// person, so a restart (a reopened store) judges the next settlement with
// them.
func TestR06StateSurvivesRestart(t *testing.T) {
	pols := testPolicy(t, capPolicy)
	pol := pols.For(testCounty)
	st := &Stage{Policies: pols, Prefix: "hp.", Now: func() time.Time { return at("2019-12-31 12:00:00") }}
	p := newPerson(testKey)
	for i, s := range []canonical.Settlement{
		chronicSettlement("S1", "2019-03-01T10:00:00+08:00", "1000.00", "700.00"),
		chronicSettlement("S3", "2019-03-05T10:00:00+08:00", "100.00", "70.00"),
	} {
		if _, err := st.Handle(p, input(t, "settlement", "upsert", s), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	store, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := store.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.PutPerson(3, p); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	store, err = OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tx, err = store.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	back, err := tx.Person(3, testKey)
	if err != nil {
		t.Fatal(err)
	}
	next := chronicSettlement("S2", "2019-04-01T10:00:00+08:00", "1000.00", "0.00")
	ytd := back.YearToDate(pol, &next, "insurance:370282:S2")
	if ytd.R06Disease != "1002" || ytd.R06PaidBefore != 77000 || ytd.R06Cap.FloatString(0) != "120000" {
		t.Errorf("after a restart: %+v (cap %s)", ytd, ytd.R06Cap.FloatString(2))
	}
}

// TestAnnualCapTableErrors: a bad cap table is reported at its row.
func TestAnnualCapTableErrors(t *testing.T) {
	for _, tc := range []struct{ csv, want string }{
		{"code,value\n9999,100\n", `cap.csv:2: "9999" is neither a category`},
		{"code,value\n1002,-5\n", `cap.csv:2: annual cap "-5" must be a positive amount`},
		{"code,value\n1002,100\nJ45,1\n1002,5\n", `cap.csv:4: "1002" has a cap already`},
	} {
		dir := t.TempDir()
		writeFile(t, dir, "chronic.csv", "code,value\n1002,E11.9\n")
		writeFile(t, dir, "cap.csv", tc.csv)
		writeFile(t, dir, "policy.yaml", "kind: policy\ncounty: \"370282\"\ndiseases:\n  chronic: {file: chronic.csv, icd_column: value}\nrules:\n  R06: {cap_raise: \"20\", annual_cap: {file: cap.csv}}\n")
		_, err := LoadPolicies(0, dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "policy.yaml:6:") {
			t.Errorf("%q: error %v, want %q at policy.yaml:6", tc.csv, err, tc.want)
		}
	}
}

func writeFile(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
