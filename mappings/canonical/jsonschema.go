package canonical

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// JSONSchemaDraft is the dialect of the generated schemas.
const JSONSchemaDraft = "https://json-schema.org/draft/2020-12/schema"

// Extension keywords of the generated schemas. Validators ignore them; they
// let tools and the drift test read the canonical kind and the personal-data
// mark from a schema file alone.
const (
	keywordKind = "x-hp-kind"
	keywordPII  = "x-hp-pii"
)

// schemaID is the $id of the schema called name ("settlement", "envelope").
func schemaID(name string) string {
	return "urn:hpgate:schema:" + name + ":" + Version
}

// File names of the value schemas beside the entities' <entity>.schema.json.
const (
	envelopeFile = "envelope.schema.json"
	dlqFile      = "dlq.schema.json"
	auditFile    = "audit.schema.json"
)

func entityFile(name string) string { return name + ".schema.json" }

// JSONSchema returns the JSON Schema (draft 2020-12) of the entity's data,
// as checked in under schema/: deterministic, keys in a fixed order, two
// spaces of indent and a final newline.
func (e *Entity) JSONSchema() []byte {
	return render(schemaDoc(e.Name, e.Schema, e.Doc, entityProps(e), e.Required()))
}

// deleteJSONSchema is the entity's schema with only the identifying fields
// required: the origin and the Kafka key. The data of a delete must
// validate against it.
func (e *Entity) deleteJSONSchema() []byte {
	key := "person_key"
	if !e.PersonKeyed {
		key = "household_key"
	}
	var req []string
	for _, f := range e.Fields {
		if f.Name == key || (f.Required && isOriginField(f.Name)) {
			req = append(req, f.Name)
		}
	}
	return render(schemaDoc(e.Name+"-delete", e.Schema+" (delete)", e.Doc, entityProps(e), req))
}

func isOriginField(name string) bool {
	for _, sf := range reflect.VisibleFields(reflect.TypeFor[Origin]()) {
		if n, _, _ := strings.Cut(sf.Tag.Get("json"), ","); n == name {
			return true
		}
	}
	return false
}

func entityProps(e *Entity) []prop {
	if e.props != nil {
		return e.props
	}
	props := make([]prop, len(e.Fields))
	for i, f := range e.Fields {
		props[i].Field = f
	}
	return props
}

type valueSchemas struct {
	envelope, dlq, audit []prop
}

var valueProps = sync.OnceValue(func() valueSchemas {
	env, err := describe(reflect.TypeFor[Envelope](), true)
	if err != nil {
		panic("canonical: " + err.Error())
	}
	dlq, err := describe(reflect.TypeFor[DLQ](), true)
	if err != nil {
		panic("canonical: " + err.Error())
	}
	audit, err := describe(reflect.TypeFor[Audit](), true)
	if err != nil {
		panic("canonical: " + err.Error())
	}
	return valueSchemas{envelope: env, dlq: dlq, audit: audit}
})

// EnvelopeJSONSchema returns the JSON Schema of an [Envelope] value. Data is
// only required to be an object; [ValidateEnvelope] also checks it against
// the entity's schema.
func EnvelopeJSONSchema() []byte {
	props := valueProps().envelope
	return render(schemaDoc("envelope", "hpgate message envelope "+Version,
		"Value of every message on a canonical topic: the record's origin, op, content hash and data",
		props, requiredOf(props)))
}

// DLQJSONSchema returns the JSON Schema of a [DLQ] value.
func DLQJSONSchema() []byte {
	props := valueProps().dlq
	return render(schemaDoc("dlq", DLQSchema,
		"Value of a dead-letter message: a source row that could not be mapped, masked, with the raw row sealed for re-drive",
		props, requiredOf(props)))
}

// AuditJSONSchema returns the JSON Schema of an [Audit] value.
func AuditJSONSchema() []byte {
	props := valueProps().audit
	return render(schemaDoc("audit", AuditSchema,
		"Value of an audit-trail entry: who loaded which mappings or acted on a mapping's data, when, with what result; hash-chained",
		props, requiredOf(props)))
}

// schemaFiles returns every schema file's name and generated content.
func schemaFiles() map[string][]byte {
	files := map[string][]byte{
		envelopeFile: EnvelopeJSONSchema(),
		dlqFile:      DLQJSONSchema(),
		auditFile:    AuditJSONSchema(),
	}
	for _, e := range table().list {
		files[entityFile(e.Name)] = e.JSONSchema()
	}
	return files
}

func requiredOf(props []prop) []string {
	var req []string
	for _, p := range props {
		if p.Required {
			req = append(req, p.Name)
		}
	}
	return req
}

// member and object make a JSON object whose keys keep their order.
type member struct {
	key string
	val any
}

type object []member

func schemaDoc(name, title, doc string, props []prop, required []string) object {
	o := object{
		{"$schema", JSONSchemaDraft},
		{"$id", schemaID(name)},
		{"title", title},
		{"description", doc},
	}
	return append(o, objectBody(props, required)...)
}

func objectBody(props []prop, required []string) object {
	properties := make(object, len(props))
	for i, p := range props {
		properties[i] = member{p.Name, propSchema(p)}
	}
	o := object{{"type", "object"}, {"properties", properties}}
	if len(required) > 0 {
		o = append(o, member{"required", required})
	}
	return append(o, member{"additionalProperties", false})
}

func propSchema(p prop) object {
	o := object{{"description", p.Doc}}
	str := func(o object) object {
		o = append(o, member{"type", "string"})
		if p.Pattern != "" {
			o = append(o, member{"pattern", p.Pattern})
		}
		if p.Enum != nil {
			o = append(o, member{"enum", p.Enum})
		}
		return o
	}
	switch p.Kind {
	case KindString, KindEnum, KindCode, KindMoney:
		o = str(o)
	case KindDate:
		o = append(o, member{"type", "string"}, member{"format", "date"})
	case KindDateTime:
		o = append(o, member{"type", "string"}, member{"format", "date-time"})
	case KindInt:
		o = append(o, member{"type", "integer"})
		if p.Min != nil {
			o = append(o, member{"minimum", *p.Min})
		}
		if p.Max != nil {
			o = append(o, member{"maximum", *p.Max})
		}
	case KindNumber:
		o = append(o, member{"type", "number"})
	case KindBool:
		o = append(o, member{"type", "boolean"})
	case KindStrings, KindEnums:
		o = append(o, member{"type", "array"}, member{"items", str(nil)})
	case KindObjects:
		o = append(o, member{"type", "array"}, member{"items", objectBody(p.sub, requiredOf(p.sub))})
	case KindObject:
		switch {
		case p.sub != nil:
			o = append(o, objectBody(p.sub, requiredOf(p.sub))...)
		case p.raw:
			o = append(o, member{"type", "object"})
		default:
			o = append(o, member{"type", "object"}, member{"additionalProperties", object{{"type", "string"}}})
		}
	}
	o = append(o, member{keywordKind, p.Kind.String()})
	if p.PII {
		o = append(o, member{keywordPII, true})
	}
	return o
}

// render writes o as indented JSON with a final newline. Strings are not
// HTML-escaped, so descriptions stay readable.
func render(o object) []byte {
	compact := appendValue(nil, o)
	var buf bytes.Buffer
	if err := json.Indent(&buf, compact, "", "  "); err != nil {
		panic("canonical: render schema: " + err.Error()) // appendValue writes valid JSON
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case object:
		b = append(b, '{')
		for i, m := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, m.key, false)
			b = append(b, ':')
			b = appendValue(b, m.val)
		}
		return append(b, '}')
	case []string:
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s, false)
		}
		return append(b, ']')
	case string:
		return appendString(b, v, false)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case bool:
		return strconv.AppendBool(b, v)
	}
	panic("canonical: render schema: unexpected value type") // only the types above are built
}
