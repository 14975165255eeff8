package deploy

import (
	"cmp"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors/builtin"
	"github.com/hpgate/hpgate/connectors/filedrop"
	"github.com/hpgate/hpgate/connectors/registry"
	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/yamlfile"
	"github.com/hpgate/hpgate/pipeline/config"
)

// Test secrets: valid in form, never used against anything.
const (
	testKeyHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	testDSN    = "hpgate:test@tcp(127.0.0.1:1)/test?charset=utf8mb4"
)

// moduleRoot is the repository root, seen from this package's directory.
const moduleRoot = ".."

// jimoPack is the county pack the examples deploy.
var jimoPack = filepath.Join(moduleRoot, "mappings", "counties", "370282-jimo")

// sourceSpec is what the deployment must provide for one source, read
// from its block with its own driver's file config type (strictly, as the
// driver's factory decodes it).
type sourceSpec struct {
	driver string
	// secretEnvs and secretFiles map the config key (dsn_env, secret_file,
	// tls.key_file, …) to the environment variable or file it names.
	secretEnvs, secretFiles map[string]string
	// readTimeout bounds one read in flight when SIGTERM comes: the
	// SQL drivers' query_timeout, the registry's request_timeout (the
	// cancelled context stops its retries and their waits). A file-drop
	// read is local and has no timeout of its own: zero.
	readTimeout time.Duration
	// dropDirs are a filedrop source's dir, done_dir and failed_dir
	// (defaults applied): the one place hpgate writes outside its state.
	dropDirs []string
}

// sourceBlock decodes a source's block by its driver. A driver of the
// driver table that this function does not know fails the test, so that a
// new driver gets its deployment checks.
func sourceBlock(t *testing.T, cfg *config.Config, name string) sourceSpec {
	t.Helper()
	driver := cfg.Sources[name].Driver
	if _, ok := builtin.Drivers().Source(driver); !ok {
		t.Fatalf("%s: source %s: driver %q is not in connectors/builtin", cfg.File, name, driver)
	}
	spec := sourceSpec{driver: driver, secretEnvs: map[string]string{}, secretFiles: map[string]string{}}
	put := func(m map[string]string, key, v string) {
		if v != "" {
			m[key] = v
		}
	}
	decode := func(v any) {
		if err := cfg.SourceDecoder(name)(v); err != nil {
			t.Fatalf("%s: source %s: %v", cfg.File, name, err)
		}
	}
	switch {
	case driver == registry.Driver:
		var fc registry.FileConfig
		decode(&fc)
		put(spec.secretEnvs, "secret_env", fc.SecretEnv)
		put(spec.secretFiles, "secret_file", fc.SecretFile)
		put(spec.secretFiles, "tls.key_file", fc.TLS.KeyFile)
		spec.readTimeout = cmp.Or(fc.RequestTimeout, registry.DefaultRequestTimeout)
	case driver == filedrop.Driver:
		var fc filedrop.FileConfig
		decode(&fc)
		spec.dropDirs = []string{
			fc.Dir,
			cmp.Or(fc.DoneDir, path.Join(fc.Dir, "done")),
			cmp.Or(fc.FailedDir, path.Join(fc.Dir, "failed")),
		}
	case slices.Contains(sqlsource.Drivers(), driver):
		var fc sqlsource.FileConfig
		decode(&fc)
		put(spec.secretEnvs, "dsn_env", fc.DSNEnv)
		put(spec.secretFiles, "dsn_file", fc.DSNFile)
		put(spec.secretEnvs, "password_env", fc.PasswordEnv)
		put(spec.secretFiles, "password_file", fc.PasswordFile)
		spec.readTimeout = cmp.Or(fc.QueryTimeout, sqlsource.DefaultQueryTimeout)
	default:
		t.Fatalf("%s: source %s: driver %s has no deployment checks in deploy/helpers_test.go: add them", cfg.File, name, driver)
	}
	return spec
}

// loadLoose loads config text whose mapping paths are those of the target
// machine and so do not exist here: every other problem fails the test.
func loadLoose(t *testing.T, path string, text []byte) *config.Config {
	t.Helper()
	cfg, err := config.Load(path, text)
	var errs yamlfile.Errors
	if err != nil && !errors.As(err, &errs) {
		t.Fatalf("%s: %v", path, err)
	}
	for _, e := range errs {
		if !strings.Contains(e.Msg, "mapping path") {
			t.Errorf("%s", e)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return cfg
}

// checkConfig does what `hpgate run` does before it dials anything: load
// the config, resolve the key, build every source through its driver and
// compile the mappings against the key, each mapping's source defined. It
// returns the compiled mappings. The environment and files the config
// names must be in place (t.Setenv, materialised mounts or credentials).
func checkConfig(t *testing.T, path string, text []byte) []*mappings.Mapping {
	t.Helper()
	cfg, err := config.Load(path, text)
	if err != nil {
		t.Fatalf("config %s does not load:\n%v", path, err)
	}
	key, err := cfg.LoadKey()
	if err != nil {
		t.Fatalf("config %s: pseudonymisation key: %v", path, err)
	}
	if errs := openSources(cfg); len(errs) > 0 {
		t.Fatalf("config %s: sources:\n%s", path, strings.Join(errs, "\n"))
	}
	ms, err := mappings.Load(mappings.Options{Key: key}, cfg.MappingPaths()...)
	if err != nil {
		t.Fatalf("config %s: mappings:\n%v", path, err)
	}
	for _, m := range ms {
		if _, ok := cfg.Sources[m.Source]; !ok {
			t.Errorf("mapping %s (%s) reads source %s, which config %s does not define", m.Name, m.File, m.Source, path)
		}
	}
	return ms
}

// openSources builds each source through its driver's factory, which
// validates the block and resolves the DSN without dialling. It returns
// one message per failing source.
func openSources(cfg *config.Config) []string {
	drivers := builtin.Drivers()
	var errs []string
	for _, name := range slices.Sorted(mapKeys(cfg.Sources)) {
		f, ok := drivers.Source(cfg.Sources[name].Driver)
		if !ok {
			errs = append(errs, name+": unknown driver "+cfg.Sources[name].Driver)
			continue
		}
		src, err := f(name, cfg.SourceDecoder(name), slog.New(slog.DiscardHandler))
		if err != nil {
			errs = append(errs, name+": "+err.Error())
			continue
		}
		_ = src.Close()
	}
	return errs
}

// keyFails reports whether the pseudonymisation key the config names
// cannot be loaded (as with a placeholder).
func keyFails(cfg *config.Config) bool {
	_, err := cfg.LoadKey()
	return err != nil
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyTree copies the regular files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		writeFile(t, filepath.Join(dst, rel), b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hpgateBinary is hpgate built with the container file's `go build` line
// (container_test.go), shared by the tests that need a real binary.
var hpgateBinary struct {
	once    sync.Once
	path    string
	version string
	err     error
}

// builtHpgate returns the path of hpgate built as the Containerfile builds
// it, and the version it was stamped with.
func builtHpgate(t *testing.T) (path, version string) {
	t.Helper()
	hpgateBinary.once.Do(func() {
		hpgateBinary.path, hpgateBinary.version, hpgateBinary.err = buildLikeContainer()
	})
	if hpgateBinary.err != nil {
		t.Fatalf("building hpgate as the Containerfile does: %v", hpgateBinary.err)
	}
	return hpgateBinary.path, hpgateBinary.version
}

// buildDir holds the shared binary; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func lookPath(name string) (string, bool) {
	p, err := exec.LookPath(name)
	return p, err == nil
}
