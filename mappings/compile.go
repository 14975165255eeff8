package mappings

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/codetable"
	"github.com/hpgate/hpgate/mappings/normalize"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/mappings/yamlfile"
)

// Options tune compilation.
type Options struct {
	// Key is the deployment's pseudonymisation key. The default is the
	// fixture key pii.TestKey(), which is right for `check` and `test` only.
	Key *pii.Key
	// Connector overrides the source instance name written into envelopes
	// (the default is the mapping's `source`).
	Connector string
}

// Mapping is a compiled mapping file. It is immutable and safe for
// concurrent use; per-goroutine state lives in a Result.
type Mapping struct {
	Name   string
	File   string
	County string
	// System is the source system: his, public_health, insurance or registry.
	System string
	// Source is the source instance of the config file this mapping reads.
	Source string
	Entity *canonical.Entity
	// Stream is what the source reads for this mapping.
	Stream connectors.Stream
	// Fingerprint identifies the cursor columns, table or query and row
	// filter: a checkpoint is only valid for the fingerprint it was taken
	// under. Field rules are not part of it.
	Fingerprint string
	// Fixtures are the file's `tests:`.
	Fixtures []Fixture
	// Headers are the Kafka headers every record of this mapping carries.
	Headers []connectors.Header
	// SourceLine and SourceCol locate the `source` key, for errors found
	// against the config file.
	SourceLine, SourceCol int

	key      *pii.Key
	zone     *time.Location
	columns  []string // source columns referenced, by ref id
	colRef   map[string]int
	piiCols  []bool // by ref id
	keyRefs  []int
	tsRef    int // -1 without a cursor timestamp
	tsFbRef  int // -1 without a fallback timestamp
	filter   *program
	op       *program
	exprCols []int // ref ids the expressions read
	identity *identityPlan
	unknown  *unknownCheck // undeclared pivot codes reject the row
	tables   *Tables       // detail: and lookups:, nil for a one-table mapping
	plans    []*fieldPlan  // sorted by field name
	occurred *fieldPlan    // the field that gives occurred_at, if any

	envPrefix []byte // `{"schema":"…","id":"`
	envSource []byte // `","county":"…","source":{"system":…,"connector":…,"mapping":…,"position":"`
	idPrefix  []byte // `<system>:<county>:`
}

type identityPlan struct {
	idRef       int
	fallbackRef int // -1 without fallback
	withRefs    []int
}

type valueFrom uint8

const (
	fromColumn valueFrom = iota
	fromConst
	fromExpr
	fromAuto
)

type fieldPlan struct {
	field    *canonical.Field
	jsonKey  []byte // `"name":`
	from     valueFrom
	auto     autoKind
	ref      int
	konst    any
	prog     *program
	code     *codetable.Table
	codeDef  *string
	def      any // value for NULL/blank, nil for none
	unit     normalize.Unit
	layouts  []string
	enc      normalize.Encoding
	sep      string
	required bool
	pii      bool
	hashKey  hashKind
	enum     map[string]struct{}
	pattern  *regexp.Regexp
	// isRecordKey marks the household_key of a household: the Kafka key.
	isRecordKey bool
}

type autoKind uint8

const (
	autoNone autoKind = iota
	autoPersonKey
	autoIDMasked
	autoIDQuality
	autoCounty
	autoSourceSystem
	autoSourceID
	autoUpdatedAt
	autoBirthYear
	autoGender
)

type hashKind uint8

const (
	hashNone hashKind = iota
	hashPerson
	hashValue
)

var (
	systems     = []string{"his", "public_health", "insurance", "registry"}
	reCounty    = regexp.MustCompile(`^[0-9]{6}$`)
	reName      = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	reZone      = regexp.MustCompile(`^([+-])([0-9]{2}):([0-9]{2})$`)
	occurredFor = map[string]string{
		"settlement": "settled_at", "encounter": "admitted_at", "followup": "followed_on",
		"health_check": "checked_on", "contract": "signed_on", "chronic_card": "issued_on",
		"enrollment": "enrolled_on", "treatment": "identified_on", "health_record": "created_on",
		"person": "status_since", "household": "status_since",
	}
)

// ParseZone reads a fixed offset such as "+08:00" (the default when s is
// empty). Fixed offsets need no zone database, which many servers lack.
func ParseZone(s string) (*time.Location, error) {
	if s == "" {
		return normalize.CST(), nil
	}
	m := reZone.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("time zone %q must be a fixed offset such as +08:00", s)
	}
	h := int(m[2][0]-'0')*10 + int(m[2][1]-'0')
	mi := int(m[3][0]-'0')*10 + int(m[3][1]-'0')
	off := h*3600 + mi*60
	if m[1] == "-" {
		off = -off
	}
	if h > 14 || mi > 59 {
		return nil, fmt.Errorf("time zone %q is out of range", s)
	}
	if off == 8*3600 {
		return normalize.CST(), nil
	}
	return time.FixedZone("UTC"+s, off), nil
}

// compiler gathers the problems of one file.
type compiler struct {
	doc  *yamlfile.Document
	errs yamlfile.Errors
	m    *Mapping
	spec *fileSpec
	// query is the SELECT generated from detail and lookups, if any.
	query string
}

func (c *compiler) errorf(path []string, format string, args ...any) {
	c.errs = append(c.errs, c.doc.Errorf(c.doc.Lookup(path...), format, args...))
}

func (c *compiler) keyErrorf(path []string, format string, args ...any) {
	c.errs = append(c.errs, c.doc.Errorf(c.doc.LookupKey(path...), format, args...))
}

// ref returns the reference id of a source column, adding it.
func (c *compiler) ref(col string) int {
	if i, ok := c.m.colRef[col]; ok {
		return i
	}
	i := len(c.m.columns)
	c.m.columns = append(c.m.columns, col)
	c.m.colRef[col] = i
	c.m.piiCols = append(c.m.piiCols, false)
	return i
}

// Parse reads and compiles one mapping file.
func Parse(path string, data []byte, opts Options) (*Mapping, error) {
	doc, errs := yamlfile.Parse(path, data)
	if errs != nil {
		return nil, errs
	}
	m, errs := Compile(doc, opts)
	if errs != nil {
		return nil, errs
	}
	return m, nil
}

// Compile checks a parsed mapping file and builds its Mapping. Every
// problem of the file is returned, each at its position.
func Compile(doc *yamlfile.Document, opts Options) (*Mapping, yamlfile.Errors) {
	var spec fileSpec
	// Keep going after decode errors: the keys that did decode are still
	// checked, so one run reports every problem of the file.
	decodeErrs := doc.Decode(&spec)
	if opts.Key == nil {
		opts.Key = pii.TestKey()
	}
	c := &compiler{doc: doc, spec: &spec, m: &Mapping{
		Name: spec.Name, File: doc.File, County: spec.County, System: spec.System,
		Source: spec.Source, key: opts.Key, colRef: map[string]int{}, tsRef: -1, tsFbRef: -1,
	}}
	c.errs = decodeErrs
	c.header()
	c.cursor()
	c.identity()
	tables := c.codes()
	c.expressions()
	c.fields(tables)
	c.fixtures()
	c.expressionColumns()
	c.multiTable()
	if len(c.errs) > 0 {
		c.errs.Sort()
		return nil, c.errs
	}
	c.finish(opts)
	return c.m, nil
}

func (c *compiler) header() {
	s, m := c.spec, c.m
	if s.Kind != "mapping" {
		c.errorf([]string{"kind"}, "kind must be mapping")
	}
	if s.Name == "" {
		c.keyErrorf(nil, "missing name: give the mapping a unique name such as jimo-ins-settlement")
	} else if !reName.MatchString(s.Name) {
		c.errorf([]string{"name"}, "name %q must be lower-case letters, digits, '-', '_' or '.'", s.Name)
	}
	if !reCounty.MatchString(s.County) {
		c.errorf([]string{"county"}, "county must be the 6-digit GB/T 2260 code, quoted (e.g. \"370282\")")
	}
	if !slices.Contains(systems, s.System) {
		c.errorf([]string{"system"}, "system must be one of %s", strings.Join(systems, ", "))
	}
	if s.Source == "" {
		c.keyErrorf(nil, "missing source: name the source instance of the config file")
	} else {
		n := c.doc.Lookup("source")
		m.SourceLine, m.SourceCol = n.Line, n.Column
	}
	e, ok := canonical.Lookup(s.Entity)
	switch {
	case s.Entity == "":
		c.keyErrorf(nil, "missing entity: name the canonical entity this mapping produces")
	case !ok:
		c.errorf([]string{"entity"}, "unknown entity %q; known: %s", s.Entity, entityNames())
	case e.Derived:
		c.errorf([]string{"entity"}, "entity %s is derived by hpgate and cannot be mapped", s.Entity)
	default:
		m.Entity = e
	}
	switch {
	case s.Table == "" && s.Query == "":
		c.keyErrorf(nil, "missing table: name the source table (or give a query)")
	case s.Table != "" && s.Query != "":
		c.errorf([]string{"query"}, "give table or query, not both")
	}
	zone, err := ParseZone(s.TimeZone)
	if err != nil {
		c.errorf([]string{"time_zone"}, "%v", err)
		zone = normalize.CST()
	}
	m.zone = zone
	for i, col := range s.PIIColumns {
		if col == "" {
			c.errorf([]string{"pii_columns", fmt.Sprint(i)}, "empty column name")
			continue
		}
		m.piiCols[c.ref(col)] = true
	}
}

func entityNames() string {
	var names []string
	for _, e := range canonical.Entities() {
		if !e.Derived {
			names = append(names, e.Name)
		}
	}
	return strings.Join(names, ", ")
}

func (c *compiler) cursor() {
	cur := c.spec.Cursor
	switch cur.Mode {
	case "incremental":
		if cur.Timestamp == "" {
			c.keyErrorf([]string{"cursor"}, "incremental cursor needs a timestamp column")
		} else {
			c.m.tsRef = c.ref(cur.Timestamp)
		}
	case "snapshot":
		if cur.Timestamp != "" {
			c.errorf([]string{"cursor", "timestamp"}, "a snapshot cursor has no timestamp; use mode: incremental")
		}
		if cur.FallbackTimestamp != "" {
			c.errorf([]string{"cursor", "fallback_timestamp"}, "a snapshot cursor has no timestamp; use mode: incremental")
		}
	case "":
		c.keyErrorf([]string{"cursor"}, "cursor needs mode: incremental or snapshot")
	default:
		c.errorf([]string{"cursor", "mode"}, "cursor mode must be incremental or snapshot")
	}
	if cur.FallbackTimestamp != "" && cur.Mode == "incremental" {
		c.m.tsFbRef = c.ref(cur.FallbackTimestamp)
	}
	if len(cur.Keys) == 0 {
		c.keyErrorf([]string{"cursor"}, "cursor needs keys: the unique key columns of a row")
	}
	for i, k := range cur.Keys {
		if k == "" {
			c.errorf([]string{"cursor", "keys", fmt.Sprint(i)}, "empty key column")
			continue
		}
		c.m.keyRefs = append(c.m.keyRefs, c.ref(k))
	}
}

func (c *compiler) identity() {
	id, e := c.spec.Identity, c.m.Entity
	if e == nil {
		return
	}
	if !e.PersonKeyed {
		if id != nil {
			c.keyErrorf([]string{"identity"}, "entity %s is keyed by its household_key, not a person: remove identity", e.Name)
		}
		return
	}
	if id == nil || id.IDCard == "" {
		c.keyErrorf(nil, "missing identity: name the column holding the resident ID number (identity: {id_card: COLUMN})")
		return
	}
	p := &identityPlan{idRef: c.ref(id.IDCard), fallbackRef: -1}
	c.m.piiCols[p.idRef] = true
	if fb := id.Fallback; fb != nil {
		if fb.IDCard == "" {
			c.keyErrorf([]string{"identity", "fallback"}, "fallback needs id_card: the column of the ID that stands in (e.g. the mother's)")
		} else {
			p.fallbackRef = c.ref(fb.IDCard)
			c.m.piiCols[p.fallbackRef] = true
		}
		if len(fb.With) == 0 {
			c.keyErrorf([]string{"identity", "fallback"}, "fallback needs with: columns that tell apart people sharing that ID (e.g. birth order)")
		}
		for _, w := range fb.With {
			p.withRefs = append(p.withRefs, c.ref(w))
		}
	}
	c.m.identity = p
}

func (c *compiler) codes() map[string]*codeRef {
	tables := make(map[string]*codeRef, len(c.spec.Codes))
	for name, cs := range c.spec.Codes {
		path := []string{"codes", name}
		var t *codetable.Table
		switch {
		case cs.File != "" && cs.Values != nil:
			c.errorf(path, "code table %s: give file or values, not both", name)
			continue
		case cs.File != "":
			p := cs.File
			if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(c.doc.File), p)
			}
			var err error
			if t, err = codetable.ReadCSVFile(name, p); err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					c.errorf(append(path, "file"), "code table %s (%s): %s", name, cs.File, strings.TrimPrefix(line, "open "+p+": "))
				}
				continue
			}
		case cs.Values != nil:
			t = codetable.FromMap(name, cs.Values)
		default:
			c.keyErrorf(path, "code table %s needs file or values", name)
			continue
		}
		tables[name] = &codeRef{table: t, def: cs.Default}
	}
	return tables
}

type codeRef struct {
	table *codetable.Table
	def   *string
	used  bool
}

func (c *compiler) expressions() {
	if c.spec.Filter != "" {
		p, err := compileExpr(c.spec.Filter, kindBool)
		if err != nil {
			c.errorf([]string{"filter"}, "filter: %v", err)
		}
		c.m.filter = p
	}
	if c.spec.Op != "" {
		p, err := compileExpr(c.spec.Op, kindString)
		if err != nil {
			c.errorf([]string{"op"}, "op: %v", err)
		}
		c.m.op = p
	}
}

func (c *compiler) fields(tables map[string]*codeRef) {
	e := c.m.Entity
	if e == nil {
		return
	}
	if len(c.spec.Fields) == 0 {
		c.keyErrorf(nil, "missing fields: map at least the required fields of %s", e.Name)
	}
	mapped := map[string]*fieldPlan{}
	attempted := map[string]bool{} // rules written, even if invalid
	for _, name := range sortedKeys(c.spec.Fields) {
		attempted[name] = true
		node := c.spec.Fields[name]
		f, ok := e.Field(name)
		if !ok {
			c.keyErrorf([]string{"fields", name}, "unknown field %q of %s; known: %s", name, e.Name, fieldNames(e))
			continue
		}
		if auto := autoOf(e, f.Name); auto != autoNone && auto != autoUpdatedAt && auto != autoBirthYear && auto != autoGender {
			c.keyErrorf([]string{"fields", name}, "%s is filled by hpgate (from identity, county, system and cursor keys); remove this rule", name)
			continue
		}
		if p := c.rule(f, &node, []string{"fields", name}, tables); p != nil {
			mapped[name] = p
		}
	}
	for name, t := range tables {
		if !t.used {
			c.keyErrorf([]string{"codes", name}, "code table %s is not used by any field", name)
		}
	}
	for i := range e.Fields {
		f := &e.Fields[i]
		p, ok := mapped[f.Name]
		if !ok {
			p = c.autoPlan(f)
		}
		if p == nil {
			if f.Required && !attempted[f.Name] {
				c.keyErrorf([]string{"fields"}, "required field %s of %s is not mapped", f.Name, e.Name)
			}
			continue
		}
		p.field = f
		p.isRecordKey = f.Name == "household_key" && !e.PersonKeyed
		p.jsonKey = append(canonical.AppendString(nil, f.Name), ':')
		p.required = p.required || f.Required
		c.m.plans = append(c.m.plans, p)
		if f.Name == occurredFor[e.Name] {
			c.m.occurred = p
		}
	}
}

func fieldNames(e *canonical.Entity) string {
	var names []string
	for _, f := range e.Fields {
		if autoOf(e, f.Name) == autoNone {
			names = append(names, f.Name)
		}
	}
	return strings.Join(names, ", ")
}

func autoOf(e *canonical.Entity, name string) autoKind {
	switch name {
	case "person_key":
		return autoPersonKey
	case "id_masked":
		return autoIDMasked
	case "id_quality":
		return autoIDQuality
	case "county":
		return autoCounty
	case "source_system":
		return autoSourceSystem
	case "source_id":
		return autoSourceID
	case "updated_at":
		return autoUpdatedAt
	}
	if e.Name == "person" {
		switch name {
		case "birth_year":
			return autoBirthYear
		case "gender":
			return autoGender
		}
	}
	return autoNone
}

// autoPlan returns the plan of a field hpgate fills itself, or nil.
func (c *compiler) autoPlan(f *canonical.Field) *fieldPlan {
	a := autoOf(c.m.Entity, f.Name)
	switch a {
	case autoNone:
		return nil
	case autoPersonKey, autoIDMasked, autoIDQuality, autoBirthYear, autoGender:
		if c.m.identity == nil {
			return nil
		}
	case autoUpdatedAt:
		if c.m.tsRef < 0 {
			return nil
		}
		// The cursor timestamp, parsed once per row in mapRow.
		return &fieldPlan{from: fromAuto, auto: a}
	}
	return &fieldPlan{from: fromAuto, auto: a}
}

func (c *compiler) rule(f *canonical.Field, node *yamlfile.Node, path []string, tables map[string]*codeRef) *fieldPlan {
	var rs ruleSpec
	if node.Kind == yamlfile.ScalarNode {
		rs.Column = node.Value
	} else if errs := yamlfile.DecodeNode(c.doc.File, node, &rs); errs != nil {
		c.errs = append(c.errs, errs...)
		return nil
	}
	p := &fieldPlan{required: rs.Required, pii: rs.PII}
	n := 0
	if rs.Column != "" {
		n++
		p.from, p.ref = fromColumn, c.ref(rs.Column)
		if rs.PII {
			c.m.piiCols[p.ref] = true
		}
	}
	if rs.Const.Kind != 0 {
		n++
		p.from, p.konst = fromConst, constValue(&rs.Const)
	}
	if rs.Expr != "" {
		n++
		prog, err := compileExpr(rs.Expr, kindAny)
		if err != nil {
			c.errorf(append(path, "expr"), "%s: %v", f.Name, err)
			return nil
		}
		p.from, p.prog = fromExpr, prog
	}
	if n != 1 {
		c.errorf(path, "%s: give exactly one of column, const or expr", f.Name)
		return nil
	}
	ok := true
	bad := func(key, format string, args ...any) {
		c.errorf(append(path, key), format, args...)
		ok = false
	}
	if rs.Default.Kind != 0 {
		p.def = constValue(&rs.Default)
	}
	if rs.Unit != "" {
		switch {
		case f.Kind != canonical.KindMoney:
			bad("unit", "%s: unit applies to money fields only", f.Name)
		case rs.Unit == "yuan":
			p.unit = normalize.Yuan
		case rs.Unit == "fen":
			p.unit = normalize.FenUnit
		default:
			bad("unit", "%s: unit must be yuan or fen", f.Name)
		}
	}
	if rs.Layout != "" {
		if f.Kind != canonical.KindDate && f.Kind != canonical.KindDateTime {
			bad("layout", "%s: layout applies to date and datetime fields only", f.Name)
		}
		p.layouts = []string{rs.Layout}
	}
	if rs.Encoding != "" {
		enc, err := normalize.ParseEncoding(rs.Encoding)
		if err != nil {
			bad("encoding", "%s: %v", f.Name, err)
		}
		p.enc = enc
	}
	if rs.Separator != "" && f.Kind != canonical.KindStrings && f.Kind != canonical.KindEnums {
		bad("separator", "%s: separator applies to list fields only", f.Name)
	}
	p.sep = rs.Separator
	if rs.PII && f.Kind != canonical.KindString {
		bad("pii", "%s: pii masking applies to text fields only", f.Name)
	}
	if f.Kind == canonical.KindObject {
		bad("", "%s is an object filled by hpgate and cannot be mapped", f.Name)
	}
	if len(f.Enum) > 0 {
		p.enum = make(map[string]struct{}, len(f.Enum))
		for _, v := range f.Enum {
			p.enum[v] = struct{}{}
		}
	}
	if f.Pattern != "" {
		p.pattern = regexp.MustCompile(f.Pattern)
	}
	switch {
	case strings.HasSuffix(f.Name, "person_key"):
		p.hashKey = hashPerson
		c.markPII(p)
	case strings.HasSuffix(f.Name, "_key"):
		p.hashKey = hashValue
	case strings.HasSuffix(f.Name, "id_masked"):
		c.markPII(p)
	}
	if rs.Code != "" {
		t, found := tables[rs.Code]
		if !found {
			bad("code", "%s: no code table %q under codes", f.Name, rs.Code)
		} else {
			t.used = true
			p.code, p.codeDef = t.table, t.def
			if p.enum != nil {
				vals := t.table.Values()
				if t.def != nil {
					vals = append(vals, *t.def)
				}
				for _, v := range vals {
					if _, in := p.enum[v]; !in {
						bad("code", "%s: code table %s gives %q, which is not one of %s", f.Name, rs.Code, v, strings.Join(f.Enum, ", "))
						break
					}
				}
			}
		}
	}
	if !ok {
		return nil
	}
	return p
}

func (c *compiler) markPII(p *fieldPlan) {
	if p.from == fromColumn {
		c.m.piiCols[p.ref] = true
	}
}

func (c *compiler) finish(opts Options) {
	m, s := c.m, c.spec
	m.Stream = connectors.Stream{
		Name: m.Name, Table: s.Table, Query: s.Query, Mode: s.Cursor.Mode,
		TimestampColumn: s.Cursor.Timestamp, TimestampFallback: s.Cursor.FallbackTimestamp, KeyColumns: s.Cursor.Keys,
		Columns: slices.Clone(m.columns),
	}
	if c.query != "" {
		// The generated SELECT names exactly the columns the mapping
		// reads; the source selects them all (hpgate_q.*), so their
		// names are never quoted, and folded by the database like the
		// unquoted names of the query.
		m.Stream.Table, m.Stream.Query, m.Stream.Columns = "", c.query, nil
	}

	h := sha256.New()
	fmt.Fprintf(h, "table=%s\nquery=%s\nmode=%s\nts=%s\nkeys=%s\nfilter=%s\n",
		s.Table, s.Query, s.Cursor.Mode, s.Cursor.Timestamp, strings.Join(s.Cursor.Keys, ","), s.Filter)
	if s.Cursor.FallbackTimestamp != "" { // kept out when unset: earlier fingerprints stay valid
		fmt.Fprintf(h, "ts_fallback=%s\n", s.Cursor.FallbackTimestamp)
	}
	m.Fingerprint = "v1:" + hex.EncodeToString(h.Sum(nil))[:16]

	connector := m.Source
	if opts.Connector != "" {
		connector = opts.Connector
	}
	e := m.Entity
	m.envPrefix = fmt.Appendf(nil, `{"schema":%s,"id":"`, canonical.AppendString(nil, e.Schema))
	m.envSource = append([]byte(`","county":`), canonical.AppendString(nil, m.County)...)
	m.envSource = append(m.envSource, `,"source":{"system":`...)
	m.envSource = canonical.AppendString(m.envSource, m.System)
	m.envSource = append(m.envSource, `,"connector":`...)
	m.envSource = canonical.AppendString(m.envSource, connector)
	m.envSource = append(m.envSource, `,"mapping":`...)
	m.envSource = canonical.AppendString(m.envSource, m.Name)
	m.envSource = append(m.envSource, `,"position":"`...)
	m.idPrefix = []byte(m.System + ":" + m.County + ":")
	m.Headers = []connectors.Header{
		{Key: "schema", Value: []byte(e.Schema)},
		{Key: "county", Value: []byte(m.County)},
		{Key: "source_system", Value: []byte(m.System)},
	}
}

// expressionColumns adds every column the expressions mention: they read
// columns by name.
func (c *compiler) expressionColumns() {
	m := c.m
	for _, p := range []*program{m.filter, m.op} {
		c.exprRefs(p)
	}
	for _, p := range m.plans {
		c.exprRefs(p.prog)
	}
	slices.Sort(m.exprCols)
	m.exprCols = slices.Compact(m.exprCols)
}

func (c *compiler) exprRefs(p *program) {
	if p == nil {
		return
	}
	for _, name := range p.idents {
		c.m.exprCols = append(c.m.exprCols, c.ref(name))
	}
}

// Topic returns the Kafka topic of the mapping's entity under prefix.
func (m *Mapping) Topic(prefix string) string { return prefix + m.Entity.Topic }

// Columns returns the source columns the mapping reads.
func (m *Mapping) Columns() []string { return slices.Clone(m.columns) }

// IsPII reports whether a source column holds personal data (an identity
// column, a pii_columns entry, or the column of a pii rule).
func (m *Mapping) IsPII(col string) bool {
	i, ok := m.colRef[col]
	return ok && m.piiCols[i]
}

// Zone returns the zone naive source times are read in.
func (m *Mapping) Zone() *time.Location { return m.zone }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
