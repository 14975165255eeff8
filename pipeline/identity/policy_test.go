package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hpgate/hpgate/mappings/counties"
)

// TestShippedPolicies loads the county packs' policy files: every county
// pack has one, and its lists are read.
func TestShippedPolicies(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, name := range counties.Names() {
		p, err := counties.Extract(name, dir)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	ps, err := LoadPolicies(0, paths...)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(ps.Counties()); got != len(counties.Names()) {
		t.Fatalf("%d counties with a policy (%v), want one per pack %v", got, ps.Counties(), counties.Names())
	}
	for _, c := range ps.Counties() {
		p := ps.For(c)
		if p.KeyDiseases.Len() == 0 || p.MajorDiseases.Len() == 0 {
			t.Errorf("%s: key %d, major %d", c, p.KeyDiseases.Len(), p.MajorDiseases.Len())
		}
		// Packs that map chronic cards ship the catalogue.
		if _, cat, ok := p.Chronic.Match("E11.9"); (c == "370282" || c == "421221") && (!ok || cat == "") {
			t.Errorf("%s: E11.9 not in the chronic catalogue", c)
		}
		// Every pack ships (example) R06 annual caps: E11.9 has one.
		if d, cap, ok := p.Rules.R06AnnualCap.Of("E11.9"); !ok || cap <= 0 || d == "" {
			t.Errorf("%s: no R06 annual cap for E11.9", c)
		}
		if p.Rules.R14MinHistory != DefaultR14MinHistory || p.Rules.R06CapRaise.FloatString(0) != "20" {
			t.Errorf("%s: R14 min_history %v, R06 cap_raise %v", c, p.Rules.R14MinHistory, p.Rules.R06CapRaise)
		}
		if _, _, ok := p.KeyDiseases.Match("C34.1"); !ok {
			t.Errorf("%s: C34.1 not a key disease", c)
		}
	}
	if d := ps.For("999999"); d.GracePeriod != DefaultGracePeriod || d.Rules.RPRAnnualOutOfPocket != 1000000 {
		t.Errorf("defaults for a county without a file: %+v", d)
	}
}

// TestPolicyErrors: every problem of a policy file is reported with its
// line and column.
func TestPolicyErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bad.csv", "code,value\nnot-icd,x\n")
	write("policy.yaml", `kind: policy
county: "37028"
grace_period: soon
authority: {poverty_status: hospital, weather: registry}
rules:
  R01: {township_max_share: "102"}
  R04: {deductible: {moon: "1"}}
  RPR: {annual_out_of_pocket: "1.234"}
diseases:
  key: {file: bad.csv}
`)
	_, err := LoadPolicies(0, dir)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"policy.yaml:2:9: county must be a 6-digit",
		"policy.yaml:3:15: grace_period must be a positive duration",
		"policy.yaml:4:29: system must be one of",
		`policy.yaml:4:39: unknown fact "weather"`,
		"policy.yaml:6:29: township_max_share must be a percentage",
		`policy.yaml:7:22: unknown facility level "moon"`,
		"policy.yaml:8:31: annual_out_of_pocket must be an amount",
		`policy.yaml:10:15: `,
		`"not-icd" is not an ICD-10 code`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}
