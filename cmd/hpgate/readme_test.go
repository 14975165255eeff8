package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/pipeline/config"
)

// TestReadmeExamples keeps the README's YAML true: the config example
// loads, and the walkthrough's blocks together form a mapping file whose
// fixtures pass.
func TestReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 7 {
		t.Fatalf("%d yaml blocks in the README, want the config and six walkthrough steps", len(blocks))
	}
	dir := t.TempDir()
	cfgText := strings.Replace(blocks[0][1], "/etc/hpgate/mappings.d", dir, 1)
	if _, err := config.Load(filepath.Join(dir, "hpgate.yaml"), []byte(cfgText)); err != nil {
		t.Errorf("README config example: %v", err)
	}
	var mapping strings.Builder
	for _, b := range blocks[1:7] {
		mapping.WriteString(b[1])
	}
	if err := os.MkdirAll(filepath.Join(dir, "codes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "codes", "facility_level.csv"), []byte("code,value\n1,village\n2,township\n3,county\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "settlement.yaml")
	if err := os.WriteFile(path, []byte(mapping.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ms, err := mappings.Load(mappings.Options{}, path)
	if err != nil {
		t.Fatalf("README walkthrough mapping:\n%v\n%s", err, mapping.String())
	}
	results := ms[0].RunFixtures()
	if len(results) != 2 {
		t.Fatalf("%d fixtures", len(results))
	}
	for _, r := range results {
		if !r.Passed() {
			t.Errorf("README fixture %q: %v", r.Fixture.Name, r.Problems)
		}
	}
}
