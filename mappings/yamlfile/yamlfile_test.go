package yamlfile

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type inner struct {
	X bool `yaml:"x"`
}

type sample struct {
	Name  string            `yaml:"name"`
	Count int               `yaml:"count"`
	List  []string          `yaml:"list"`
	Inner inner             `yaml:"inner"`
	Map   map[string]string `yaml:"map"`
	Wait  time.Duration     `yaml:"wait"`
}

func TestDecodeReportsEveryError(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"ok", "name: a\ncount: 2\nlist: [a, b]\ninner: {x: true}\nwait: 30s\n", nil},
		{"unknown keys and types", "name: a\ncount: many\nbogus: 1\ninner:\n  x: maybe\n  y: 1\n", []string{
			`f.yaml:2:8: expected a whole number, got "many"`,
			`f.yaml:3:1: unknown key "bogus"`,
			`f.yaml:5:6: expected true or false, got "maybe"`,
			`f.yaml:6:3: unknown key "y"`,
		}},
		{"duplicate key", "name: a\nname: b\n", []string{`f.yaml:2:1: mapping key "name" already defined at line 1`}},
		{"list expected", "list: x\n", []string{`f.yaml:1:7: expected a list, got "x"`}},
		{"mapping given for scalar", "name: {a: 1}\n", []string{`f.yaml:1:7: expected a text value, got a mapping`}},
		{"bad duration", "wait: soon\n", []string{`f.yaml:1:7: expected a duration such as 30s or 5m, got "soon"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, errs := Parse("f.yaml", []byte(tc.in))
			if errs != nil {
				t.Fatalf("parse: %v", errs)
			}
			var s sample
			errs = doc.Decode(&s)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"syntax", "a: [1\nb: 2", "f.yaml:2:2: syntax error: did not find expected ',' or ']'"},
		{"empty", "", "f.yaml: the file is empty"},
		{"not a mapping", "- 1\n", "f.yaml:1:1: expected a mapping of keys to values at the top of the file"},
		{"two documents", "a: 1\n---\na: 2\n", "f.yaml: expected single document, found multiple"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := Parse("f.yaml", []byte(tc.in))
			if errs.Error() != tc.want {
				t.Errorf("got %q, want %q", errs.Error(), tc.want)
			}
		})
	}
}

func TestLookupPointsAtNode(t *testing.T) {
	doc, errs := Parse("m.yaml", []byte("kind: mapping\nfields:\n  total_cost:\n    column: ZFY\n  list:\n    - a\n    - b\n"))
	if errs != nil {
		t.Fatal(errs)
	}
	cases := []struct {
		path      []string
		key       bool
		line, col int
	}{
		{[]string{"fields", "total_cost", "column"}, false, 4, 13},
		{[]string{"fields", "total_cost"}, true, 3, 3},
		{[]string{"fields", "list", "1"}, false, 7, 7},
		{[]string{"fields", "missing", "deeper"}, false, 3, 3},
	}
	for _, c := range cases {
		var n *Node
		if c.key {
			n = doc.LookupKey(c.path...)
		} else {
			n = doc.Lookup(c.path...)
		}
		if n.Line != c.line || n.Column != c.col {
			t.Errorf("%v: at %d:%d, want %d:%d", c.path, n.Line, n.Column, c.line, c.col)
		}
	}
	if got := doc.Peek("kind"); got != "mapping" {
		t.Errorf("Peek(kind) = %q", got)
	}
}

func TestErrorsSortedAndAs(t *testing.T) {
	es := Errors{{File: "b", Line: 1, Col: 1, Msg: "x"}, {File: "a", Line: 3, Col: 2, Msg: "y"}, {File: "a", Line: 1, Col: 9, Msg: "z"}}
	err := es.Err()
	if err.Error() != "a:1:9: z\na:3:2: y\nb:1:1: x" {
		t.Errorf("sorted: %q", err.Error())
	}
	var back Errors
	if !errors.As(err, &back) || len(back) != 3 {
		t.Errorf("errors.As failed")
	}
	if got := AsErrors(errors.New("plain"), "c"); got[0].Error() != "c: plain" {
		t.Errorf("AsErrors plain: %q", got[0].Error())
	}
}
