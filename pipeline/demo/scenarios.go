package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hpgate/hpgate/mappings/normalize"
	"github.com/hpgate/hpgate/mappings/yamlfile"
)

// ScenarioFile is the name of a pack's demo cases (kind: demo): source rows
// that give `hpgate demo` at least one case of every discrepancy kind and
// policy rule of the identity stages.
const ScenarioFile = "demo.yaml"

type scenarioFile struct {
	Kind        string        `yaml:"kind"`
	Description string        `yaml:"description"`
	Rows        []scenarioRow `yaml:"rows"`
}

type scenarioRow struct {
	// Case names the row, so later rows can start from it (like).
	Case string `yaml:"case"`
	// Like starts from an earlier case's columns.
	Like string `yaml:"like"`
	// Mapping names the mapping whose table gets the row; the row starts
	// from that mapping's first clean fixture.
	Mapping string `yaml:"mapping"`
	// Person picks the row's fictitious person (1, 2, …), apart from the
	// random population.
	Person int `yaml:"person"`
	// Set changes columns; null is SQL NULL, "$person" the person's ID.
	Set map[string]*string `yaml:"set"`
}

// scenarioID is the fictitious, valid ID number of demo case person n: born
// 1960-03-15, with sequence numbers (900+) the random population never uses.
func scenarioID(n int) string {
	first17 := fmt.Sprintf("37028219600315%03d", 900+n%100)
	return first17 + string(normalize.CheckDigit(first17))
}

// Cases is the number of demo-case rows written.
func (c *County) Cases() int { return c.cases }

// addScenarios writes the rows of the pack's demo.yaml, if it has one.
func (c *County) addScenarios(packDir string) error {
	path := filepath.Join(packDir, ScenarioFile)
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil
	}
	doc, errs := yamlfile.ReadFile(path)
	if errs != nil {
		return errs
	}
	var f scenarioFile
	if errs := doc.Decode(&f); errs != nil {
		return errs
	}
	if f.Kind != "demo" {
		return fmt.Errorf("%s: kind must be demo", path)
	}
	sets := map[string]map[string]*string{}
	for k, sc := range f.Rows {
		where := fmt.Sprintf("%s: rows[%d]", path, k)
		set := map[string]*string{}
		if sc.Like != "" {
			base, ok := sets[sc.Like]
			if !ok {
				return fmt.Errorf("%s: like %q names no earlier case", where, sc.Like)
			}
			for col, v := range base {
				set[col] = v
			}
		}
		for col, v := range sc.Set {
			set[col] = v
		}
		if sc.Case != "" {
			sets[sc.Case] = set
		}
		if err := c.addScenario(sc, set, k); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

func (c *County) addScenario(sc scenarioRow, set map[string]*string, k int) error {
	var (
		t  *table
		tp *template
	)
	for _, tt := range c.tables {
		for i := range tt.templates {
			if tt.templates[i].m.Name == sc.Mapping {
				t, tp = tt, &tt.templates[i]
				break
			}
		}
		if t != nil {
			break
		}
	}
	if t == nil {
		return fmt.Errorf("mapping %s has no table with a clean fixture in this county", sc.Mapping)
	}
	m := tp.m
	vals := c.row(t, *tp, k)
	id := scenarioID(sc.Person)
	for j, col := range t.columns {
		switch {
		case t.isKey(col):
			vals[j] = fmt.Sprintf("%v-D-%d", text(tp.row[col]), k)
		case m.IsPII(col) && looksLikeID(text(tp.row[col])):
			if _, err := normalize.IDCard(text(tp.row[col])); err == nil {
				vals[j] = id
			}
		}
	}
	for col, v := range set {
		j := slices.IndexFunc(t.columns, func(c string) bool { return strings.EqualFold(c, col) })
		if j < 0 {
			return fmt.Errorf("table %s has no column %s", t.name, col)
		}
		switch {
		case v == nil:
			vals[j] = nil
		case *v == "$person":
			vals[j] = id
		default:
			vals[j] = *v
		}
	}
	db, err := c.db(t.source)
	if err != nil {
		return err
	}
	if err := c.writeRow(db, t, m, vals); err != nil {
		return err
	}
	c.cases++
	return nil
}
