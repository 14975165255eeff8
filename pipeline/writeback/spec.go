package writeback

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/hpgate/hpgate/connectors/sqlwrite"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/yamlfile"
)

// fileSpec is a writeback file as written.
type fileSpec struct {
	Kind          string                `yaml:"kind"`
	Name          string                `yaml:"name"`
	Description   string                `yaml:"description"`
	County        string                `yaml:"county"`
	System        string                `yaml:"system"`
	Target        string                `yaml:"target"`
	Table         string                `yaml:"table"`
	Key           string                `yaml:"key"`
	Find          findSpec              `yaml:"find"`
	Columns       map[string]columnSpec `yaml:"columns"`
	Audit         string                `yaml:"audit"`
	RowsPerSecond float64               `yaml:"rows_per_second"`
}

type findSpec struct {
	Records   []string `yaml:"records"`
	IDCard    string   `yaml:"id_card"`
	Timestamp string   `yaml:"timestamp"`
}

type columnSpec struct {
	Fact    string            `yaml:"fact"`
	Values  map[string]string `yaml:"values"`
	Default *string           `yaml:"default"`
}

// Writeback is one compiled writeback file: which facts of the identity
// view go into which columns of one target table.
type Writeback struct {
	Name, File, County, System, Target, Table, Key string
	// Records are the entities of the target system's own records (in the
	// identity view) whose source id is the row key.
	Records []string
	// IDCard and Timestamp are the blind index's columns ("" for none).
	IDCard, Timestamp string
	Columns           []Column
	// Audit is "table" (hpgate_writeback_audit in the target database) or
	// "local" (the state store and the log).
	Audit string
	// RowsPerSecond caps the changes per second; 0 when the file sets
	// none (then Options.RowsPerSecond, else DefaultRowsPerSecond).
	RowsPerSecond float64
	// TargetLine and TargetCol place the target key in File, for errors
	// about the target found later (CheckTargets).
	TargetLine, TargetCol int
}

// Column is one flag column and the fact it receives.
type Column struct {
	Name, Fact string
	Values     map[string]string
	Default    *string
}

// facts are the identity facts a writeback may copy, with the system whose
// word counts by default (design.md, "Whose word counts") and the key of
// IdentityView.Authorities that overrides it.
var facts = map[string]struct{ authority, key string }{
	"poverty_status":     {"registry", "poverty_status"},
	"poverty_cause":      {"registry", "poverty_cause"},
	"exit_year":          {"registry", "exit"},
	"deceased":           {"registry", "deceased"},
	"min_living":         {"registry", "min_living"},
	"destitute_support":  {"registry", "destitute_support"},
	"disabled":           {"registry", "disabled"},
	"poverty_mark":       {"insurance", "poverty_mark"},
	"policy_level":       {"insurance", "poverty_mark"},
	"premium_subsidised": {"insurance", "enrollment"},
}

// factValue returns the text of fact in one system's view, "" when the
// system does not hold it.
func factValue(s *canonical.SystemIdentity, fact string) string {
	b := func(p *bool) string {
		if p == nil {
			return ""
		}
		if *p {
			return "true"
		}
		return "false"
	}
	switch fact {
	case "poverty_status":
		return s.PovertyStatus
	case "poverty_cause":
		return s.PovertyCause
	case "exit_year":
		if s.ExitYear == nil {
			return ""
		}
		return fmt.Sprint(*s.ExitYear)
	case "deceased":
		return b(s.Deceased)
	case "min_living":
		return b(s.MinLiving)
	case "destitute_support":
		return b(s.DestituteSupport)
	case "disabled":
		return b(s.Disabled)
	case "poverty_mark":
		return b(s.PovertyMark)
	case "policy_level":
		return s.PolicyLevel
	case "premium_subsidised":
		return b(s.PremiumSubsidised)
	}
	return ""
}

func systemView(v *canonical.IdentityView, system string) *canonical.SystemIdentity {
	switch system {
	case "registry":
		return &v.Registry
	case "insurance":
		return &v.Insurance
	case "his":
		return &v.HIS
	case "public_health":
		return &v.PublicHealth
	}
	return nil
}

// authority returns the system whose word counts for fact in view v.
func authority(v *canonical.IdentityView, fact string) string {
	f := facts[fact]
	if a := v.Authorities[f.key]; a != "" {
		return a
	}
	return f.authority
}

var (
	reName   = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	reCounty = regexp.MustCompile(`^[0-9]{6}$`)
	systems  = []string{"his", "public_health", "insurance", "registry"}
	entities = []string{"person", "household", "enrollment", "chronic_card", "contract"}
)

// Load reads every writeback file (kind: writeback) under paths; other
// kinds are skipped. All problems are returned at once as yamlfile.Errors.
func Load(paths ...string) ([]*Writeback, error) {
	return mappings.LoadKind("writeback", "name", paths, func(doc *yamlfile.Document) (*Writeback, string, yamlfile.Errors) {
		w, errs := compile(doc)
		if errs != nil {
			return nil, "", errs
		}
		return w, w.Name, nil
	})
}

func compile(doc *yamlfile.Document) (*Writeback, yamlfile.Errors) {
	var s fileSpec
	errs := doc.Decode(&s)
	add := func(path []string, format string, args ...any) {
		errs = append(errs, doc.Errorf(doc.Lookup(path...), format, args...))
	}
	if !reName.MatchString(s.Name) {
		add([]string{"name"}, "name must be lower-case letters, digits, '-', '_' or '.' (e.g. jimo-ins-poverty-flags)")
	}
	if !reCounty.MatchString(s.County) {
		add([]string{"county"}, "county must be the 6-digit GB/T 2260 code, quoted (e.g. \"370282\")")
	}
	if !slices.Contains(systems, s.System) {
		add([]string{"system"}, "system must be the target's system: one of %s", strings.Join(systems, ", "))
	}
	if s.Target == "" {
		add(nil, "missing target: name the source instance of the config whose database is written")
	}
	for _, f := range []struct{ key, v string }{{"table", s.Table}, {"key", s.Key}} {
		if !sqlwrite.ValidIdent(f.v) {
			add([]string{f.key}, "%s must be a plain SQL identifier", f.key)
		}
	}
	for i, e := range s.Find.Records {
		if !slices.Contains(entities, e) {
			add([]string{"find", "records", fmt.Sprint(i)}, "records holds entities of the identity view: %s", strings.Join(entities, ", "))
		}
	}
	if s.Find.IDCard != "" && (!sqlwrite.ValidIdent(s.Find.IDCard) || !sqlwrite.ValidIdent(s.Find.Timestamp)) {
		add([]string{"find"}, "a blind index needs id_card and timestamp, plain column names (the timestamp keeps the index current)")
	}
	if len(s.Find.Records) == 0 && s.Find.IDCard == "" {
		add([]string{"find"}, "find needs records (the target's own keys in the identity view) or id_card (a blind index), or both")
	}
	switch s.Audit {
	case "":
		s.Audit = "table"
	case "table", "local":
	default:
		add([]string{"audit"}, "audit must be table (hpgate_writeback_audit in the target database) or local")
	}
	if s.RowsPerSecond < 0 {
		add([]string{"rows_per_second"}, "rows_per_second must not be negative")
	}
	if len(s.Columns) == 0 {
		add(nil, "missing columns: name each flag column and the fact it receives")
	}
	w := &Writeback{Name: s.Name, File: doc.File, County: s.County, System: s.System, Target: s.Target, Table: s.Table, Key: s.Key,
		Records: s.Find.Records, IDCard: s.Find.IDCard, Timestamp: s.Find.Timestamp, Audit: s.Audit, RowsPerSecond: s.RowsPerSecond}
	if n := doc.Lookup("target"); n != nil {
		w.TargetLine, w.TargetCol = n.Line, n.Column
	}
	names := make([]string, 0, len(s.Columns))
	for n := range s.Columns {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := s.Columns[n]
		if !sqlwrite.ValidIdent(n) {
			add([]string{"columns", n}, "column %q must be a plain SQL identifier", n)
		}
		f, ok := facts[c.Fact]
		if !ok {
			known := make([]string, 0, len(facts))
			for k := range facts {
				known = append(known, k)
			}
			sort.Strings(known)
			add([]string{"columns", n, "fact"}, "unknown fact %q (known: %s)", c.Fact, strings.Join(known, ", "))
			continue
		}
		if f.authority == s.System {
			add([]string{"columns", n, "fact"}, "%s's word counts for %s: writeback only copies a fact from its authority into other systems", s.System, c.Fact)
		}
		if len(c.Values) == 0 {
			add([]string{"columns", n}, "column %s needs values: the target's code for each canonical value", n)
		}
		w.Columns = append(w.Columns, Column{Name: n, Fact: c.Fact, Values: c.Values, Default: c.Default})
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	return w, nil
}

// CheckTargets checks each writeback's target against the config: driver
// returns the driver of a source instance, false when there is none. The
// errors point at the target key of the writeback file; configFile names
// the config in them.
func CheckTargets(wbs []*Writeback, configFile string, driver func(source string) (string, bool)) yamlfile.Errors {
	var errs yamlfile.Errors
	for _, w := range wbs {
		d, ok := driver(w.Target)
		switch {
		case !ok:
			errs = append(errs, &yamlfile.PosError{File: w.File, Line: w.TargetLine, Col: w.TargetCol,
				Msg: fmt.Sprintf("writeback %s: target %q is not a source of %s", w.Name, w.Target, configFile)})
		default:
			if _, err := sqlwrite.ForDriver(d); err != nil {
				errs = append(errs, &yamlfile.PosError{File: w.File, Line: w.TargetLine, Col: w.TargetCol,
					Msg: fmt.Sprintf("writeback %s: target %s: %v", w.Name, w.Target, err)})
			}
		}
	}
	errs.Sort()
	return errs
}

// DefaultRowsPerSecond caps the changes a writeback makes per second when
// neither its file nor Options.RowsPerSecond (the config's
// writeback.rows_per_second) sets a rate.
const DefaultRowsPerSecond = 20
