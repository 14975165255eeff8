package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckPolicyFiles: `hpgate check` validates county policy files
// (kind: policy) and their code tables with the loader of `hpgate
// identity`, each problem at its path:line:col; with -c it reads the
// policy paths of the config (identity.policy_paths).
func TestCheckPolicyFiles(t *testing.T) {
	dir := t.TempDir()
	county := filepath.Join(dir, "county")
	if err := os.CopyFS(county, os.DirFS("testdata/identity")); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(county, "policy.yaml")
	editFile(t, policy, "rules:\n", "rules:\n  R06: {annual_cap: {file: codes/cap.csv}}\n")
	writeFile(t, filepath.Join(county, "codes", "cap.csv"), "code,value,label\n1002,1500,diabetes\n")
	if code, out, errOut := runCLI(t, "check", county); code != 0 || out != "ok\n" {
		t.Fatalf("a good policy: exit %d\n%s%s", code, out, errOut)
	}

	editFile(t, policy, "grace_period: 72h", "grace_period: soon")
	writeFile(t, filepath.Join(county, "codes", "cap.csv"), "code,value,label\n1002,1500,diabetes\n9999,10,unknown\n")
	code, out, errOut := runCLI(t, "check", county)
	for _, want := range []string{
		policy + ":3:15: grace_period must be a positive duration",
		policy + `:5:28: ` + filepath.Join(county, "codes", "cap.csv") + `:3: "9999" is neither a category of the chronic catalogue`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if code != 1 || !strings.Contains(errOut, "2 problem(s)") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}

	// With the config: policy files under identity.policy_paths, apart
	// from the mappings, are checked too.
	pols := filepath.Join(dir, "policies")
	if err := os.CopyFS(filepath.Join(pols, "codes"), os.DirFS(filepath.Join(county, "codes"))); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(policy, filepath.Join(pols, "policy.yaml")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hpgate.yaml")
	writeFile(t, cfg, `sources:
  t-reg: {driver: mysql, dsn_env: NOPE}
kafka: {brokers: ["127.0.0.1:1"]}
state: {dir: state}
pii: {key_env: NOPE}
mappings: {paths: [county]}
identity: {policy_paths: [policies]}
`)
	code, out, _ = runCLI(t, "check", "-c", cfg)
	if code != 1 || !strings.Contains(out, filepath.Join(pols, "policy.yaml")+":3:15: grace_period must be a positive duration") {
		t.Errorf("with -c: exit %d\n%s", code, out)
	}
}
