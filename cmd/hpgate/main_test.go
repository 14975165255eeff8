package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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
	if code != 0 || !strings.HasSuffix(out, "13 passed, 0 failed\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	// A wrong expectation fails with a readable diff and exit status 1.
	dir := brokenFixtureDir(t)
	code, out, _ = runCLI(t, "test", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !regexp.MustCompile(`(?m)^FAIL .*p\.yaml:55 good-registry-person / 15-digit ID upgraded.*\n\s+exit_year: got 2019, want 2018$`).MatchString(out) {
		t.Errorf("no readable diff:\n%s", out)
	}
	if !strings.HasSuffix(out, "9 passed, 1 failed\n") {
		t.Errorf("summary line:\n%s", out)
	}
}

// brokenFixtureDir returns a directory holding the good registry-person
// mapping (as p.yaml, with its code tables) whose "15-digit ID upgraded"
// fixture expects exit_year 2018 where the mapping gives 2019.
func brokenFixtureDir(t *testing.T) string {
	t.Helper()
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
	return dir
}

// TestTestCommandVerboseAndRun checks that -v shows what each fixture row
// produced (record data as indented JSON, rejection, filtered) without the
// clear ID, and that --run selects fixtures by name.
func TestTestCommandVerboseAndRun(t *testing.T) {
	const good = "../../mappings/testdata/good"
	code, out, _ := runCLI(t, "test", "-v", "--run", `GBK name|check digit|deleted row`, good)
	if code != 0 || !strings.HasSuffix(out, "3 passed, 0 failed\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []*regexp.Regexp{
		// The record's data, pretty-printed under its fixture line.
		regexp.MustCompile(`(?m)^ok   .*registry-person\.yaml:34 good-registry-person / valid ID, GBK name.*\n     upsert record: \{\n       "area_code": "370282101001",\n`),
		regexp.MustCompile(`(?m)^       "id_masked": "110105\*{8}002X",$`),
		regexp.MustCompile(`(?m)^       "person_key": "test:[0-9a-f]{64}",$`),
		regexp.MustCompile(`(?m)^     \}$`),
		// A rejection with field, code and message.
		regexp.MustCompile(`(?m)^ok   .*:62 good-registry-person / bad check digit.*\n     rejected: field person_key, code bad_check_digit: ID number column SFZH: check digit does not match$`),
		regexp.MustCompile(`(?m)^ok   .*:68 good-registry-person / deleted row is filtered\n     filtered out$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("output does not match %s:\n%s", want, out)
		}
	}
	// Only the selected fixtures ran, and no clear ID number was printed.
	if n := len(regexp.MustCompile(`(?m)^(ok  |FAIL) `).FindAllString(out, -1)); n != 3 {
		t.Errorf("%d fixtures listed, want 3:\n%s", n, out)
	}
	for _, clear := range []string{"11010519491231002X", "110105194912310021", "张三丰"} {
		if strings.Contains(out, clear) {
			t.Errorf("verbose output shows %q in clear:\n%s", clear, out)
		}
	}

	// Without -v a passing selection prints only the summary.
	code, out, _ = runCLI(t, "test", "--run", `^unknown status code`, good)
	if code != 0 || out != "1 passed, 0 failed\n" {
		t.Errorf("exit %d:\n%s", code, out)
	}

	// A failing fixture under -v shows its problem and what it produced.
	code, out, _ = runCLI(t, "test", "--verbose", "--run", "15-digit", brokenFixtureDir(t))
	if code != 1 || !strings.HasSuffix(out, "0 passed, 1 failed\n") ||
		!regexp.MustCompile(`(?m)^FAIL .*p\.yaml:55 .*\n     exit_year: got 2019, want 2018\n     upsert record: \{\n(.*\n)*       "exit_year": 2019,$`).MatchString(out) {
		t.Errorf("exit %d:\n%s", code, out)
	}

	// A selection that matches nothing is an error, and so is a bad expression.
	code, out, errOut := runCLI(t, "test", "--run", "no such fixture", good)
	if code != 1 || out != "0 passed, 0 failed\n" || !strings.Contains(errOut, `no fixture name matches --run "no such fixture"`) {
		t.Errorf("exit %d:\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "test", "--run", "(", good)
	if code == 0 || !strings.Contains(errOut, "--run: error parsing regexp") {
		t.Errorf("exit %d:\n%s", code, errOut)
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

// TestCountyPacks runs `hpgate check` and `hpgate test` over the shipped
// county packs, as county IT staff would.
func TestCountyPacks(t *testing.T) {
	code, out, _ := runCLI(t, "check", "../../mappings/counties")
	if code != 0 {
		t.Fatalf("check: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "test", "../../mappings/counties")
	m := regexp.MustCompile(`(?m)^(\d+) passed, 0 failed$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("test: exit %d\n%s", code, out)
	}
	if n, _ := strconv.Atoi(m[1]); n < 30 {
		t.Errorf("only %d fixtures in the county packs", n)
	}
}

// TestDemo runs `hpgate demo` as a newcomer would and checks that both
// the snapshot and the increment reach Kafka.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo builds a county and runs the pipeline; skipped with -short")
	}
	code, out, errOut := runCLI(t, "demo", "--rows", "120")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// 120 rows per table then 25 more; the settlement topic gets both the
	// HIS and the insurance settlements, plus the pack's 10 demo-case
	// settlements (demo.yaml).
	re := regexp.MustCompile(`(?m)^\s+hp\.settlement\.v1\s+(\d+)\s+(\d+)$`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no settlement line in:\n%s", out)
	}
	if m[1] != "250" || m[2] != "300" {
		t.Errorf("settlements after snapshot %s, after increment %s; want 250 and 300\n%s", m[1], m[2], out)
	}
	for _, want := range []string{"hp.dlq.v1", "jimo-ins-settlement", "bad_check_digit", "increment delivered"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if regexp.MustCompile(`\b370282(19|20)\d{9}[\dX]\b`).MatchString(out) {
		t.Errorf("a clear ID number in the demo output:\n%s", out)
	}
	// The registry API mappings read the in-process simulator: its 200
	// persons, then every version the increment's changes made, all mapped.
	if !strings.Contains(out, "registry API simulator at http://127.0.0.1:") {
		t.Errorf("no registry simulator in:\n%s", out)
	}
	for _, mapping := range []string{"jimo-registry-api-person", "jimo-registry-api-household"} {
		m := regexp.MustCompile(`(?m)^\s+` + mapping + `\s+(\d+)\s+(\d+)\s+0\s`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("no %s line in:\n%s", mapping, out)
			continue
		}
		if n, _ := strconv.Atoi(m[1]); m[1] != m[2] || (mapping == "jimo-registry-api-person" && n < 200) {
			t.Errorf("%s: rows and records %v, want equal, none rejected, at least the 200 persons\n%s", mapping, m, out)
		}
	}
}
