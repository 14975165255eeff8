package canonical_test

import (
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/hpgate/hpgate/mappings/canonical"
)

const (
	testPersonKey = "k1:0f3a5b7c9d1e2f304152637485960a1b2c3d4e5f60718293a4b5c6d7e8f90011"
	testHash      = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

func ptr[T any](v T) *T { return &v }

func sampleSettlement() canonical.Settlement {
	return canonical.Settlement{
		Subject: canonical.Subject{
			Origin: canonical.Origin{
				County:       "370282",
				SourceSystem: "insurance",
				SourceID:     "JS20190301001",
				UpdatedAt:    "2019-03-01T10:05:00+08:00",
			},
			PersonKey: testPersonKey,
			IDMasked:  "370282********123X",
			IDQuality: "valid",
		},
		SettlementNo:       "JS20190301001",
		EncounterNo:        "ZY2019022001",
		FacilityCode:       "H37028200001",
		FacilityLevel:      "county",
		HospitalGrade:      "secondary",
		EncounterType:      "inpatient",
		InsuranceScheme:    "urban_rural_resident",
		SettledAt:          "2019-03-01T10:00:00+08:00",
		MainDiagnosis:      "I63.9",
		TotalCost:          "12000.00",
		InScopeCost:        "11000.00",
		Deductible:         "350.00",
		BasicInsurance:     "9052.50",
		CriticalIllness:    "0.00",
		MedicalAssistance:  "1200.00",
		GovernmentBackstop: "547.50",
		OutOfPocket:        "1200.00",
		DepositWaived:      ptr(true),
		OneStop:            ptr(true),
		InCounty:           ptr(true),
		Reversal:           ptr(false),
	}
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateDataSettlementFromGoStruct(t *testing.T) {
	b := marshal(t, sampleSettlement())
	if err := canonical.ValidateData("settlement", b); err != nil {
		t.Fatalf("ValidateData(%s): %v", b, err)
	}
	// false and zero are emitted when mapped, and still valid.
	if !strings.Contains(string(b), `"reversal":false`) {
		t.Errorf("reversal=false was dropped: %s", b)
	}
}

// patch returns the settlement sample as a JSON object with changes
// applied; a nil value deletes the key.
func patch(t *testing.T, v any, changes map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(marshal(t, v), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return marshal(t, m)
}

func TestValidateDataRejects(t *testing.T) {
	tests := []struct {
		name    string
		entity  string
		changes map[string]any
		path    string // JSON pointer of the expected problem
		secret  string // a value that must not appear in the error
	}{
		{"money without two decimals", "settlement", map[string]any{"total_cost": "12000.5"}, "/total_cost", "12000.5"},
		{"money as a number", "settlement", map[string]any{"out_of_pocket": 1200}, "/out_of_pocket", ""},
		{"unknown enum value", "settlement", map[string]any{"facility_level": "prefecture"}, "/facility_level", "prefecture"},
		{"extra field", "settlement", map[string]any{"patient_name": "张三"}, "", "张三"},
		{"missing required field", "settlement", map[string]any{"total_cost": nil}, "", ""},
		{"missing origin field", "settlement", map[string]any{"county": nil}, "", ""},
		{"date-time without offset", "settlement", map[string]any{"settled_at": "2019-03-01T10:00:00"}, "/settled_at", "2019-03-01T10:00:00"},
		{"bad ICD-10 code", "settlement", map[string]any{"main_diagnosis": "I63.x00x001"}, "/main_diagnosis", "I63.x00x001"},
		{"clear ID number in id_masked", "settlement", map[string]any{"id_masked": "370282199001011234"}, "/id_masked", "370282199001011234"},
		{"clear ID number as person key", "settlement", map[string]any{"person_key": "370282199001011234"}, "/person_key", "370282199001011234"},
		{"string for a bool", "settlement", map[string]any{"one_stop": "Y"}, "/one_stop", ""},
		{"null value", "settlement", map[string]any{"deductible": json.RawMessage("null")}, "/deductible", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := patch(t, sampleSettlement(), tc.changes)
			err := canonical.ValidateData(tc.entity, b)
			var ve *canonical.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("ValidateData = %v, want a *ValidationError", err)
			}
			if ve.Schema != "hp.settlement/v1" || len(ve.Problems) == 0 {
				t.Fatalf("ValidationError %+v", ve)
			}
			found := false
			for _, p := range ve.Problems {
				found = found || p.Path == tc.path
			}
			if !found {
				t.Errorf("no problem at %q: %v", tc.path, err)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error quotes the value: %v", err)
			}
			t.Log(err)
		})
	}
}

func TestValidateDataOtherEntities(t *testing.T) {
	person := canonical.Person{
		Subject: canonical.Subject{
			Origin:    canonical.Origin{County: "370282", SourceSystem: "registry", SourceID: "H001-02"},
			PersonKey: testPersonKey,
			IDQuality: "upgraded_15",
		},
		NameMasked:      "张*",
		Gender:          "2",
		BirthYear:       ptr(1956),
		AreaCode:        "370282100001",
		PovertyStatus:   "registered",
		PovertyCause:    "illness",
		Disabled:        ptr(true),
		DisabilityGrade: ptr(2),
		MinLiving:       ptr(false),
	}
	if err := canonical.ValidateData("person", marshal(t, person)); err != nil {
		t.Errorf("person: %v", err)
	}
	person.DisabilityGrade = ptr(5)
	if err := canonical.ValidateData("person", marshal(t, person)); err == nil || !strings.Contains(err.Error(), "/disability_grade") {
		t.Errorf("disability grade 5: %v", err)
	}

	followup := canonical.Followup{
		Subject:        person.Subject,
		FollowupNo:     "SF001",
		FollowedOn:     "2019-04-02",
		Condition:      "hypertension",
		SystolicBP:     ptr(0), // zero is a value once mapped
		FastingGlucose: json.Number("6.1"),
	}
	if err := canonical.ValidateData("followup", marshal(t, followup)); err != nil {
		t.Errorf("followup: %v", err)
	}
	followup.FollowedOn = "2019-02-30"
	if err := canonical.ValidateData("followup", marshal(t, followup)); err == nil {
		t.Error("followup on 2019-02-30 validated")
	}

	household := canonical.Household{
		Origin:       canonical.Origin{County: "370282", SourceSystem: "registry", SourceID: "H001"},
		HouseholdKey: testPersonKey,
		MemberCount:  ptr(4),
	}
	if err := canonical.ValidateData("household", marshal(t, household)); err != nil {
		t.Errorf("household: %v", err)
	}

	d := canonical.Discrepancy{
		Subject:       canonical.Subject{Origin: canonical.Origin{County: "370282", SourceSystem: "hpgate", SourceID: "d1"}, PersonKey: testPersonKey, IDQuality: "valid"},
		DiscrepancyID: "d1",
		Kind:          "registry_mark_missing",
		Systems:       []string{"registry", "insurance"},
		Values:        map[string]string{"registry": "registered", "insurance": "false"},
		Status:        "open",
	}
	if err := canonical.ValidateData("discrepancy", marshal(t, d)); err != nil {
		t.Errorf("discrepancy: %v", err)
	}
	d.Systems = []string{"registry", "hospital"}
	if err := canonical.ValidateData("discrepancy", marshal(t, d)); err == nil {
		t.Error("discrepancy with an unknown system validated")
	}

	if err := canonical.ValidateData("patient", []byte(`{}`)); err == nil {
		t.Error("unknown entity validated")
	}
	if err := canonical.ValidateData("person", []byte(`{"county":`)); err == nil {
		t.Error("truncated JSON validated")
	}
}

// sampleValue returns a valid value for f, for the minimal-record test.
func sampleValue(t *testing.T, entity string, f *canonical.Field) any {
	t.Helper()
	byPattern := map[string]string{
		canonical.CountyPattern:    "370282",
		canonical.PersonKeyPattern: testPersonKey,
		canonical.MoneyPattern:     "1.00",
	}
	switch f.Kind {
	case canonical.KindEnum:
		if f.Name == "source_system" && (entity == "discrepancy" || entity == "policy_alert") {
			return "hpgate"
		}
		return f.Enum[0]
	case canonical.KindInt:
		return 2019
	case canonical.KindDate:
		return "2019-03-01"
	case canonical.KindDateTime:
		return "2019-03-01T10:00:00+08:00"
	}
	if v, ok := byPattern[f.Pattern]; ok {
		return v
	}
	if f.Pattern == "" && f.Kind == canonical.KindString {
		return "x1"
	}
	t.Fatalf("%s.%s: no sample value for kind %s pattern %q; add one", entity, f.Name, f.Kind, f.Pattern)
	return nil
}

// TestMinimalRecords builds, for every entity, a record of its required
// fields only from the field table: it validates, and it fails once any
// one of them is left out.
func TestMinimalRecords(t *testing.T) {
	for _, e := range canonical.Entities() {
		t.Run(e.Name, func(t *testing.T) {
			rec := map[string]any{}
			for _, name := range e.Required() {
				f, _ := e.Field(name)
				rec[name] = sampleValue(t, e.Name, f)
			}
			if err := canonical.ValidateData(e.Name, marshal(t, rec)); err != nil {
				t.Fatalf("minimal %s: %v", e.Name, err)
			}
			for _, name := range e.Required() {
				short := maps.Clone(rec)
				delete(short, name)
				err := canonical.ValidateData(e.Name, marshal(t, short))
				if err == nil || !strings.Contains(err.Error(), "missing required "+name) {
					t.Errorf("%s without %s: %v", e.Name, name, err)
				}
			}
		})
	}
}

func envelope(t *testing.T, op string, data []byte) canonical.Envelope {
	t.Helper()
	return canonical.Envelope{
		Schema:     "hp.settlement/v1",
		ID:         "insurance:370282:JS20190301001",
		Op:         op,
		County:     "370282",
		Source:     canonical.Source{System: "insurance", Connector: "jimo-ins", Mapping: "jimo-ins-settlement", Position: "2019-03-01T10:05:00+08:00|JS20190301001"},
		OccurredAt: "2019-03-01T10:00:00+08:00",
		IngestedAt: "2019-03-01T10:06:00+08:00",
		Hash:       testHash,
		Data:       data,
	}
}

func TestValidateEnvelope(t *testing.T) {
	good := marshal(t, sampleSettlement())
	deleteData := marshal(t, map[string]string{
		"county": "370282", "source_system": "insurance", "source_id": "JS20190301001", "person_key": testPersonKey,
	})
	tests := []struct {
		name string
		env  func(*canonical.Envelope)
		path string // JSON pointer of the expected problem; "-" for a valid envelope
	}{
		{"upsert", func(*canonical.Envelope) {}, "-"},
		{"delete with identifying fields only", func(e *canonical.Envelope) { e.Op = canonical.OpDelete; e.Data = deleteData }, "-"},
		{"upsert with identifying fields only", func(e *canonical.Envelope) { e.Data = deleteData }, "/data"},
		{"delete without the person key", func(e *canonical.Envelope) {
			e.Op = canonical.OpDelete
			e.Data = patch(t, json.RawMessage(deleteData), map[string]any{"person_key": nil})
		}, "/data"},
		{"delete with a bad field", func(e *canonical.Envelope) {
			e.Op = canonical.OpDelete
			e.Data = patch(t, json.RawMessage(deleteData), map[string]any{"total_cost": "1"})
		}, "/data/total_cost"},
		{"bad money in data", func(e *canonical.Envelope) {
			e.Data = patch(t, sampleSettlement(), map[string]any{"total_cost": "1e3"})
		}, "/data/total_cost"},
		{"unknown op", func(e *canonical.Envelope) { e.Op = "insert" }, "/op"},
		{"unknown schema", func(e *canonical.Envelope) { e.Schema = "hp.patient/v1" }, "/schema"},
		{"schema of another version", func(e *canonical.Envelope) { e.Schema = "hp.settlement/v2" }, "/schema"},
		{"schema of another entity", func(e *canonical.Envelope) { e.Schema = "hp.person/v1" }, "/data"},
		{"county differs", func(e *canonical.Envelope) { e.County = "370215"; e.ID = "insurance:370215:JS20190301001" }, "/data/county"},
		{"source system differs", func(e *canonical.Envelope) { e.Source.System = "his"; e.ID = "his:370282:JS20190301001" }, "/data/source_system"},
		{"id of another county", func(e *canonical.Envelope) { e.ID = "insurance:370215:JS20190301001" }, "/id"},
		{"no source system", func(e *canonical.Envelope) { e.Source.System = "" }, "/source"},
		{"bad hash", func(e *canonical.Envelope) { e.Hash = "md5:abc" }, "/hash"},
		{"no ingested_at", func(e *canonical.Envelope) { e.IngestedAt = "" }, ""},
		{"data not an object", func(e *canonical.Envelope) { e.Data = json.RawMessage(`["x"]`) }, "/data"},
		{"no data", func(e *canonical.Envelope) { e.Data = nil }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := envelope(t, canonical.OpUpsert, good)
			tc.env(&env)
			err := canonical.ValidateEnvelope(marshal(t, env))
			if tc.path == "-" {
				if err != nil {
					t.Fatalf("ValidateEnvelope: %v", err)
				}
				return
			}
			var ve *canonical.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("ValidateEnvelope = %v, want a *ValidationError", err)
			}
			found := false
			for _, p := range ve.Problems {
				found = found || p.Path == tc.path
			}
			if !found {
				t.Errorf("no problem at %q: %v", tc.path, err)
			}
			t.Log(err)
		})
	}
	if err := canonical.ValidateEnvelope([]byte(`not json`)); err == nil {
		t.Error("non-JSON envelope validated")
	}
}

func TestValidateDLQ(t *testing.T) {
	d := canonical.DLQ{
		Schema:     canonical.DLQSchema,
		Mapping:    "jimo-ins-settlement",
		County:     "370282",
		Source:     canonical.Source{System: "insurance", Connector: "jimo-ins", Mapping: "jimo-ins-settlement", Position: "k1:ab12"},
		Field:      "person_key",
		Code:       "bad_check_digit",
		Message:    "ID number check digit does not match",
		Row:        map[string]string{"SFZH": "370282********1234", "XM": "张*", "ZFY": "12000.00"},
		Raw:        "q83vEjRWeJA=",
		KeyID:      "k1",
		RejectedAt: "2019-03-01T10:06:00+08:00",
	}
	if err := canonical.ValidateDLQ(marshal(t, d)); err != nil {
		t.Fatalf("ValidateDLQ: %v", err)
	}
	for name, change := range map[string]func(*canonical.DLQ){
		"wrong schema":    func(d *canonical.DLQ) { d.Schema = "hp.settlement/v1" },
		"code not a word": func(d *canonical.DLQ) { d.Code = "Bad Check Digit" },
		"raw not base64":  func(d *canonical.DLQ) { d.Raw = "not base64!" },
		"no rejected_at":  func(d *canonical.DLQ) { d.RejectedAt = "" },
		"no source":       func(d *canonical.DLQ) { d.Source = canonical.Source{} },
	} {
		bad := d
		change(&bad)
		if err := canonical.ValidateDLQ(marshal(t, bad)); err == nil {
			t.Errorf("%s: validated", name)
		}
	}
}
