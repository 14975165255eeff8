package canonical

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

//go:embed schema/*.schema.json
var embedded embed.FS

// SchemaFS returns the checked-in schema files, the published form of the
// canonical schema: <entity>.schema.json for each entity, plus
// envelope.schema.json and dlq.schema.json, at the root of the returned FS.
func SchemaFS() fs.FS {
	sub, err := fs.Sub(embedded, "schema")
	if err != nil {
		panic("canonical: " + err.Error()) // "schema" is a valid path
	}
	return sub
}

// ValidationError says why a value does not match its schema. Its message
// names fields and rules but never quotes the values, which may be personal
// data.
type ValidationError struct {
	// Schema names the schema checked: "hp.settlement/v1", "hp.dlq/v1" or
	// "envelope".
	Schema string
	// Problems lists each failed check, sorted by path.
	Problems []Problem
}

// Problem is one failed check.
type Problem struct {
	// Path is the JSON pointer of the offending value ("/total_cost",
	// "/data/total_cost"), empty for the whole value.
	Path string
	// Message says what is wrong, without the value.
	Message string
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(e.Schema)
	b.WriteString(": ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		if p.Path != "" {
			b.WriteString(p.Path)
			b.WriteString(": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

type validators struct {
	data     map[string]*jsonschema.Schema // by entity name
	deletes  map[string]*jsonschema.Schema // by entity name, for op delete
	envelope *jsonschema.Schema
	dlq      *jsonschema.Schema
	audit    *jsonschema.Schema
}

// compiled compiles the embedded schema files once. The delete variants
// are generated from the Go types; the drift test keeps both in step.
var compiled = sync.OnceValues(func() (*validators, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	add := func(id string, doc []byte) error {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
		if err != nil {
			return fmt.Errorf("decode schema %s: %w", id, err)
		}
		return c.AddResource(id, v)
	}
	file := func(name string) ([]byte, error) {
		return fs.ReadFile(embedded, "schema/"+name)
	}
	compile := func(id string, doc []byte) (*jsonschema.Schema, error) {
		if err := add(id, doc); err != nil {
			return nil, err
		}
		s, err := c.Compile(id)
		if err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", id, err)
		}
		return s, nil
	}
	v := &validators{data: map[string]*jsonschema.Schema{}, deletes: map[string]*jsonschema.Schema{}}
	for _, e := range table().list {
		doc, err := file(entityFile(e.Name))
		if err != nil {
			return nil, err
		}
		if v.data[e.Name], err = compile(schemaID(e.Name), doc); err != nil {
			return nil, err
		}
		if v.deletes[e.Name], err = compile(schemaID(e.Name+"-delete"), e.deleteJSONSchema()); err != nil {
			return nil, err
		}
	}
	for _, s := range []struct {
		name string
		dst  **jsonschema.Schema
	}{{"envelope", &v.envelope}, {"dlq", &v.dlq}, {"audit", &v.audit}} {
		doc, err := file(s.name + ".schema.json")
		if err != nil {
			return nil, err
		}
		if *s.dst, err = compile(schemaID(s.name), doc); err != nil {
			return nil, err
		}
	}
	return v, nil
})

// ValidateData checks data, one record of the entity called entity
// ("settlement"), against the entity's checked-in JSON Schema, as an
// upsert: every required field must be present. A mismatch is a
// *[ValidationError]. It is meant for tests and `hpgate test`, not for the
// per-record path.
func ValidateData(entity string, data []byte) error {
	v, err := compiled()
	if err != nil {
		return err
	}
	sch, ok := v.data[entity]
	if !ok {
		return fmt.Errorf("validate data: unknown entity %q", entity)
	}
	e, _ := Lookup(entity)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("validate %s: decode: %w", e.Schema, err)
	}
	if probs := check(sch, inst, ""); probs != nil {
		return &ValidationError{Schema: e.Schema, Problems: probs}
	}
	return nil
}

// ValidateEnvelope checks value, the JSON value of a message on a canonical
// topic, against the envelope schema, then checks its data against the
// schema the envelope names (relaxed for op delete, see [Envelope]) and that
// the envelope and its data agree on county, source system and id. A
// mismatch is a *[ValidationError] listing every problem found.
func ValidateEnvelope(value []byte) error {
	v, err := compiled()
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
	if err != nil {
		return fmt.Errorf("validate envelope: decode: %w", err)
	}
	probs := check(v.envelope, inst, "")
	env, _ := inst.(map[string]any)
	name, _ := env["schema"].(string)
	data, isObject := env["data"].(map[string]any)
	e, known := LookupSchema(name)
	switch {
	case name == "" || !isObject:
		// Already reported by the envelope schema.
	case !known:
		probs = append(probs, Problem{Path: "/schema", Message: fmt.Sprintf("unknown schema %q", name)})
	default:
		sch := v.data[e.Name]
		if env["op"] == OpDelete {
			sch = v.deletes[e.Name]
		}
		probs = append(probs, check(sch, data, "/data")...)
		probs = append(probs, agree(env, data)...)
	}
	if probs != nil {
		return &ValidationError{Schema: "envelope", Problems: probs}
	}
	return nil
}

// agree checks that an envelope and its data name the same county and
// source system, and that the id starts with them.
func agree(env, data map[string]any) []Problem {
	var probs []Problem
	county, _ := env["county"].(string)
	source, _ := env["source"].(map[string]any)
	system, _ := source["system"].(string)
	if c, ok := data["county"].(string); ok && county != "" && c != county {
		probs = append(probs, Problem{Path: "/data/county", Message: "differs from the envelope's county"})
	}
	if s, ok := data["source_system"].(string); ok && system != "" && s != system {
		probs = append(probs, Problem{Path: "/data/source_system", Message: "differs from the envelope's source.system"})
	}
	if id, ok := env["id"].(string); ok && county != "" && system != "" && !strings.HasPrefix(id, system+":"+county+":") {
		probs = append(probs, Problem{Path: "/id", Message: "does not start with <source.system>:<county>:"})
	}
	return probs
}

// ValidateDLQ checks value, the JSON value of a dead-letter message,
// against the DLQ schema. A mismatch is a *[ValidationError].
func ValidateDLQ(value []byte) error {
	v, err := compiled()
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
	if err != nil {
		return fmt.Errorf("validate %s: decode: %w", DLQSchema, err)
	}
	if probs := check(v.dlq, inst, ""); probs != nil {
		return &ValidationError{Schema: DLQSchema, Problems: probs}
	}
	return nil
}

// ValidateAudit checks value, an audit-trail entry, against the audit
// schema. A mismatch is a *[ValidationError].
func ValidateAudit(value []byte) error {
	v, err := compiled()
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
	if err != nil {
		return fmt.Errorf("validate %s: decode: %w", AuditSchema, err)
	}
	if probs := check(v.audit, inst, ""); probs != nil {
		return &ValidationError{Schema: AuditSchema, Problems: probs}
	}
	return nil
}

// check validates inst and turns the validator's error tree into problems,
// with paths prefixed by prefix.
func check(sch *jsonschema.Schema, inst any, prefix string) []Problem {
	err := sch.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Problem{{Path: prefix, Message: err.Error()}}
	}
	var probs []Problem
	var walk func(*jsonschema.ValidationError)
	walk = func(ve *jsonschema.ValidationError) {
		if len(ve.Causes) > 0 {
			for _, c := range ve.Causes {
				walk(c)
			}
			return
		}
		path := prefix
		for _, tok := range ve.InstanceLocation {
			path += "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(tok)
		}
		probs = append(probs, Problem{Path: path, Message: describeKind(ve.ErrorKind)})
	}
	walk(ve)
	// The validator visits properties in map order: sort for stable output.
	slices.SortStableFunc(probs, func(a, b Problem) int { return strings.Compare(a.Path, b.Path) })
	return probs
}

// describeKind says what failed without quoting the offending value.
func describeKind(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Pattern:
		return "does not match pattern " + k.Want
	case *kind.Format:
		return "is not a valid " + k.Want
	case *kind.Minimum:
		return "is less than the minimum " + ratString(k.Want)
	case *kind.Maximum:
		return "is greater than the maximum " + ratString(k.Want)
	case *kind.Type:
		return "is " + k.Got + ", want " + strings.Join(k.Want, " or ")
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		return "is not one of " + strings.Join(want, "|")
	case *kind.Required:
		return "missing required " + strings.Join(slices.Sorted(slices.Values(k.Missing)), ", ")
	case *kind.AdditionalProperties:
		return "unknown field " + strings.Join(slices.Sorted(slices.Values(k.Properties)), ", ")
	case *kind.FalseSchema:
		return "is not allowed"
	}
	return "fails " + strings.Join(k.KeywordPath(), "/")
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return r.FloatString(6)
}
