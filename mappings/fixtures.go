package mappings

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/yamlfile"
)

// Fixture is one `tests:` entry of a mapping file: an input row and what
// the mapping must make of it.
type Fixture struct {
	Name string
	Line int
	// Columns and Row are the input row.
	Columns []string
	Row     []any
	// Expect maps canonical fields to expected values (YAML nodes).
	Expect map[string]*yamlfile.Node
	// Op is the expected op ("" means upsert unless Reject or Filtered).
	Op       string
	Filtered bool
	Reject   *ExpectedRejection
}

// ExpectedRejection is the rejection a fixture expects.
type ExpectedRejection struct {
	Field string `yaml:"field"`
	Code  string `yaml:"code"`
}

type fixtureSpec struct {
	Name     string                   `yaml:"name"`
	Row      yamlfile.Node            `yaml:"row"`
	Expect   map[string]yamlfile.Node `yaml:"expect"`
	Op       string                   `yaml:"op"`
	Filtered bool                     `yaml:"filtered"`
	Reject   *ExpectedRejection       `yaml:"reject"`
}

func (c *compiler) fixtures() {
	for i := range c.spec.Tests {
		node := &c.spec.Tests[i]
		path := []string{"tests", strconv.Itoa(i)}
		var fs fixtureSpec
		if errs := yamlfile.DecodeNode(c.doc.File, node, &fs); errs != nil {
			c.errs = append(c.errs, errs...)
			continue
		}
		fx := Fixture{Name: fs.Name, Line: node.Line, Op: fs.Op, Filtered: fs.Filtered, Reject: fs.Reject}
		if fx.Name == "" {
			c.keyErrorf(path, "fixture needs a name")
		}
		outcomes := 0
		if fs.Expect != nil || fs.Op != "" {
			outcomes++
		}
		if fs.Filtered {
			outcomes++
		}
		if fs.Reject != nil {
			outcomes++
		}
		if outcomes != 1 {
			c.keyErrorf(path, "fixture %q: give one of expect (with op), reject or filtered: true", fx.Name)
		}
		if fs.Op != "" && fs.Op != "upsert" && fs.Op != "delete" {
			c.errorf(append(path, "op"), "op must be upsert or delete")
		}
		if fs.Row.Kind != yamlfile.MappingNode {
			c.keyErrorf(path, "fixture %q needs row: a mapping of source columns to values", fx.Name)
		} else {
			for j := 0; j+1 < len(fs.Row.Content); j += 2 {
				k, v := fs.Row.Content[j], fs.Row.Content[j+1]
				val, err := fixtureValue(v)
				if err != nil {
					c.errs = append(c.errs, c.doc.Errorf(v, "fixture %q, column %s: %v", fx.Name, k.Value, err))
					continue
				}
				fx.Columns = append(fx.Columns, k.Value)
				fx.Row = append(fx.Row, val)
			}
		}
		if e := c.m.Entity; e != nil {
			fx.Expect = make(map[string]*yamlfile.Node, len(fs.Expect))
			for name, n := range fs.Expect {
				if _, ok := e.Field(name); !ok {
					c.keyErrorf(append(path, "expect", name), "fixture %q expects unknown field %q of %s", fx.Name, name, e.Name)
					continue
				}
				n := n
				fx.Expect[name] = &n
			}
			if r := fs.Reject; r != nil && r.Field != "" {
				if _, ok := e.Field(r.Field); !ok {
					c.errorf(append(path, "reject", "field"), "fixture %q rejects unknown field %q of %s", fx.Name, r.Field, e.Name)
				}
			}
		}
		c.m.Fixtures = append(c.m.Fixtures, fx)
	}
}

// fixtureValue reads a fixture cell: raw text, null, or a one-key mapping
// giving a typed database value.
func fixtureValue(n *yamlfile.Node) (any, error) {
	switch n.Kind {
	case yamlfile.ScalarNode:
		if n.ShortTag() == "!!null" {
			return nil, nil
		}
		return n.Value, nil
	case yamlfile.MappingNode:
		if len(n.Content) != 2 {
			break
		}
		kind, s := n.Content[0].Value, n.Content[1].Value
		switch kind {
		case "datetime", "date":
			for _, layout := range []string{"2006-01-02 15:04:05.999999", "2006-01-02T15:04:05", time.DateOnly} {
				if t, err := time.Parse(layout, s); err == nil {
					return t, nil // naive, as drivers return DATE/DATETIME
				}
			}
			return nil, fmt.Errorf("%s %q is not like 2019-03-01 10:00:00", kind, s)
		case "decimal":
			if _, err := strconv.ParseFloat(s, 64); err != nil {
				return nil, fmt.Errorf("decimal %q is not a number", s)
			}
			return []byte(s), nil
		case "int":
			i, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("int %q is not a whole number", s)
			}
			return i, nil
		case "float":
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("float %q is not a number", s)
			}
			return f, nil
		case "gbk":
			b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
			if err != nil {
				return nil, fmt.Errorf("gbk: %v", err)
			}
			return b, nil
		case "hex":
			b, err := hex.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("hex: %v", err)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("a value is text, null, or one of {datetime: …}, {decimal: …}, {int: …}, {float: …}, {gbk: …}, {hex: …}")
}

// FixtureTime is the fixed "now" fixtures run at.
var FixtureTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// FixtureResult is the outcome of one fixture.
type FixtureResult struct {
	Mapping string
	File    string
	Fixture *Fixture
	// Problems is empty when the fixture passed; each entry is one
	// readable difference.
	Problems []string
	// What the mapping made of the row, whether or not the fixture passed:
	// Op and Data (the envelope's `data` object, which holds no clear ID)
	// for a record, Rejection for a rejected row, Filtered for a row the
	// filter skipped. All empty when the mapping could not run.
	Op        string
	Data      json.RawMessage
	Rejection *Rejection
	Filtered  bool
}

// Passed reports whether the fixture passed.
func (r *FixtureResult) Passed() bool { return len(r.Problems) == 0 }

// RunFixtures runs the mapping's fixtures. Outputs are also checked against
// the entity's JSON Schema.
func (m *Mapping) RunFixtures() []FixtureResult {
	out := make([]FixtureResult, 0, len(m.Fixtures))
	var res Result
	for i := range m.Fixtures {
		fx := &m.Fixtures[i]
		r := FixtureResult{Mapping: m.Name, File: m.File, Fixture: fx}
		res.Reset()
		// A fixture lists the columns it cares about; the others are NULL.
		cols, row := fx.Columns, fx.Row
		for _, c := range m.columns {
			if columnIndex(cols, c) < 0 {
				cols, row = append(slices.Clip(cols), c), append(slices.Clip(row), nil)
			}
		}
		b := &connectors.Batch{Columns: cols, Rows: [][]any{row}}
		if err := m.Apply(b, &res, FixtureTime); err != nil {
			r.Problems = append(r.Problems, err.Error())
			out = append(out, r)
			continue
		}
		r.Problems = fx.check(m, &res)
		switch {
		case len(res.Records) > 0:
			r.Op, r.Data = res.Records[0].Op, slices.Clone(res.Records[0].Data)
		case len(res.Rejections) > 0:
			rj := res.Rejections[0]
			r.Rejection = &rj
		default:
			r.Filtered = res.Filtered > 0
		}
		out = append(out, r)
	}
	return out
}

func (fx *Fixture) check(m *Mapping, res *Result) []string {
	var p []string
	got := "mapped"
	switch {
	case len(res.Rejections) > 0:
		rj := res.Rejections[0]
		got = fmt.Sprintf("rejected (field %s, code %s: %s)", orRow(rj.Field), rj.Code, rj.Message)
	case res.Filtered > 0:
		got = "filtered out"
	}
	switch {
	case fx.Reject != nil:
		if len(res.Rejections) == 0 {
			return append(p, fmt.Sprintf("want rejection (field %s, code %s), got %s", orRow(fx.Reject.Field), fx.Reject.Code, got))
		}
		rj := res.Rejections[0]
		if (fx.Reject.Field != "" && rj.Field != fx.Reject.Field) || (fx.Reject.Code != "" && rj.Code != fx.Reject.Code) {
			p = append(p, fmt.Sprintf("want rejection (field %s, code %s), got %s", orRow(fx.Reject.Field), fx.Reject.Code, got))
		}
		return p
	case fx.Filtered:
		if res.Filtered == 0 {
			p = append(p, "want the row filtered out, got "+got)
		}
		return p
	}
	if len(res.Records) != 1 {
		return append(p, "want a record, got "+got)
	}
	rec := res.Records[0]
	wantOp := fx.Op
	if wantOp == "" {
		wantOp = "upsert"
	}
	if rec.Op != wantOp {
		p = append(p, fmt.Sprintf("op: got %s, want %s", rec.Op, wantOp))
	}
	if err := canonical.ValidateEnvelope(rec.Value); err != nil {
		p = append(p, "output does not match the canonical schema: "+oneLine(err.Error()))
	}
	var data map[string]any
	dec := json.NewDecoder(bytes.NewReader(rec.Data))
	dec.UseNumber()
	if err := dec.Decode(&data); err != nil {
		return append(p, "output is not JSON: "+err.Error())
	}
	for _, name := range sortedKeys(fx.Expect) {
		want := fx.Expect[name]
		gotV, present := data[name]
		if want.ShortTag() == "!!null" {
			if present {
				p = append(p, fmt.Sprintf("%s: got %s, want no value", name, render(gotV)))
			}
			continue
		}
		if !present {
			p = append(p, fmt.Sprintf("%s: got no value, want %s", name, renderNode(want)))
			continue
		}
		if unquote(render(gotV)) != unquote(renderNode(want)) {
			p = append(p, fmt.Sprintf("%s: got %s, want %s", name, render(gotV), renderNode(want)))
		}
	}
	return p
}

func orRow(f string) string {
	if f == "" {
		return "(row)"
	}
	return f
}

// render shows a decoded JSON value the way a fixture writes it.
func render(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case []any:
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = render(it)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := sortedKeys(x)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + render(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// renderNode shows an expected YAML value in the same form as render:
// numbers and booleans bare, everything else quoted text.
func renderNode(n *yamlfile.Node) string {
	switch n.Kind {
	case yamlfile.SequenceNode:
		parts := make([]string, len(n.Content))
		for i, it := range n.Content {
			parts[i] = renderNode(it)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case yamlfile.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			if n.Style == 0 {
				return n.Value
			}
		case "!!bool":
			return strings.ToLower(n.Value)
		}
		return strconv.Quote(n.Value)
	}
	return "(a mapping)"
}

// unquote drops the quotes of a rendered scalar, so `total_cost: 12.30`
// and `total_cost: "12.30"` both match the money string "12.30"; the
// schema check catches values of the wrong type.
func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}
