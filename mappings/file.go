package mappings

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hpgate/hpgate/mappings/yamlfile"
)

// fileSpec is a mapping file as written. Field rules and fixtures stay YAML
// nodes: a rule may be a bare column name, and fixture values are read as
// raw text.
type fileSpec struct {
	Kind        string                   `yaml:"kind"`
	Name        string                   `yaml:"name"`
	Description string                   `yaml:"description"`
	County      string                   `yaml:"county"`
	System      string                   `yaml:"system"`
	Source      string                   `yaml:"source"`
	Entity      string                   `yaml:"entity"`
	Table       string                   `yaml:"table"`
	Query       string                   `yaml:"query"`
	Detail      *detailSpec              `yaml:"detail"`
	Lookups     []lookupSpec             `yaml:"lookups"`
	TimeZone    string                   `yaml:"time_zone"`
	Cursor      cursorSpec               `yaml:"cursor"`
	Filter      string                   `yaml:"filter"`
	Op          string                   `yaml:"op"`
	Identity    *identitySpec            `yaml:"identity"`
	PIIColumns  []string                 `yaml:"pii_columns"`
	Codes       map[string]codeSpec      `yaml:"codes"`
	Fields      map[string]yamlfile.Node `yaml:"fields"`
	Tests       []yamlfile.Node          `yaml:"tests"`
}

type cursorSpec struct {
	Mode              string   `yaml:"mode"`
	Timestamp         string   `yaml:"timestamp"`
	FallbackTimestamp string   `yaml:"fallback_timestamp"`
	Keys              []string `yaml:"keys"`
}

type identitySpec struct {
	IDCard   string        `yaml:"id_card"`
	Fallback *fallbackSpec `yaml:"fallback"`
}

type fallbackSpec struct {
	IDCard string   `yaml:"id_card"`
	With   []string `yaml:"with"`
}

type codeSpec struct {
	File    string            `yaml:"file"`
	Values  map[string]string `yaml:"values"`
	Default *string           `yaml:"default"`
}

type ruleSpec struct {
	Column    string        `yaml:"column"`
	Const     yamlfile.Node `yaml:"const"` // a Node value: the YAML library cannot fill a *Node
	Expr      string        `yaml:"expr"`
	Code      string        `yaml:"code"`
	Default   yamlfile.Node `yaml:"default"`
	Unit      string        `yaml:"unit"`
	Layout    string        `yaml:"layout"`
	Encoding  string        `yaml:"encoding"`
	Separator string        `yaml:"separator"`
	Required  bool          `yaml:"required"`
	PII       bool          `yaml:"pii"`
}

// Files lists the YAML files under paths (files or directories, walked
// recursively), sorted. Hidden directories and files are skipped.
func Files(paths ...string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if path != p && strings.HasPrefix(name, ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Load reads every mapping file (kind: mapping) under paths, compiles each
// and checks that names are unique. Files of other kinds are skipped. All
// problems of all files are returned at once, as yamlfile.Errors.
func Load(opts Options, paths ...string) ([]*Mapping, error) {
	return LoadKind("mapping", "name", paths, func(doc *yamlfile.Document) (*Mapping, string, yamlfile.Errors) {
		m, errs := Compile(doc, opts)
		if errs != nil {
			return nil, "", errs
		}
		return m, m.Name, nil
	})
}

// LoadKind reads every YAML file of one kind (its `kind:` key) under paths,
// files or directories as for mapping paths, and compiles each; files of
// other kinds are skipped. The value compile returns for its unique key
// (a name, a county) must differ from file to file; a repeat is reported
// at that key, naming the first file. All problems of all files are
// returned at once, as yamlfile.Errors. Mapping, writeback and policy
// files all load through it.
func LoadKind[T any](kind, key string, paths []string, compile func(*yamlfile.Document) (T, string, yamlfile.Errors)) ([]T, error) {
	files, err := Files(paths...)
	if err != nil {
		return nil, err
	}
	var (
		out  []T
		errs yamlfile.Errors
		seen = map[string]string{}
	)
	for _, f := range files {
		doc, perrs := yamlfile.ReadFile(f)
		if perrs != nil {
			errs = append(errs, perrs...)
			continue
		}
		if doc.Peek("kind") != kind {
			continue
		}
		v, id, cerrs := compile(doc)
		if cerrs != nil {
			errs = append(errs, cerrs...)
			continue
		}
		if prev, dup := seen[id]; dup {
			errs = append(errs, doc.Errorf(doc.Lookup(key), "%s %s %q is already used by %s", kind, key, id, prev))
			continue
		}
		seen[id] = f
		out = append(out, v)
	}
	return out, errs.Err()
}
