package canonical

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind is the canonical kind of a field: what its value means and how it is
// written in JSON. It is the first word of the field's hp struct tag.
type Kind uint8

// The kinds. The comment says the Go type of the field and the JSON form.
const (
	KindString   Kind = iota + 1 // string; JSON string, optionally with a pattern
	KindEnum                     // string; one of a fixed list of canonical values
	KindCode                     // string; a national code as its standard writes it (pattern and/or list)
	KindInt                      // *int; JSON integer
	KindNumber                   // json.Number; JSON number (decimal)
	KindMoney                    // string; yuan with exactly two decimals, MoneyPattern
	KindDate                     // string; "2006-01-02", JSON Schema format date
	KindDateTime                 // string; RFC 3339 with offset, format date-time
	KindBool                     // *bool; JSON boolean
	KindStrings                  // []string; array of strings (pattern applies to each)
	KindEnums                    // []string; array of enum values
	KindObject                   // map[string]string; object of strings (a nested struct in derived entities and values)
	KindObjects                  // []T for a struct T; array of objects (derived entities only)
)

var kindWords = [...]string{
	KindString:   "string",
	KindEnum:     "enum",
	KindCode:     "code",
	KindInt:      "int",
	KindNumber:   "number",
	KindMoney:    "money",
	KindDate:     "date",
	KindDateTime: "datetime",
	KindBool:     "bool",
	KindStrings:  "strings",
	KindEnums:    "enums",
	KindObject:   "object",
	KindObjects:  "objects",
}

// String returns the tag word of k ("money"), or Kind(n) for an invalid kind.
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindWords) {
		return kindWords[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

func parseKind(s string) (Kind, bool) {
	for k, w := range kindWords {
		if k > 0 && w == s {
			return Kind(k), true
		}
	}
	return 0, false
}

// Field describes one field of a canonical entity, as its struct tags
// declare it.
type Field struct {
	// Name is the JSON name (the json tag).
	Name string
	// Kind is the canonical kind (first word of the hp tag).
	Kind Kind
	// Enum lists the allowed values of an enum, enums or code field, in tag
	// order. Nil when the field has no list.
	Enum []string
	// Pattern is the regular expression (RE2 and ECMA 262 alike) a string
	// value, or each element of a strings value, must match. Money fields
	// always carry MoneyPattern.
	Pattern string
	// Min and Max bound an int field when set.
	Min, Max *int
	// Required fields must be present in every upsert.
	Required bool
	// PII marks personal data, even when masked: never log it.
	PII bool
	// Doc is the one-line description (the doc tag).
	Doc string
	// Index is the field's index path in Entity.Type, for
	// reflect.Value.FieldByIndex (embedded structs make it longer than one).
	Index []int

	re *regexp.Regexp
}

// AllowsValue reports whether s, the JSON text of one value of f (one
// element for a strings or enums field, the digits of an int, "true" or
// "false" for a bool, the unquoted text of a string kind), is valid for f.
// It is meant for checks at mapping compile time, such as constants and
// code-table outputs; it is not fast. It reports false for an object field,
// whose values have no single text form.
func (f *Field) AllowsValue(s string) bool {
	switch f.Kind {
	case KindString, KindStrings, KindMoney:
		return f.re == nil || f.re.MatchString(s)
	case KindEnum, KindEnums:
		return slices.Contains(f.Enum, s)
	case KindCode:
		if f.Enum != nil && !slices.Contains(f.Enum, s) {
			return false
		}
		return f.re == nil || f.re.MatchString(s)
	case KindInt:
		n, err := strconv.Atoi(s)
		if err != nil || (f.Min != nil && n < *f.Min) || (f.Max != nil && n > *f.Max) {
			return false
		}
		return true
	case KindNumber:
		return isJSONNumber(s)
	case KindDate:
		_, err := time.Parse(time.DateOnly, s)
		return err == nil
	case KindDateTime:
		_, err := time.Parse(time.RFC3339, s)
		return err == nil
	case KindBool:
		return s == "true" || s == "false"
	}
	return false
}

// isJSONNumber reports whether s is a number in JSON's grammar.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == len(s)
}

// Entity describes one canonical entity. Entities are built once, shared,
// and must not be modified.
type Entity struct {
	// Name is the entity name ("settlement").
	Name string
	// Schema is the schema name carried in envelopes ("hp.settlement/v1").
	Schema string
	// Topic is the topic name without the deployment's prefix
	// ("settlement.v1").
	Topic string
	// Doc is a one-line description.
	Doc string
	// Derived entities are produced by hpgate's identity stages, not mapped
	// from a source.
	Derived bool
	// PersonKeyed entities carry person_key, their Kafka key. Only household
	// is not: it is keyed by household_key.
	PersonKeyed bool
	// Fields lists every field, embedded ones included, sorted by name.
	Fields []Field
	// Type is the Go struct type, the source of truth.
	Type reflect.Type

	props []prop // Fields with the nested structure of derived entities
}

// Field returns the field called name.
func (e *Entity) Field(name string) (*Field, bool) {
	i, ok := slices.BinarySearchFunc(e.Fields, name, func(f Field, n string) int {
		return strings.Compare(f.Name, n)
	})
	if !ok {
		return nil, false
	}
	return &e.Fields[i], true
}

// Required returns the names of the required fields, sorted.
func (e *Entity) Required() []string {
	var names []string
	for i := range e.Fields {
		if e.Fields[i].Required {
			names = append(names, e.Fields[i].Name)
		}
	}
	return names
}

// Version is the version of the canonical schema this package describes.
const Version = "v1"

type entityDef struct {
	name    string
	typ     reflect.Type
	derived bool
	doc     string
}

// entityDefs lists the entities. Adding an entity means adding its struct
// and a line here.
func entityDefs() []entityDef {
	return []entityDef{
		{"chronic_card", reflect.TypeFor[ChronicCard](), false, "Outpatient special chronic-disease card (门诊特殊慢性病卡 / 特慢病服务证)"},
		{"contract", reflect.TypeFor[Contract](), false, "Family-doctor service contract (家庭医生签约)"},
		{"discrepancy", reflect.TypeFor[Discrepancy](), true, "Derived: two systems disagree about a person's identity flags or cause of poverty"},
		{"identity", reflect.TypeFor[IdentityView](), true, "Derived: one person's identity flags as every system holds them, with dated episodes and the authority per fact"},
		{"encounter", reflect.TypeFor[Encounter](), false, "Outpatient visit or inpatient stay recorded by the HIS"},
		{"enrollment", reflect.TypeFor[Enrollment](), false, "Enrolment in a medical-insurance scheme for one year (参保), with the poverty mark"},
		{"followup", reflect.TypeFor[Followup](), false, "Follow-up visit of a managed chronic condition (随访)"},
		{"health_check", reflect.TypeFor[HealthCheck](), false, "Health check-up (健康体检)"},
		{"health_record", reflect.TypeFor[HealthRecord](), false, "Electronic health record (电子健康档案)"},
		{"household", reflect.TypeFor[Household](), false, "Registry household (户) with its poverty status and cause"},
		{"person", reflect.TypeFor[Person](), false, "A resident as one system sees them: identity, household and identity flags (身份标识)"},
		{"policy_alert", reflect.TypeFor[PolicyAlert](), true, "Derived: a settlement or record breaks a policy rule"},
		{"settlement", reflect.TypeFor[Settlement](), false, "One-stop settlement of one encounter (一站式结算): costs and one amount per payer layer"},
		{"settlement_enriched", reflect.TypeFor[SettlementEnriched](), true, "Derived: a settlement with the person's identity flags on the service date and the rules it broke"},
		{"treatment", reflect.TypeFor[Treatment](), false, "Case tracked under 三个一批 (major disease, chronic contract, severe backstop)"},
	}
}

type entityTable struct {
	list     []*Entity
	byName   map[string]*Entity
	bySchema map[string]*Entity
}

var table = sync.OnceValue(func() *entityTable {
	t, err := buildTable(entityDefs())
	if err != nil {
		// The struct tags are code: a bad one is a programmer error that
		// every test of this package reports.
		panic("canonical: " + err.Error())
	}
	return t
})

func buildTable(defs []entityDef) (*entityTable, error) {
	t := &entityTable{
		byName:   make(map[string]*Entity, len(defs)),
		bySchema: make(map[string]*Entity, len(defs)),
	}
	for _, d := range defs {
		// Derived entities, written by hpgate and never mapped, may nest
		// objects; mapped entities stay flat.
		props, err := describe(d.typ, d.derived)
		if err != nil {
			return nil, err
		}
		e := &Entity{
			Name:    d.name,
			Schema:  "hp." + d.name + "/" + Version,
			Topic:   d.name + "." + Version,
			Doc:     d.doc,
			Derived: d.derived,
			Type:    d.typ,
			Fields:  make([]Field, len(props)),
			props:   props,
		}
		for i, p := range props {
			e.Fields[i] = p.Field
		}
		_, e.PersonKeyed = e.Field("person_key")
		if _, dup := t.byName[e.Name]; dup {
			return nil, fmt.Errorf("entity %s listed twice", e.Name)
		}
		t.list = append(t.list, e)
		t.byName[e.Name] = e
		t.bySchema[e.Schema] = e
	}
	slices.SortFunc(t.list, func(a, b *Entity) int { return strings.Compare(a.Name, b.Name) })
	return t, nil
}

// Entities returns every canonical entity, sorted by name. The table is
// built by reflection on first use; it is for compiling mappings and for
// tooling, not for the per-record path.
func Entities() []*Entity {
	return slices.Clone(table().list)
}

// Lookup returns the entity called name ("settlement").
func Lookup(name string) (*Entity, bool) {
	e, ok := table().byName[name]
	return e, ok
}

// LookupSchema returns the entity whose schema name is schema
// ("hp.settlement/v1").
func LookupSchema(schema string) (*Entity, bool) {
	e, ok := table().bySchema[schema]
	return e, ok
}

// prop is a field with what the JSON Schema generator needs beyond the
// field table: the fields of a nested struct (envelope source) or the mark
// of a free-form JSON object (envelope data). Entities have neither.
type prop struct {
	Field
	sub []prop
	raw bool
}

var (
	typeInt       = reflect.TypeFor[*int]()
	typeBool      = reflect.TypeFor[*bool]()
	typeNumber    = reflect.TypeFor[json.Number]()
	typeStrings   = reflect.TypeFor[[]string]()
	typeObject    = reflect.TypeFor[map[string]string]()
	typeRawObject = reflect.TypeFor[json.RawMessage]()
)

// describe reads the fields of struct type t, embedded structs included,
// from their tags and checks them. Value types (envelope, DLQ) and derived
// entities (nested is true) may nest a struct or carry raw JSON in an object
// field, and may hold an array of structs in an objects field; mapped
// entities may not.
func describe(t reflect.Type, nested bool) ([]prop, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s is not a struct", t)
	}
	var props []prop
	seen := map[string]bool{}
	for _, sf := range reflect.VisibleFields(t) {
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			continue // its fields are visible too
		}
		where := t.Name() + "." + sf.Name
		if !sf.IsExported() {
			return nil, fmt.Errorf("%s: unexported field", where)
		}
		p, err := describeField(sf, nested)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("%s: json name %q used twice", where, p.Name)
		}
		seen[p.Name] = true
		props = append(props, p)
	}
	slices.SortFunc(props, func(a, b prop) int { return strings.Compare(a.Name, b.Name) })
	return props, nil
}

func describeField(sf reflect.StructField, nested bool) (prop, error) {
	var p prop
	name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
	if name == "" || name == "-" {
		return p, fmt.Errorf("json tag names no field")
	}
	if o := strings.Split(opts, ","); !slices.Contains(o, "omitempty") && !slices.Contains(o, "omitzero") {
		return p, fmt.Errorf("json tag of %s lacks omitempty: an unmapped field must be absent", name)
	}
	hp, ok := sf.Tag.Lookup("hp")
	if !ok {
		return p, fmt.Errorf("%s has no hp tag", name)
	}
	f, err := parseTag(hp)
	if err != nil {
		return p, fmt.Errorf("hp tag of %s: %w", name, err)
	}
	f.Name = name
	f.Doc = sf.Tag.Get("doc")
	f.Index = sf.Index
	if f.Doc == "" {
		return p, fmt.Errorf("%s has no doc tag", name)
	}
	p.Field = f
	var want reflect.Type
	switch f.Kind {
	case KindString, KindEnum, KindCode, KindMoney, KindDate, KindDateTime:
		want = reflect.TypeFor[string]()
	case KindInt:
		want = typeInt
	case KindNumber:
		want = typeNumber
	case KindBool:
		want = typeBool
	case KindStrings, KindEnums:
		want = typeStrings
	case KindObject:
		want = typeObject
		switch {
		case nested && sf.Type == typeRawObject:
			p.raw = true
			return p, nil
		case nested && sf.Type.Kind() == reflect.Struct:
			sub, err := describe(sf.Type, nested)
			if err != nil {
				return p, err
			}
			p.sub = sub
			return p, nil
		}
	case KindObjects:
		if !nested || sf.Type.Kind() != reflect.Slice || sf.Type.Elem().Kind() != reflect.Struct {
			return p, fmt.Errorf("%s: kind objects needs a slice of structs in a derived entity or value, not %s", name, sf.Type)
		}
		sub, err := describe(sf.Type.Elem(), nested)
		if err != nil {
			return p, err
		}
		p.sub = sub
		return p, nil
	}
	if sf.Type != want {
		return p, fmt.Errorf("%s: kind %s needs Go type %s, not %s", name, f.Kind, want, sf.Type)
	}
	return p, nil
}

// parseTag parses an hp tag: KIND[,required][,pii][,enum=a|b][,min=N][,max=N][,pattern=REGEX].
// pattern takes the rest of the tag, commas included, so it comes last.
func parseTag(tag string) (Field, error) {
	var f Field
	word, rest, _ := strings.Cut(tag, ",")
	k, ok := parseKind(word)
	if !ok {
		return f, fmt.Errorf("unknown kind %q", word)
	}
	f.Kind = k
	for rest != "" {
		if p, ok := strings.CutPrefix(rest, "pattern="); ok {
			f.Pattern = p
			break
		}
		var opt string
		opt, rest, _ = strings.Cut(rest, ",")
		key, val, hasVal := strings.Cut(opt, "=")
		switch {
		case opt == "required":
			f.Required = true
		case opt == "pii":
			f.PII = true
		case key == "enum" && hasVal:
			f.Enum = strings.Split(val, "|")
		case (key == "min" || key == "max") && hasVal:
			n, err := strconv.Atoi(val)
			if err != nil {
				return f, fmt.Errorf("option %s: %w", opt, err)
			}
			if key == "min" {
				f.Min = &n
			} else {
				f.Max = &n
			}
		default:
			return f, fmt.Errorf("unknown option %q", opt)
		}
	}
	if err := checkField(&f); err != nil {
		return f, err
	}
	return f, nil
}

// checkField checks that the options fit the kind and compiles the pattern.
func checkField(f *Field) error {
	switch f.Kind {
	case KindEnum, KindEnums:
		if len(f.Enum) == 0 {
			return fmt.Errorf("kind %s needs enum=", f.Kind)
		}
	case KindCode:
		if len(f.Enum) == 0 && f.Pattern == "" {
			return fmt.Errorf("kind code needs pattern= or enum=")
		}
	default:
		if f.Enum != nil {
			return fmt.Errorf("kind %s takes no enum", f.Kind)
		}
	}
	for i, v := range f.Enum {
		if v == "" || slices.Contains(f.Enum[:i], v) {
			return fmt.Errorf("enum value %q empty or repeated", v)
		}
	}
	if (f.Min != nil || f.Max != nil) && f.Kind != KindInt {
		return fmt.Errorf("kind %s takes no min or max", f.Kind)
	}
	if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
		return fmt.Errorf("min %d above max %d", *f.Min, *f.Max)
	}
	switch f.Kind {
	case KindString, KindCode, KindStrings:
	case KindMoney:
		if f.Pattern != "" {
			return fmt.Errorf("kind money has a fixed pattern")
		}
		f.Pattern = MoneyPattern
	default:
		if f.Pattern != "" {
			return fmt.Errorf("kind %s takes no pattern", f.Kind)
		}
	}
	if f.Pattern != "" {
		re, err := regexp.Compile(f.Pattern)
		if err != nil {
			return fmt.Errorf("pattern: %w", err)
		}
		f.re = re
		for _, v := range f.Enum {
			if !re.MatchString(v) {
				return fmt.Errorf("enum value %q does not match the pattern", v)
			}
		}
	}
	return nil
}
