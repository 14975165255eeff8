// Package yamlfile decodes the YAML files people write (mapping files, the
// config file) strictly, and reports every problem of a file at once as
// `path:line:col: message`, pointing at the offending key.
//
// It keeps the YAML library behind one small API: a Document holds the
// parsed node tree, Decode fills a struct with known-field checking, and
// Errorf and Lookup let the caller's own validation point at a node.
package yamlfile

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Node is a YAML node with its position; an alias so callers need not
// import the YAML library.
type Node = yaml.Node

// Node kinds, re-exported.
const (
	ScalarNode   = yaml.ScalarNode
	MappingNode  = yaml.MappingNode
	SequenceNode = yaml.SequenceNode
)

// PosError is one problem in a file, at a line and column (1-based; 0 when
// unknown).
type PosError struct {
	File      string
	Line, Col int
	Msg       string
}

// Error formats the problem as `path:line:col: message`.
func (e *PosError) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	default:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
}

// Errors is every problem found in one or more files.
type Errors []*PosError

// Error lists the problems sorted by file and position, one per line.
func (es Errors) Error() string {
	es.Sort()
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Sort orders the problems by file, line and column.
func (es Errors) Sort() {
	slices.SortStableFunc(es, func(a, b *PosError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// Err returns es as an error, or nil when there is no problem.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	es.Sort()
	return es
}

// AsErrors returns the problems inside err: every PosError of an Errors, a
// single *PosError, or one position-less entry for any other error.
func AsErrors(err error, file string) Errors {
	if err == nil {
		return nil
	}
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var pe *PosError
	if errors.As(err, &pe) {
		return Errors{pe}
	}
	return Errors{{File: file, Msg: err.Error()}}
}

// Document is one parsed YAML file.
type Document struct {
	File string
	// Root is the top-level node (a mapping for every hpgate file).
	Root *yaml.Node
}

// ReadFile reads and parses path.
func ReadFile(path string) (*Document, Errors) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: strings.TrimPrefix(err.Error(), "open "+path+": ")}}
	}
	return Parse(path, data)
}

// Parse parses one YAML document. A syntax error, an empty file or a file
// holding several documents is reported with its position.
func Parse(file string, data []byte) (*Document, Errors) {
	var doc yaml.Node
	if err := yaml.Load(data, &doc, yaml.WithUniqueKeys()); err != nil {
		return nil, loadErrors(file, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, Errors{{File: file, Line: root.Line, Col: root.Column, Msg: "expected a mapping of keys to values at the top of the file"}}
	}
	return &Document{File: file, Root: root}, nil
}

// Decode fills out from the document: unknown keys, duplicate keys and
// values of the wrong type are all reported, each at its own position.
func (d *Document) Decode(out any) Errors {
	return DecodeNode(d.File, d.Root, out)
}

// DecodeNode strictly decodes one node of file into out.
func DecodeNode(file string, n *yaml.Node, out any) Errors {
	if err := n.Load(out, yaml.WithKnownFields(), yaml.WithUniqueKeys()); err != nil {
		return loadErrors(file, err)
	}
	return nil
}

// DecodeLoose decodes the keys of n that out knows, ignoring the others
// (their owner checks them strictly); type errors are still reported.
func DecodeLoose(file string, n *yaml.Node, out any) Errors {
	if err := n.Load(out, yaml.WithUniqueKeys()); err != nil {
		return loadErrors(file, err)
	}
	return nil
}

// Errorf returns a problem located at n (or at the file when n is nil).
func (d *Document) Errorf(n *yaml.Node, format string, args ...any) *PosError {
	return Errorf(d.File, n, format, args...)
}

// Errorf returns a problem of file located at n.
func Errorf(file string, n *yaml.Node, format string, args ...any) *PosError {
	e := &PosError{File: file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	return e
}

// Lookup follows a path of mapping keys (and decimal sequence indexes) from
// the root and returns the value node at its end. When the path leaves the
// tree it returns the deepest node reached, so an error still points near
// its cause. With key set, the last step returns the key node instead of the
// value, which is where "unknown field" errors belong.
func (d *Document) Lookup(path ...string) *yaml.Node {
	return LookupNode(d.Root, false, path...)
}

// LookupKey is Lookup returning the key node of the last step.
func (d *Document) LookupKey(path ...string) *yaml.Node {
	return LookupNode(d.Root, true, path...)
}

// LookupNode is Lookup from any node.
func LookupNode(n *yaml.Node, key bool, path ...string) *yaml.Node {
	cur := n
	for i, p := range path {
		last := i == len(path)-1
		next := (*yaml.Node)(nil)
		switch cur.Kind {
		case yaml.MappingNode:
			for j := 0; j+1 < len(cur.Content); j += 2 {
				if cur.Content[j].Value == p {
					if last && key {
						return cur.Content[j]
					}
					next = cur.Content[j+1]
					break
				}
			}
		case yaml.SequenceNode:
			var idx int
			if _, err := fmt.Sscanf(p, "%d", &idx); err == nil && idx >= 0 && idx < len(cur.Content) {
				next = cur.Content[idx]
			}
		}
		if next == nil {
			return cur
		}
		cur = next
	}
	return cur
}

// Keys returns the key nodes of a mapping node in file order.
func Keys(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	out := make([]*yaml.Node, 0, len(n.Content)/2)
	for j := 0; j+1 < len(n.Content); j += 2 {
		out = append(out, n.Content[j])
	}
	return out
}

// Peek returns the value of a top-level scalar key (such as `kind`) without
// a strict decode; "" when absent.
func (d *Document) Peek(key string) string {
	for j := 0; j+1 < len(d.Root.Content); j += 2 {
		if d.Root.Content[j].Value == key && d.Root.Content[j+1].Kind == yaml.ScalarNode {
			return d.Root.Content[j+1].Value
		}
	}
	return ""
}

var (
	reUnknown = regexp.MustCompile("^field (\\S+) not found in type .*$")
	reConvert = regexp.MustCompile("^cannot (?:construct|unmarshal) !!(\\w+)(?: `(.*)`)? into (.+)$")
)

func loadErrors(file string, err error) Errors {
	var le *yaml.LoadErrors
	if errors.As(err, &le) {
		out := make(Errors, 0, len(le.Errors))
		for _, e := range le.Errors {
			out = append(out, &PosError{File: file, Line: e.Mark.Line, Col: e.Mark.Column, Msg: friendly(e.Message)})
		}
		return out
	}
	var one *yaml.LoadError
	if errors.As(err, &one) {
		return Errors{{File: file, Line: one.Mark.Line, Col: one.Mark.Column, Msg: "syntax error: " + one.Message}}
	}
	return Errors{{File: file, Msg: err.Error()}}
}

// friendly rewrites the YAML library's messages, which name Go types, into
// words a county IT engineer reads without knowing Go.
func friendly(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := reUnknown.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown key %q", m[1])
	}
	if m := reConvert.FindStringSubmatch(msg); m != nil {
		got := m[1]
		if m[2] != "" {
			got = fmt.Sprintf("%q", m[2])
		} else {
			got = cmp.Or(map[string]string{"seq": "a list", "map": "a mapping"}[got], "a "+got)
		}
		return fmt.Sprintf("expected %s, got %s", goTypeWords(m[3]), got)
	}
	if msg == "no documents in stream" {
		return "the file is empty"
	}
	return msg
}

func goTypeWords(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a text value"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "time.Duration":
		return "a duration such as 30s or 5m"
	case strings.HasPrefix(t, "struct") || strings.Contains(t, "."):
		return "a mapping"
	}
	return t
}
