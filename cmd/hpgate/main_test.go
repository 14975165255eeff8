package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestTestCommand(t *testing.T) {
	code, out, _ := runCLI(t, "test", "../../mappings/testdata/good")
	if code != 0 || !strings.HasSuffix(out, "9 passed, 0 failed\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	// A wrong expectation fails with a readable diff and exit status 1.
	dir := t.TempDir()
	src, err := os.ReadFile("../../mappings/testdata/good/registry-person.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "codes"), os.DirFS("../../mappings/testdata/good/codes")); err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(src), "exit_year: 2019", "exit_year: 2018", 1)
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "test", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !regexp.MustCompile(`(?m)^FAIL .*p\.yaml:55 good-registry-person / 15-digit ID upgraded.*\n\s+exit_year: got 2019, want 2018$`).MatchString(out) {
		t.Errorf("no readable diff:\n%s", out)
	}
	if !strings.HasSuffix(out, "8 passed, 1 failed\n") {
		t.Errorf("summary line:\n%s", out)
	}
}

func TestCheckCommand(t *testing.T) {
	code, out, _ := runCLI(t, "check", "../../mappings/testdata/good")
	if code != 0 || out != "ok\n" {
		t.Fatalf("exit %d: %s", code, out)
	}
	code, out, errOut := runCLI(t, "check", "../../mappings/testdata/bad/types.bad.yaml")
	if code != 1 || !strings.Contains(out, "types.bad.yaml:3:9: county must be the 6-digit GB/T 2260 code") || !strings.Contains(errOut, "problem(s)") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
}

func TestCheckConfigFindsUndefinedSource(t *testing.T) {
	dir := t.TempDir()
	maps := filepath.Join(dir, "maps")
	if err := os.CopyFS(maps, os.DirFS("../../mappings/testdata/good")); err != nil {
		t.Fatal(err)
	}
	cfg := `sources:
  other:
    driver: mysql
    dsn_env: X_DSN
kafka: {brokers: ["127.0.0.1:9092"]}
state: {dir: ` + dir + `}
pii: {key_env: HPGATE_PII_KEY}
mappings: {paths: [maps]}
`
	p := filepath.Join(dir, "hpgate.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "check", "-c", p)
	if code != 1 || !strings.Contains(out, "registry-person.yaml:8:9: source test-registry is not defined under sources in "+p) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "hpgate ") {
		t.Fatalf("exit %d: %s", code, out)
	}
}
