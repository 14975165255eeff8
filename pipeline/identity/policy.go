package identity

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/yamlfile"
)

// PolicyKind is the kind: of a county policy file.
const PolicyKind = "policy"

// Policy is one county's settings for the identity stages: the grace
// period of the sync checks, whose word counts per fact, the thresholds of
// the per-settlement rules and the disease lists. It comes from a
// `kind: policy` file of the county pack; every value left out takes the
// default of [DefaultPolicy], which uses the figures domain.md quotes.
// A Policy is read-only once loaded.
type Policy struct {
	County string
	// File is where the policy was read ("" for the defaults).
	File string
	// GracePeriod is how long a system may take to follow the registry
	// (R15 and the withdrawal of marks) before a discrepancy is raised.
	GracePeriod time.Duration
	// Authority maps each fact to the system whose word counts.
	Authority map[string]string
	Rules     Rules
	// KeyDiseases (R14), MajorDiseases (R05) and Chronic (the chronic-card
	// catalogue) list ICD-10 codes; a diagnosis matches an entry that is
	// equal to it or is its category.
	KeyDiseases, MajorDiseases DiseaseList
	Chronic                    DiseaseList
}

// Rules holds the thresholds of the per-settlement rules. Shares and ratios
// are percentages, amounts are yuan; all are exact decimals.
type Rules struct {
	// R01: the most non-reimbursable cost may make of the total, at
	// township health centres and at county secondary hospitals.
	R01TownshipMaxShare, R01CountySecondaryMaxShare *big.Rat
	// R02: the most out-of-pocket may make of the total cost of in-county
	// inpatient and chronic-outpatient settlements of the poor.
	R02MaxShare *big.Rat
	// R04: the poor inpatient deductible and basic-insurance ratio by
	// facility level (city, county, township).
	R04Deductible map[string]int64 // fen
	R04MinRatio   map[string]*big.Rat
	// R05: basic + critical-illness + assistance share of the total for a
	// major disease; critical-illness payout ratio above its deductible.
	R05MinCombinedShare   *big.Rat
	R05CriticalDeductible int64 // fen
	R05MinCriticalRatio   *big.Rat
	// R06: chronic outpatient of the poor: no deductible, this basic ratio
	// of the in-scope cost within the disease's annual cap; the cap (the
	// basic insurance a person may be paid for the disease in one calendar
	// year) is R06AnnualCap's figure raised by R06CapRaise percent for the
	// poor.
	R06MinRatio  *big.Rat
	R06CapRaise  *big.Rat
	R06AnnualCap AnnualCaps
	// R14: how long the health systems must have known the person (from
	// the first diagnosis seen) before a cause of illness without any key
	// disease diagnosed is flagged.
	R14MinHistory time.Duration
	// R09: deposit reduction for 低保 inpatients, over a base deposit by
	// facility level.
	R09Reduction   *big.Rat
	R09BaseDeposit map[string]int64 // fen
	// RPR: out-of-pocket in one calendar year, at or above which a person
	// who is not registered poor is at risk of (returning to) poverty.
	RPRAnnualOutOfPocket int64 // fen
}

// Facts whose authority a county may set, with their defaults (design.md,
// "Whose word counts").
var defaultAuthority = map[string]string{
	"poverty_status": "registry",
	"poverty_cause":  "registry",
	"exit":           "registry",
	"deceased":       "registry",
	"household":      "registry",
	"poverty_mark":   "insurance",
	"enrollment":     "insurance",
	"chronic_card":   "insurance",
	"settlement":     "insurance",
	"diagnosis":      "his",
	"encounter":      "his",
	"deposit":        "his",
	"contract":       "public_health",
	"followup":       "public_health",
	"health_record":  "public_health",
}

// DefaultGracePeriod is the grace period when neither the pack nor the
// config sets one: three days, one working poll cycle of the monthly
// roster exchange plus a weekend.
const DefaultGracePeriod = 72 * time.Hour

// DefaultR14MinHistory is how long the health systems must have known a
// person before R14's reverse case (a cause of illness with no key disease
// diagnosed) is flagged: one year, the period every follow-up and
// check-up rule counts over (R10–R12), so a chronic patient has been seen.
const DefaultR14MinHistory = 365 * 24 * time.Hour

// DefaultPolicy returns the defaults for county: domain.md's figures and
// empty disease lists.
func DefaultPolicy(county string, grace time.Duration) *Policy {
	if grace <= 0 {
		grace = DefaultGracePeriod
	}
	p := &Policy{County: county, GracePeriod: grace, Authority: map[string]string{}}
	for k, v := range defaultAuthority {
		p.Authority[k] = v
	}
	p.Rules = Rules{
		R01TownshipMaxShare:        rat("2.5"),
		R01CountySecondaryMaxShare: rat("10"),
		R02MaxShare:                rat("10"),
		R04Deductible:              map[string]int64{"city": 150000, "county": 35000, "township": 10000},
		R04MinRatio:                map[string]*big.Rat{"city": rat("70"), "county": rat("85"), "township": rat("95")},
		R05MinCombinedShare:        rat("80"),
		R05CriticalDeductible:      300000,
		R05MinCriticalRatio:        rat("50"),
		R06MinRatio:                rat("70"),
		R06CapRaise:                rat("20"),
		R14MinHistory:              DefaultR14MinHistory,
		R09Reduction:               rat("80"),
		// The sources give no base deposit: examples, to be set per county.
		R09BaseDeposit:       map[string]int64{"township": 50000, "county": 200000, "city": 500000},
		RPRAnnualOutOfPocket: 1000000,
	}
	return p
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("identity: bad constant " + s)
	}
	return r
}

// policyFile is a policy file as written.
type policyFile struct {
	Kind        string            `yaml:"kind"`
	County      string            `yaml:"county"`
	Description string            `yaml:"description"`
	GracePeriod string            `yaml:"grace_period"`
	Authority   map[string]string `yaml:"authority"`
	Rules       struct {
		R01 struct {
			TownshipMaxShare        string `yaml:"township_max_share"`
			CountySecondaryMaxShare string `yaml:"county_secondary_max_share"`
		} `yaml:"R01"`
		R02 struct {
			MaxShare string `yaml:"max_share"`
		} `yaml:"R02"`
		R04 struct {
			Deductible map[string]string `yaml:"deductible"`
			MinRatio   map[string]string `yaml:"min_ratio"`
		} `yaml:"R04"`
		R05 struct {
			MinCombinedShare   string `yaml:"min_combined_share"`
			CriticalDeductible string `yaml:"critical_deductible"`
			MinCriticalRatio   string `yaml:"min_critical_ratio"`
		} `yaml:"R05"`
		R06 struct {
			MinRatio  string      `yaml:"min_ratio"`
			CapRaise  string      `yaml:"cap_raise"`
			AnnualCap diseaseSpec `yaml:"annual_cap"`
		} `yaml:"R06"`
		R14 struct {
			MinHistory string `yaml:"min_history"`
		} `yaml:"R14"`
		R09 struct {
			Reduction   string            `yaml:"reduction"`
			BaseDeposit map[string]string `yaml:"base_deposit"`
		} `yaml:"R09"`
		RPR struct {
			AnnualOutOfPocket string `yaml:"annual_out_of_pocket"`
		} `yaml:"RPR"`
	} `yaml:"rules"`
	Diseases struct {
		Key     diseaseSpec `yaml:"key"`
		Major   diseaseSpec `yaml:"major"`
		Chronic diseaseSpec `yaml:"chronic"`
	} `yaml:"diseases"`
}

type diseaseSpec struct {
	// File is a CSV code table: code,value[,label]. With icd_column value
	// the ICD-10 code is in the value column (a catalogue keyed by the
	// county's own category codes), else in the code column.
	File      string `yaml:"file"`
	ICDColumn string `yaml:"icd_column"`
}

// Policies are the loaded county policies, by county code.
type Policies struct {
	byCounty map[string]*Policy
	grace    time.Duration
}

// For returns the policy of county, or the defaults when the county has no
// policy file.
func (ps *Policies) For(county string) *Policy {
	if p := ps.byCounty[county]; p != nil {
		return p
	}
	return DefaultPolicy(county, ps.grace)
}

// Counties lists the counties with a policy file, sorted.
func (ps *Policies) Counties() []string {
	var out []string
	for c := range ps.byCounty {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// LoadPolicies reads every `kind: policy` file under paths (files or
// directories, as mapping paths are), other kinds being skipped. grace is
// the default grace period for counties whose file does not set one. All
// problems are returned at once as yamlfile.Errors, each at its line and
// column.
func LoadPolicies(grace time.Duration, paths ...string) (*Policies, error) {
	list, err := mappings.LoadKind(PolicyKind, "county", paths, func(doc *yamlfile.Document) (*Policy, string, yamlfile.Errors) {
		p, errs := parsePolicy(doc, grace)
		if errs != nil {
			return nil, "", errs
		}
		return p, p.County, nil
	})
	ps := &Policies{byCounty: map[string]*Policy{}, grace: grace}
	for _, p := range list {
		ps.byCounty[p.County] = p
	}
	return ps, err
}

func parsePolicy(doc *yamlfile.Document, grace time.Duration) (*Policy, yamlfile.Errors) {
	var f policyFile
	if errs := doc.Decode(&f); errs != nil {
		return nil, errs
	}
	var errs yamlfile.Errors
	bad := func(path []string, format string, args ...any) {
		errs = append(errs, doc.Errorf(doc.Lookup(path...), format, args...))
	}
	badKey := func(path []string, format string, args ...any) {
		errs = append(errs, doc.Errorf(doc.LookupKey(path...), format, args...))
	}
	if !reCounty.MatchString(f.County) {
		bad([]string{"county"}, "county must be a 6-digit GB/T 2260 code, quoted")
	}
	p := DefaultPolicy(f.County, grace)
	p.File = doc.File
	if f.GracePeriod != "" {
		d, err := time.ParseDuration(f.GracePeriod)
		if err != nil || d <= 0 {
			bad([]string{"grace_period"}, "grace_period must be a positive duration such as 72h")
		}
		p.GracePeriod = d
	}
	systems := []string{"registry", "insurance", "his", "public_health"}
	for fact, sys := range f.Authority {
		if _, ok := defaultAuthority[fact]; !ok {
			badKey([]string{"authority", fact}, "unknown fact %q; known: %s", fact, strings.Join(slices.Sorted(mapKeys(defaultAuthority)), ", "))
			continue
		}
		if !slices.Contains(systems, sys) {
			bad([]string{"authority", fact}, "system must be one of %s", strings.Join(systems, ", "))
			continue
		}
		p.Authority[fact] = sys
	}
	share := func(dst **big.Rat, s string, path ...string) {
		if s == "" {
			return
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok || !isDecimal(s) || r.Sign() < 0 || r.Cmp(big.NewRat(100, 1)) > 0 {
			bad(append([]string{"rules"}, path...), "%s must be a percentage between 0 and 100, as a decimal (2.5)", path[len(path)-1])
			return
		}
		*dst = r
	}
	money := func(dst *int64, s string, path ...string) {
		if s == "" {
			return
		}
		v, err := parseYuan(s)
		if err != nil || v < 0 {
			bad(append([]string{"rules"}, path...), "%s must be an amount in yuan (1500 or 1500.00)", path[len(path)-1])
			return
		}
		*dst = v
	}
	levels := []string{"village", "township", "county", "city", "province"}
	r := &p.Rules
	share(&r.R01TownshipMaxShare, f.Rules.R01.TownshipMaxShare, "R01", "township_max_share")
	share(&r.R01CountySecondaryMaxShare, f.Rules.R01.CountySecondaryMaxShare, "R01", "county_secondary_max_share")
	share(&r.R02MaxShare, f.Rules.R02.MaxShare, "R02", "max_share")
	// perLevel calls set for each facility level of a by-level table,
	// refusing unknown levels.
	perLevel := func(m map[string]string, set func(lvl, s string), path ...string) {
		for lvl, s := range m {
			if !slices.Contains(levels, lvl) {
				badKey(append(append([]string{"rules"}, path...), lvl), "unknown facility level %q", lvl)
				continue
			}
			set(lvl, s)
		}
	}
	perLevel(f.Rules.R04.Deductible, func(lvl, s string) {
		v := r.R04Deductible[lvl]
		money(&v, s, "R04", "deductible", lvl)
		r.R04Deductible[lvl] = v
	}, "R04", "deductible")
	perLevel(f.Rules.R04.MinRatio, func(lvl, s string) {
		v := r.R04MinRatio[lvl]
		share(&v, s, "R04", "min_ratio", lvl)
		r.R04MinRatio[lvl] = v
	}, "R04", "min_ratio")
	share(&r.R05MinCombinedShare, f.Rules.R05.MinCombinedShare, "R05", "min_combined_share")
	money(&r.R05CriticalDeductible, f.Rules.R05.CriticalDeductible, "R05", "critical_deductible")
	share(&r.R05MinCriticalRatio, f.Rules.R05.MinCriticalRatio, "R05", "min_critical_ratio")
	share(&r.R06MinRatio, f.Rules.R06.MinRatio, "R06", "min_ratio")
	share(&r.R06CapRaise, f.Rules.R06.CapRaise, "R06", "cap_raise")
	if s := f.Rules.R14.MinHistory; s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			bad([]string{"rules", "R14", "min_history"}, "min_history must be a duration such as 8760h (365 days)")
		} else {
			r.R14MinHistory = d
		}
	}
	share(&r.R09Reduction, f.Rules.R09.Reduction, "R09", "reduction")
	perLevel(f.Rules.R09.BaseDeposit, func(lvl, s string) {
		v := r.R09BaseDeposit[lvl]
		money(&v, s, "R09", "base_deposit", lvl)
		r.R09BaseDeposit[lvl] = v
	}, "R09", "base_deposit")
	money(&r.RPRAnnualOutOfPocket, f.Rules.RPR.AnnualOutOfPocket, "RPR", "annual_out_of_pocket")

	dir := filepath.Dir(doc.File)
	for _, d := range []struct {
		name string
		spec diseaseSpec
		dst  *DiseaseList
	}{{"key", f.Diseases.Key, &p.KeyDiseases}, {"major", f.Diseases.Major, &p.MajorDiseases}, {"chronic", f.Diseases.Chronic, &p.Chronic}} {
		if d.spec.File == "" {
			continue
		}
		if d.spec.ICDColumn != "" && d.spec.ICDColumn != "code" && d.spec.ICDColumn != "value" {
			bad([]string{"diseases", d.name, "icd_column"}, "icd_column must be code or value")
			continue
		}
		l, err := readDiseaseList(filepath.Join(dir, d.spec.File), d.spec.ICDColumn == "value")
		if err != nil {
			bad([]string{"diseases", d.name, "file"}, "%v", err)
			continue
		}
		*d.dst = l
	}
	if spec := f.Rules.R06.AnnualCap; spec.File != "" || spec.ICDColumn != "" {
		if spec.ICDColumn != "" {
			bad([]string{"rules", "R06", "annual_cap", "icd_column"}, "annual_cap takes no icd_column: its code column holds the chronic catalogue's category or an ICD-10 code")
		} else if caps, err := readAnnualCaps(filepath.Join(dir, spec.File), p.Chronic); err != nil {
			bad([]string{"rules", "R06", "annual_cap", "file"}, "%v", err)
		} else {
			r.R06AnnualCap = caps
		}
	}
	return p, errs
}

var reCounty = mustRE(canonical.CountyPattern)

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// DiseaseList is a list of ICD-10 codes, each with the category it stands
// for in the county's list (the code itself when the list has none).
type DiseaseList struct {
	entries map[string]string // ICD-10 code → category
}

// Len is the number of entries.
func (l DiseaseList) Len() int { return len(l.entries) }

// Match returns the entry that code falls under and its category: the
// code itself, its category (I10 for I10.x), or nothing.
func (l DiseaseList) Match(code string) (entry, category string, ok bool) {
	if c, ok := l.entries[code]; ok {
		return code, c, true
	}
	if i := strings.IndexByte(code, '.'); i > 0 {
		if c, ok := l.entries[code[:i]]; ok {
			return code[:i], c, true
		}
	}
	return "", "", false
}

// readDiseaseList reads a CSV with a header (code,value[,label,…]).
func readDiseaseList(path string, icdInValue bool) (DiseaseList, error) {
	l := DiseaseList{entries: map[string]string{}}
	icd := mustRE(canonical.ICD10Pattern)
	err := readCodeTable(path, func(line int, code, cat string) error {
		if icdInValue {
			code, cat = cat, code
		}
		if !icd.MatchString(code) {
			return fmt.Errorf("%s:%d: %q is not an ICD-10 code", path, line, code)
		}
		if cat == "" {
			cat = code
		}
		l.entries[code] = cat
		return nil
	})
	return l, err
}

// readCodeTable reads a county code table, a CSV with a header that starts
// code,value, and calls row with each row's line, code and value.
func readCodeTable(path string, row func(line int, code, value string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if line == 1 {
			if len(rec) < 2 || rec[0] != "code" || rec[1] != "value" {
				return fmt.Errorf("%s:1: header must start with code,value", path)
			}
			continue
		}
		if len(rec) < 2 {
			return fmt.Errorf("%s:%d: needs a code and a value", path, line)
		}
		if err := row(line, strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])); err != nil {
			return err
		}
	}
}
