package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/mappings/yamlfile"
)

func write(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "maps"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "hpgate.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const good = `sources:
  a-his:
    driver: mysql
    dsn_env: A_DSN
    poll_interval: 5s
  b-ins:
    driver: mysql
    dsn_env: B_DSN
kafka:
  brokers: ["127.0.0.1:9092"]
state: {dir: /tmp/state}
pii: {key_env: HPGATE_PII_KEY}
mappings: {paths: [maps]}
`

func TestLoadDefaults(t *testing.T) {
	p := write(t, good)
	c, err := LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sources["a-his"].PollInterval != 5*time.Second || c.Sources["b-ins"].PollInterval != DefaultPollInterval {
		t.Errorf("poll intervals %v %v", c.Sources["a-his"].PollInterval, c.Sources["b-ins"].PollInterval)
	}
	if c.Sources["b-ins"].BatchSize != DefaultBatchSize || c.Kafka.TopicPrefix != "hp." || c.HTTP.Listen != DefaultListen || c.PII.KeyID != "k1" {
		t.Errorf("defaults not applied: %+v %+v", c.Sources["b-ins"], c)
	}
	if got := c.MappingPaths()[0]; got != filepath.Join(filepath.Dir(p), "maps") {
		t.Errorf("mapping path %s", got)
	}
	// The driver's own keys stay for its strict decoder.
	var drv struct {
		Driver       string        `yaml:"driver"`
		DSNEnv       string        `yaml:"dsn_env"`
		PollInterval time.Duration `yaml:"poll_interval"`
	}
	if err := c.SourceDecoder("a-his")(&drv); err != nil || drv.DSNEnv != "A_DSN" {
		t.Errorf("source decode: %v %+v", err, drv)
	}
	var narrow struct {
		Driver string `yaml:"driver"`
	}
	if err := c.SourceDecoder("a-his")(&narrow); err == nil || !strings.Contains(err.Error(), `hpgate.yaml:4:5: unknown key "dsn_env"`) {
		t.Errorf("strict driver decode: %v", err)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	p := write(t, `sources:
  Bad_Name:
    poll_interval: soon
kafka:
  topic_prefix: "hp/"
  compresion: lz4
pii: {key_env: X, key_file: /y}
mappings: {paths: [nowhere]}
extra: 1
`)
	_, err := LoadFile(p)
	var errs yamlfile.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v", err)
	}
	got := strings.ReplaceAll(errs.Error(), p, "hpgate.yaml")
	want := []string{
		`hpgate.yaml:1:1: state needs dir: where checkpoints are kept`,
		`hpgate.yaml:2:3: source name "Bad_Name" must be lower-case letters, digits, '-', '_' or '.'`,
		`hpgate.yaml:3:5: source Bad_Name needs a driver (mysql, oracle, sqlite, …)`,
		`hpgate.yaml:3:20: expected a duration such as 30s or 5m, got "soon"`,
		`hpgate.yaml:5:3: kafka.brokers: at least one broker address (host:port) is required`,
		`hpgate.yaml:5:17: topic_prefix may hold only letters, digits, '.', '_' and '-'`,
		`hpgate.yaml:6:3: unknown key "compresion"`,
		`hpgate.yaml:7:29: give key_env or key_file, not both`,
		`hpgate.yaml:8:20: mapping path nowhere: no such file or directory`,
		`hpgate.yaml:9:1: unknown key "extra"`,
	}
	if got != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestExampleConfigLoads(t *testing.T) {
	if _, err := LoadFile("../../deploy/hpgate.example.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPSecurityOptions(t *testing.T) {
	p := write(t, good+"http:\n  listen: 0.0.0.0:9464\n  basic_auth: {username: ops}\n  tls: {cert_file: c.pem}\n")
	_, err := LoadFile(p)
	if err == nil {
		t.Fatal("incomplete basic_auth and tls accepted")
	}
	for _, want := range []string{"basic_auth needs one of password_env and password_file", "http tls needs cert_file and key_file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	p = write(t, good+"http:\n  basic_auth: {username: ops, password_env: HPGATE_TEST_HTTP_PASSWORD}\n")
	c, err := LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HPGATE_TEST_HTTP_PASSWORD", "s3cret")
	if pw, err := c.HTTP.BasicAuth.Password(); err != nil || pw != "s3cret" {
		t.Errorf("password %q, %v", pw, err)
	}
	// A password is kept as given: spaces too; a file loses only its
	// line end; an empty one is an error naming the file, not a blank
	// password.
	t.Setenv("HPGATE_TEST_HTTP_PASSWORD", " s3cret ")
	if pw, err := c.HTTP.BasicAuth.Password(); err != nil || pw != " s3cret " {
		t.Errorf("password %q, %v", pw, err)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	for content, want := range map[string]string{"s3cret\r\n": "s3cret", "": "http.basic_auth.password_file: file " + pwFile + " is empty"} {
		if err := os.WriteFile(pwFile, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		pw, err := (&BasicAuth{Username: "ops", PasswordFile: pwFile}).Password()
		got := pw
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("password file %q: got %q, want %q", content, got, want)
		}
	}
}

func TestAuditOptions(t *testing.T) {
	c, err := LoadFile(write(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Audit.Interval != 0 || c.Audit.WindowDays != 7 {
		t.Errorf("audit defaults %+v, want off over 7 days", c.Audit)
	}
	_, err = LoadFile(write(t, good+"audit:\n  interval: -1h\n  window_days: 400\n"))
	if err == nil {
		t.Fatal("bad audit block accepted")
	}
	lines := strings.Count(good, "\n")
	for _, want := range []string{
		fmt.Sprintf(":%d:13: audit interval must be positive", lines+2),
		fmt.Sprintf(":%d:16: audit window_days must be between 1 and 366", lines+3),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
