package deploy

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const containerfilePath = "container/Containerfile"

// instruction is one instruction of a container file, continuation lines
// joined.
type instruction struct {
	line int
	op   string // upper case: FROM, RUN, …
	args string
}

func parseContainerfile(path string) ([]instruction, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var (
		out  []instruction
		cur  strings.Builder
		from int
	)
	for i, l := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(l)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			from = i + 1
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		op, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: from, op: strings.ToUpper(op), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out, nil
}

// shellWords splits a command line the way sh does for plain words and
// single- or double-quoted strings (no escapes, no expansions).
func shellWords(s string) ([]string, error) {
	var (
		out   []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}

// containerSpec is what the tests need from the container file.
type containerSpec struct {
	buildImage, runImage string
	user                 string
	entrypoint, cmd      []string
	expose               []string
	env                  map[string]string // of the build stage
	goBuild              []string          // the words after "go build"
}

func readContainerfile() (containerSpec, error) {
	spec := containerSpec{env: map[string]string{}}
	ins, err := parseContainerfile(containerfilePath)
	if err != nil {
		return spec, err
	}
	stage := 0
	for _, in := range ins {
		where := fmt.Sprintf("%s:%d", containerfilePath, in.line)
		switch in.op {
		case "FROM":
			stage++
			image := strings.Fields(in.args)[0]
			if stage == 1 {
				spec.buildImage = image
			}
			spec.runImage = image
		case "ENV":
			if stage == 1 {
				for _, kv := range strings.Fields(in.args) {
					k, v, _ := strings.Cut(kv, "=")
					spec.env[k] = v
				}
			}
		case "RUN":
			if _, after, ok := strings.Cut(in.args, "go build "); ok {
				words, err := shellWords(after)
				if err != nil {
					return spec, fmt.Errorf("%s: %v", where, err)
				}
				spec.goBuild = words
			}
		case "USER":
			spec.user = in.args
		case "EXPOSE":
			spec.expose = append(spec.expose, strings.Fields(in.args)...)
		case "ENTRYPOINT", "CMD":
			var v []string
			if err := json.Unmarshal([]byte(in.args), &v); err != nil {
				return spec, fmt.Errorf("%s: %s must be in exec (JSON array) form, so that hpgate gets SIGTERM: %v", where, in.op, err)
			}
			if in.op == "CMD" {
				spec.cmd = v
			} else {
				spec.entrypoint = v
			}
		}
	}
	if spec.goBuild == nil {
		return spec, fmt.Errorf("%s has no go build line", containerfilePath)
	}
	return spec, nil
}

// goDirective returns the major.minor of go.mod's go line.
func goDirective(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(readFile(t, filepath.Join(moduleRoot, "go.mod")))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

func TestContainerfile(t *testing.T) {
	spec, err := readContainerfile()
	if err != nil {
		t.Fatal(err)
	}
	goVer := goDirective(t)
	if !regexp.MustCompile(`(^|/)golang:` + regexp.QuoteMeta(goVer) + `([.-]|$)`).MatchString(spec.buildImage) {
		t.Errorf("build stage image %s: want golang:%s (go.mod's go %s)", spec.buildImage, goVer, goVer)
	}
	if !strings.HasPrefix(spec.runImage, "gcr.io/distroless/static") && spec.runImage != "scratch" {
		t.Errorf("run stage image %s: want a minimal base (distroless static or scratch)", spec.runImage)
	}
	if user, _, _ := strings.Cut(spec.user, ":"); user == "" || user == "0" || user == "root" {
		t.Errorf("USER %q: the image must not run as root", spec.user)
	} else if user != fmt.Sprint(nonrootUID) {
		t.Errorf("USER %s: want %d, the uid the Kubernetes manifests run as", spec.user, nonrootUID)
	}
	if !slices.Equal(spec.entrypoint, []string{"/hpgate"}) {
		t.Errorf("ENTRYPOINT %q, want [\"/hpgate\"]", spec.entrypoint)
	}
	if len(spec.cmd) < 3 || spec.cmd[0] != "run" || configFlag(spec.cmd) != containerConfigPath {
		t.Errorf("CMD %q: want run -c %s", spec.cmd, containerConfigPath)
	}
	if !slices.Contains(spec.expose, "9464") {
		t.Errorf("EXPOSE %q: want 9464, hpgate's default HTTP port", spec.expose)
	}
	if spec.env["CGO_ENABLED"] != "0" {
		t.Errorf("build stage ENV CGO_ENABLED=%q, want 0 (a static binary)", spec.env["CGO_ENABLED"])
	}
	for _, want := range []string{"-trimpath", "-s -w", "-X main.version=${VERSION}"} {
		if !slices.ContainsFunc(spec.goBuild, func(w string) bool { return w == want || strings.Contains(w, want) }) {
			t.Errorf("go build %q lacks %q", spec.goBuild, want)
		}
	}
	if !strings.Contains(string(readFile(t, filepath.Join(moduleRoot, "cmd", "hpgate", "version.go"))), "var version = ") {
		t.Error("cmd/hpgate has no `var version`: -X main.version sets nothing")
	}
}

// TestContainerBuildIsStatic runs the container file's go build line
// natively, as the build stage would, and checks the binary: statically
// linked (it runs on distroless static with no libc) and stamped with the
// version given as VERSION.
func TestContainerBuildIsStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hpgate")
	}
	bin, version := builtHpgate(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("hpgate has an ELF interpreter: it is dynamically linked and will not run on distroless static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("hpgate needs shared libraries %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("hpgate has a symbol table: -ldflags -s was not applied")
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("hpgate version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "hpgate "+version+" ") {
		t.Errorf("hpgate version printed %q, want the VERSION build argument %s", out, version)
	}
}

// buildLikeContainer builds ./cmd/hpgate with the container file's go
// build words and build-stage environment into a temporary directory.
func buildLikeContainer() (path, version string, err error) {
	spec, err := readContainerfile()
	if err != nil {
		return "", "", err
	}
	buildDir, err = os.MkdirTemp("", "hpgate-deploy-test-")
	if err != nil {
		return "", "", err
	}
	version = "0.0.0-deploytest"
	path = filepath.Join(buildDir, "hpgate")
	var args []string
	for i := 0; i < len(spec.goBuild); i++ {
		w := spec.goBuild[i]
		if w == "-o" && i+1 < len(spec.goBuild) {
			args = append(args, "-o", path)
			i++
			continue
		}
		args = append(args, strings.ReplaceAll(w, "${VERSION}", version))
	}
	goCmd, ok := lookPath("go")
	if !ok {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goCmd, append([]string{"build"}, args...)...)
	cmd.Dir = moduleRoot
	cmd.Env = os.Environ()
	for k, v := range spec.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return path, version, nil
}

// configFlag returns the value of -c or --config in args.
func configFlag(args []string) string {
	for i, a := range args {
		switch {
		case (a == "-c" || a == "--config") && i+1 < len(args):
			return args[i+1]
		case strings.HasPrefix(a, "--config="):
			return strings.TrimPrefix(a, "--config=")
		}
	}
	return ""
}
