package identity

import (
	"testing"
	"time"

	"github.com/hpgate/hpgate/mappings/canonical"
)

func poorFlags(minLiving bool) canonical.SettlementFlags {
	return canonical.SettlementFlags{AsOf: "2019-05-01", PovertyStatus: "registered", Poor: ptr(true), MinLiving: ptr(minLiving)}
}

func settlement(mod func(*canonical.Settlement)) canonical.Settlement {
	s := canonical.Settlement{Subject: subject("insurance", "S1"), SettlementNo: "S1", SettledAt: "2019-05-01T10:00:00+08:00",
		EncounterType: "outpatient", FacilityLevel: "village", TotalCost: "1000.00", BasicInsurance: "900.00", OutOfPocket: "100.00"}
	mod(&s)
	return s
}

// TestSettlementRulesBoundaries checks each per-settlement rule on both
// sides of its threshold with the default (domain.md) figures.
func TestSettlementRulesBoundaries(t *testing.T) {
	pol := testPolicy(t, "").For(testCounty)
	tests := []struct {
		name  string
		flags canonical.SettlementFlags
		mod   func(*canonical.Settlement)
		want  string // rule expected, "" for none
		fig   map[string]string
	}{
		{"R01 township at 2.5% passes", poorFlags(false), func(s *canonical.Settlement) {
			s.FacilityLevel, s.NonReimbursableCost = "township", "25.00"
		}, "", nil},
		{"R01 township above 2.5% alerts", poorFlags(false), func(s *canonical.Settlement) {
			s.FacilityLevel, s.NonReimbursableCost = "township", "25.01"
		}, RuleR01, map[string]string{"share_percent": "2.50", "excess": "0.01", "non_reimbursable_cost": "25.01"}},
		{"R01 county secondary at 10% passes", poorFlags(false), func(s *canonical.Settlement) {
			s.FacilityLevel, s.HospitalGrade, s.NonReimbursableCost = "county", "secondary", "100.00"
		}, "", nil},
		{"R01 county secondary above 10% alerts", poorFlags(false), func(s *canonical.Settlement) {
			s.FacilityLevel, s.HospitalGrade, s.NonReimbursableCost = "county", "secondary", "100.01"
		}, RuleR01, map[string]string{"share_percent": "10.00", "excess": "0.01"}},
		{"R01 does not apply to the non-poor", canonical.SettlementFlags{Poor: ptr(false)}, func(s *canonical.Settlement) {
			s.FacilityLevel, s.NonReimbursableCost = "township", "90.00"
		}, "", nil},
		{"R02 at 10% passes", poorFlags(false), func(s *canonical.Settlement) {
			s.EncounterType, s.InCounty, s.OutOfPocket = "chronic_outpatient", ptr(true), "100.00"
		}, "", nil},
		{"R02 above 10% alerts", poorFlags(false), func(s *canonical.Settlement) {
			s.EncounterType, s.InCounty, s.OutOfPocket, s.BasicInsurance = "chronic_outpatient", ptr(true), "100.01", "899.99"
		}, RuleR02, map[string]string{"share_percent": "10.00", "out_of_pocket": "100.01"}},
		{"R02 out of county passes", poorFlags(false), func(s *canonical.Settlement) {
			s.EncounterType, s.InCounty, s.OutOfPocket = "inpatient", ptr(false), "500.00"
		}, "", nil},
		{"R04 county deductible 350 and ratio 85% pass", poorFlags(false), func(s *canonical.Settlement) {
			s.EncounterType, s.FacilityLevel, s.InScopeCost, s.Deductible, s.BasicInsurance = "inpatient", "county", "1350.00", "350.00", "850.00"
		}, "", nil},
		{"R04 county deductible 350.01 alerts", poorFlags(false), func(s *canonical.Settlement) {
			s.EncounterType, s.FacilityLevel, s.InScopeCost, s.Deductible, s.BasicInsurance = "inpatient", "county", "1350.01", "350.01", "850.00"
		}, RuleR04, map[string]string{"deductible": "350.01"}},
		{"R04 ratio just under 85% alerts", poorFlags(false), func(s *canonical.Settlement) {
			s.EncounterType, s.FacilityLevel, s.InScopeCost, s.Deductible, s.BasicInsurance = "inpatient", "county", "1350.00", "350.00", "849.99"
		}, RuleR04, map[string]string{"ratio_percent": "85.00", "basic_insurance": "849.99"}},
		{"R05 major disease covered 80% passes", poorFlags(false), func(s *canonical.Settlement) {
			s.MainDiagnosis, s.BasicInsurance, s.CriticalIllness, s.MedicalAssistance = "C34.1", "600.00", "0.00", "200.00"
		}, "", nil},
		{"R05 major disease covered under 80% alerts", poorFlags(false), func(s *canonical.Settlement) {
			s.MainDiagnosis, s.BasicInsurance, s.MedicalAssistance = "C34.1", "600.00", "199.99"
		}, RuleR05, map[string]string{"covered_percent": "80.00", "covered": "799.99"}},
		{"R05 critical-illness ratio under 50% alerts", poorFlags(false), func(s *canonical.Settlement) {
			s.TotalCost, s.InScopeCost, s.MainDiagnosis, s.BasicInsurance, s.Deductible, s.CriticalIllness, s.MedicalAssistance =
				"20000.00", "20000.00", "C34", "10000.00", "0.00", "3499.99", "3000.00"
		}, RuleR05, map[string]string{"critical_percent": "50.00", "critical_illness": "3499.99"}},
		{"R06 no deductible and 70% pass", poorFlags(false), func(s *canonical.Settlement) {
			s.EncounterType, s.InScopeCost, s.Deductible, s.BasicInsurance = "chronic_outpatient", "1000.00", "0.00", "700.00"
		}, "", nil},
		{"R06 deductible alerts", poorFlags(false), func(s *canonical.Settlement) {
			s.EncounterType, s.InScopeCost, s.Deductible, s.BasicInsurance = "chronic_outpatient", "1000.00", "0.01", "700.00"
		}, RuleR06, map[string]string{"deductible": "0.01"}},
		{"R06 ratio under 70% alerts", poorFlags(false), func(s *canonical.Settlement) {
			s.EncounterType, s.InScopeCost, s.Deductible, s.BasicInsurance = "chronic_outpatient", "1000.00", "0.00", "699.99"
		}, RuleR06, map[string]string{"ratio_percent": "70.00"}},
		{"R07 assistance without basic insurance alerts", canonical.SettlementFlags{}, func(s *canonical.Settlement) {
			s.BasicInsurance, s.MedicalAssistance = "0.00", "0.01"
		}, RuleR07, map[string]string{"medical_assistance": "0.01", "basic_insurance": "0.00"}},
		{"R07 basic insurance first passes", canonical.SettlementFlags{}, func(s *canonical.Settlement) {
			s.BasicInsurance, s.MedicalAssistance = "0.01", "500.00"
		}, "", nil},
		{"R08 deposit of a poor inpatient in county alerts", poorFlags(false), func(s *canonical.Settlement) {
			s.EncounterType, s.InCounty, s.DepositPaid, s.OneStop = "inpatient", ptr(true), "0.01", ptr(true)
		}, RuleR08, map[string]string{"deposit_paid": "0.01"}},
		{"R08 one-stop missing alerts", poorFlags(false), func(s *canonical.Settlement) {
			s.EncounterType, s.InCounty, s.DepositPaid, s.OneStop = "inpatient", ptr(true), "0.00", ptr(false)
		}, RuleR08, map[string]string{"one_stop": "false"}},
		{"R09 低保 deposit at 20% of base passes", canonical.SettlementFlags{MinLiving: ptr(true)}, func(s *canonical.Settlement) {
			s.EncounterType, s.FacilityLevel, s.DepositPaid = "inpatient", "county", "400.00"
		}, "", nil},
		{"R09 低保 deposit above 20% of base alerts", canonical.SettlementFlags{MinLiving: ptr(true)}, func(s *canonical.Settlement) {
			s.EncounterType, s.FacilityLevel, s.DepositPaid = "inpatient", "county", "400.01"
		}, RuleR09, map[string]string{"allowed_deposit": "400.00", "base_deposit": "2000.00"}},
		{"a reversal is not checked", poorFlags(false), func(s *canonical.Settlement) {
			s.FacilityLevel, s.NonReimbursableCost, s.Reversal = "township", "-90.00", ptr(true)
		}, "", nil},
	}
	now := at("2019-05-02 08:00:00")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := settlement(tc.mod)
			alerts := CheckSettlement(pol, &s, "insurance:370282:S1", tc.flags, YearToDate{}, now)
			if tc.want == "" {
				if len(alerts) != 0 {
					t.Fatalf("alerts %+v, want none", alerts)
				}
				return
			}
			if len(alerts) != 1 || alerts[0].Rule != tc.want {
				t.Fatalf("alerts %+v, want one %s", alerts, tc.want)
			}
			a := alerts[0]
			for k, v := range tc.fig {
				if a.Figures[k] != v {
					t.Errorf("figure %s = %q, want %q (all: %v)", k, a.Figures[k], v, a.Figures)
				}
			}
			if a.Threshold == "" || a.AlertID != AlertID(tc.want, "insurance:370282:S1") || a.SettlementNo != "S1" {
				t.Errorf("alert %+v", a)
			}
		})
	}
}

// TestReturnRiskThreshold: RPR fires when the year's out-of-pocket of a
// person who is not registered reaches the threshold, once per change.
func TestReturnRiskThreshold(t *testing.T) {
	st := &Stage{Policies: testPolicy(t, "rules:\n  RPR: {annual_out_of_pocket: \"5000\"}\n"), Prefix: "hp.", Now: func() time.Time { return at("2019-06-01 00:00:00") }}
	p := newPerson(testKey)
	pay := func(no, oop string) []decoded {
		s := settlement(func(s *canonical.Settlement) {
			s.SettlementNo, s.SourceID, s.OutOfPocket, s.BasicInsurance = no, no, oop, "0.00"
		})
		msgs, err := st.Handle(p, input(t, "settlement", "upsert", s), 1)
		if err != nil {
			t.Fatal(err)
		}
		var rpr []decoded
		for _, d := range ofTopic(decode(t, msgs), "hp.policy_alert.v1") {
			if d.Data["rule"] == RuleRPR {
				rpr = append(rpr, d)
			}
		}
		return rpr
	}
	if a := pay("S1", "4999.99"); len(a) != 0 {
		t.Fatalf("RPR below the threshold: %v", a)
	}
	a := pay("S2", "0.01")
	if len(a) != 1 {
		t.Fatalf("RPR at the threshold: %d alerts", len(a))
	}
	fig := a[0].Data["figures"].(map[string]any)
	if fig["annual_out_of_pocket"] != "5000.00" || fig["settlements"] != "2" || fig["year"] != "2019" {
		t.Errorf("figures %v", fig)
	}
	// A repeat of the same settlement changes nothing.
	if a := pay("S2", "0.01"); len(a) != 0 {
		t.Errorf("repeat re-raised RPR: %v", a)
	}
}
