package canonical

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestEntities(t *testing.T) {
	want := []string{"chronic_card", "contract", "discrepancy", "encounter", "enrollment", "followup",
		"health_check", "health_record", "household", "identity", "person", "policy_alert", "settlement", "settlement_enriched", "treatment"}
	var got []string
	for _, e := range Entities() {
		got = append(got, e.Name)
		if e.Schema != "hp."+e.Name+"/v1" || e.Topic != e.Name+".v1" {
			t.Errorf("%s: schema %q, topic %q", e.Name, e.Schema, e.Topic)
		}
		if l, ok := Lookup(e.Name); !ok || l != e {
			t.Errorf("Lookup(%q) = %v, %v", e.Name, l, ok)
		}
		if l, ok := LookupSchema(e.Schema); !ok || l != e {
			t.Errorf("LookupSchema(%q) = %v, %v", e.Schema, l, ok)
		}
		if wantDerived := e.Name == "discrepancy" || e.Name == "policy_alert" || e.Name == "identity" || e.Name == "settlement_enriched"; e.Derived != wantDerived {
			t.Errorf("%s: Derived %v", e.Name, e.Derived)
		}
		if e.PersonKeyed == (e.Name == "household") {
			t.Errorf("%s: PersonKeyed %v", e.Name, e.PersonKeyed)
		}
		if e.Doc == "" {
			t.Errorf("%s: no doc", e.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Entities() = %v\nwant %v", got, want)
	}
	if _, ok := Lookup("patient"); ok {
		t.Error("Lookup(patient) found something")
	}
	if _, ok := LookupSchema("hp.person/v2"); ok {
		t.Error("LookupSchema(hp.person/v2) found something")
	}
	// Entities returns a copy: reordering it leaves the table alone.
	es := Entities()
	es[0], es[1] = es[1], es[0]
	if Entities()[0].Name != "chronic_card" {
		t.Error("Entities() shares its slice")
	}
}

func TestEveryEntityHasOwnRequiredField(t *testing.T) {
	for _, e := range Entities() {
		var own []string
		for _, f := range e.Fields {
			if f.Required && !isOriginField(f.Name) {
				own = append(own, f.Name)
			}
		}
		if len(own) == 0 {
			t.Errorf("%s: no required field besides the origin", e.Name)
		}
	}
}

func TestFields(t *testing.T) {
	for _, e := range Entities() {
		if !slices.IsSortedFunc(e.Fields, func(a, b Field) int { return strings.Compare(a.Name, b.Name) }) {
			t.Errorf("%s: fields not sorted", e.Name)
		}
		v := reflect.New(e.Type).Elem()
		for i := range e.Fields {
			f := &e.Fields[i]
			if got, ok := e.Field(f.Name); !ok || got != f {
				t.Errorf("%s.Field(%q) = %v, %v", e.Name, f.Name, got, ok)
			}
			sf := e.Type.FieldByIndex(f.Index)
			if name, _, _ := strings.Cut(sf.Tag.Get("json"), ","); name != f.Name {
				t.Errorf("%s.%s: Index leads to %s", e.Name, f.Name, name)
			}
			_ = v.FieldByIndex(f.Index) // must not panic
			if f.Doc == "" {
				t.Errorf("%s.%s: no doc", e.Name, f.Name)
			}
		}
		for _, name := range []string{"county", "source_system", "source_id", "updated_at"} {
			if _, ok := e.Field(name); !ok {
				t.Errorf("%s: no origin field %s", e.Name, name)
			}
		}
		if _, ok := e.Field("nope"); ok {
			t.Errorf("%s.Field(nope) found something", e.Name)
		}
	}
	e, _ := Lookup("person")
	if f, _ := e.Field("disability_grade"); f.Min == nil || *f.Min != 1 || f.Max == nil || *f.Max != 4 {
		t.Errorf("person.disability_grade: min %v max %v", f.Min, f.Max)
	}
	if f, _ := e.Field("id_masked"); !f.PII {
		t.Error("person.id_masked is not PII")
	}
	if got := e.Required(); !slices.Equal(got, []string{"county", "id_quality", "person_key", "source_id", "source_system"}) {
		t.Errorf("person.Required() = %v", got)
	}
}

// TestSharedFieldNames checks that a field name means one thing across
// entities: the same kind and pattern, and the same list of values except
// for the few names whose values are per entity.
func TestSharedFieldNames(t *testing.T) {
	perEntityValues := map[string]bool{"status": true, "kind": true, "result": true}
	first := map[string]*Field{}
	firstIn := map[string]string{}
	for _, e := range Entities() {
		for i := range e.Fields {
			f := &e.Fields[i]
			g, ok := first[f.Name]
			if !ok {
				first[f.Name], firstIn[f.Name] = f, e.Name
				continue
			}
			if f.Kind != g.Kind || f.Pattern != g.Pattern || f.PII != g.PII ||
				(!perEntityValues[f.Name] && !slices.Equal(f.Enum, g.Enum)) {
				t.Errorf("%s.%s differs from %s.%s", e.Name, f.Name, firstIn[f.Name], g.Name)
			}
		}
	}
}

func TestPatternConstants(t *testing.T) {
	want := map[string]string{
		"county":          CountyPattern,
		"person_key":      PersonKeyPattern,
		"household_key":   PersonKeyPattern,
		"head_person_key": PersonKeyPattern,
		"id_masked":       IDMaskedPattern,
		"head_id_masked":  IDMaskedPattern,
		"disease_code":    ICD10Pattern,
		"main_diagnosis":  ICD10Pattern,
		"diagnoses":       ICD10Pattern,
	}
	for _, e := range Entities() {
		for _, f := range e.Fields {
			if p, ok := want[f.Name]; ok && f.Pattern != p {
				t.Errorf("%s.%s: pattern %q, constant %q", e.Name, f.Name, f.Pattern, p)
			}
			if f.Kind == KindMoney && f.Pattern != MoneyPattern {
				t.Errorf("%s.%s: money pattern %q", e.Name, f.Name, f.Pattern)
			}
		}
	}
}

func TestKindString(t *testing.T) {
	for k := KindString; k <= KindObject; k++ {
		got, ok := parseKind(k.String())
		if !ok || got != k {
			t.Errorf("parseKind(%q) = %v, %v", k.String(), got, ok)
		}
	}
	if s := Kind(0).String(); s != "Kind(0)" {
		t.Errorf("Kind(0).String() = %q", s)
	}
	if KindMoney.String() != "money" || KindDateTime.String() != "datetime" {
		t.Error("tag words changed")
	}
}

func TestAllowsValue(t *testing.T) {
	tests := []struct {
		entity, field string
		ok            []string
		bad           []string
	}{
		{"settlement", "total_cost", []string{"0.00", "12.30", "-5.10"}, []string{"12.3", "12", "1,000.00", "¥1.00", ""}},
		{"settlement", "settled_at", []string{"2019-03-01T10:00:00+08:00", "2019-03-01T02:00:00Z"}, []string{"2019-03-01 10:00:00", "2019-03-01T10:00:00"}},
		{"settlement", "reversal", []string{"true", "false"}, []string{"1", "TRUE", ""}},
		{"settlement", "main_diagnosis", []string{"I10", "E11.9", "C34.101"}, []string{"i10", "I1", "I10.x00x002"}},
		{"person", "gender", []string{"0", "1", "2", "9"}, []string{"3", "M", ""}},
		{"person", "poverty_status", []string{"registered", "none"}, []string{"Registered", "poor"}},
		{"person", "status_since", []string{"2019-03-01"}, []string{"2019-3-1", "2019-02-30", "20190301"}},
		{"person", "disability_grade", []string{"1", "4"}, []string{"0", "5", "1.0", "x"}},
		{"person", "area_code", []string{"370282100001"}, []string{"370282", "37028210000A"}},
		{"person", "person_key", []string{"k1:" + strings.Repeat("ab", 32)}, []string{"k1:" + strings.Repeat("AB", 32), "370282199001011234"}},
		{"person", "id_masked", []string{"370282********123X"}, []string{"370282199001011234", "370282*******1234"}},
		{"followup", "fasting_glucose", []string{"5.6", "7", "-1e3", "0.5E+2"}, []string{"5.", ".5", "+1", "01", "NaN", ""}},
		{"contract", "priority_groups", []string{"diabetes_t2", "poor"}, []string{"diabetes"}},
		{"encounter", "diagnoses", []string{"I10"}, []string{"高血压"}},
		{"discrepancy", "values", nil, []string{"x"}},
		{"chronic_card", "issuing_facility", []string{"", "H37028200001"}, nil},
	}
	for _, tc := range tests {
		e, _ := Lookup(tc.entity)
		f, ok := e.Field(tc.field)
		if !ok {
			t.Fatalf("%s.%s: no such field", tc.entity, tc.field)
		}
		for _, s := range tc.ok {
			if !f.AllowsValue(s) {
				t.Errorf("%s.%s.AllowsValue(%q) = false", tc.entity, tc.field, s)
			}
		}
		for _, s := range tc.bad {
			if f.AllowsValue(s) {
				t.Errorf("%s.%s.AllowsValue(%q) = true", tc.entity, tc.field, s)
			}
		}
	}
}

func TestParseTag(t *testing.T) {
	tests := []struct {
		name, tag string
		want      string // error substring; "" for success
	}{
		{"comma in pattern", `code,required,pattern=^[A-Z]{1,4}$`, ""},
		{"int bounds", `int,min=1,max=4`, ""},
		{"code with enum", `code,enum=0|1`, ""},
		{"unknown kind", `text`, "unknown kind"},
		{"unknown option", `string,unique`, "unknown option"},
		{"enum without values", `enum`, "needs enum="},
		{"enum on string", `string,enum=a|b`, "takes no enum"},
		{"repeated enum value", `enum,enum=a|a`, "empty or repeated"},
		{"code without pattern", `code`, "needs pattern= or enum="},
		{"money with pattern", `money,pattern=^[0-9]+$`, "fixed pattern"},
		{"pattern on date", `date,pattern=^x$`, "takes no pattern"},
		{"bad regexp", `string,pattern=^(x$`, "pattern"},
		{"enum outside pattern", `code,enum=1|x,pattern=^[0-9]$`, "does not match"},
		{"min on string", `string,min=1`, "takes no min"},
		{"min above max", `int,min=4,max=1`, "above max"},
		{"bad min", `int,min=one`, "option min=one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseTag(tc.tag)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("parseTag(%q): %v", tc.tag, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("parseTag(%q) = %v, want error with %q", tc.tag, err, tc.want)
			}
			if tc.name == "comma in pattern" && (f.Pattern != `^[A-Z]{1,4}$` || !f.Required) {
				t.Errorf("pattern %q required %v", f.Pattern, f.Required)
			}
		})
	}
}

func TestDescribeRejectsBadStructs(t *testing.T) {
	type wrongType struct {
		N int `json:"n,omitempty" hp:"int" doc:"n"`
	}
	type noOmitEmpty struct {
		S string `json:"s" hp:"string" doc:"s"`
	}
	type noDoc struct {
		S string `json:"s,omitempty" hp:"string"`
	}
	type noHP struct {
		S string `json:"s,omitempty" doc:"s"`
	}
	type dup struct {
		Origin
		C string `json:"county,omitempty" hp:"string" doc:"c"`
	}
	type nested struct {
		S Source `json:"s,omitzero" hp:"object" doc:"s"`
	}
	type raw struct {
		D json.RawMessage `json:"d,omitempty" hp:"object" doc:"d"`
	}
	tests := []struct {
		name  string
		typ   reflect.Type
		value bool
		want  string
	}{
		{"int field not a pointer", reflect.TypeFor[wrongType](), false, "needs Go type *int"},
		{"no omitempty", reflect.TypeFor[noOmitEmpty](), false, "lacks omitempty"},
		{"no doc", reflect.TypeFor[noDoc](), false, "no doc tag"},
		{"no hp tag", reflect.TypeFor[noHP](), false, "no hp tag"},
		{"json name twice", reflect.TypeFor[dup](), false, "used twice"},
		{"nested struct in an entity", reflect.TypeFor[nested](), false, "needs Go type map[string]string"},
		{"raw JSON in an entity", reflect.TypeFor[raw](), false, "needs Go type map[string]string"},
		{"nested struct in a value", reflect.TypeFor[nested](), true, ""},
		{"raw JSON in a value", reflect.TypeFor[raw](), true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := describe(tc.typ, tc.value)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("describe = %v, want error with %q", err, tc.want)
			}
		})
	}
}
