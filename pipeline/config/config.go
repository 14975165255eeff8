// Package config loads hpgate's config file (design.md contract 2): the
// source instances, the Kafka cluster, the state directory, the
// pseudonymisation key, the HTTP listener and the mapping paths.
//
// Load decodes strictly and validates without touching the network; every
// problem is reported at once as `path:line:col: message`. Secrets are
// never written in the file: they come from environment variables or
// files named by *_env and *_file keys. The returned Config is read-only.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/kafkasink"
	"github.com/hpgate/hpgate/connectors/secretsource"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/mappings/yamlfile"
)

// Config is a loaded config file.
type Config struct {
	// File is the path the config was read from.
	File string `yaml:"-"`
	// Sources are the source instances by name. Each block is decoded
	// strictly by its driver (see connectors.Drivers); Source holds the
	// keys every driver shares.
	Sources map[string]*Source `yaml:"-"`
	// SourceBlocks are the raw source blocks as written.
	SourceBlocks map[string]yamlfile.Node `yaml:"sources"`
	Kafka        Kafka                    `yaml:"kafka"`
	State        State                    `yaml:"state"`
	PII          PII                      `yaml:"pii"`
	HTTP         HTTP                     `yaml:"http"`
	// Mappings says where the mapping files are.
	Mappings Mappings `yaml:"mappings"`
	// Identity configures `hpgate identity` (identity view, discrepancies,
	// policy checks); see identity.go.
	Identity Identity `yaml:"identity"`
	// Audit configures the daemon's periodic source-to-Kafka audit.
	Audit Audit `yaml:"audit"`
	// Writeback configures `hpgate writeback` (consumer group, listener,
	// default rate); see writeback.go.
	Writeback Writeback `yaml:"writeback"`

	doc *yamlfile.Document
}

// Source is one source instance. Driver-specific keys stay in Node for the
// driver's strict decoder.
type Source struct {
	Name string `yaml:"-"`
	// Driver names the connector: mysql, sqlite, oracle, registry, …
	Driver string `yaml:"driver"`
	// PollInterval is the pause after a poll that found nothing new. The
	// default is 30s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// BatchSize is the number of rows read per batch. The default is 2000.
	BatchSize int `yaml:"batch_size"`
	// Node is the whole block, for the driver's decoder.
	Node yamlfile.Node `yaml:"-"`
}

// Kafka configures the sink: the topic prefix plus kafkasink's keys.
type Kafka struct {
	// TopicPrefix prefixes every topic name. The default is "hp.".
	TopicPrefix      string `yaml:"topic_prefix"`
	kafkasink.Config `yaml:",inline"`
}

// State configures the local state store.
type State struct {
	// Dir holds checkpoints and other state. Required.
	Dir string `yaml:"dir"`
}

// PII configures the pseudonymisation key.
type PII struct {
	// KeyID names the key generation; it prefixes every person key. The
	// default is "k1".
	KeyID string `yaml:"key_id"`
	// KeyEnv names an environment variable holding the secret (hex or
	// base64, at least 32 bytes).
	KeyEnv string `yaml:"key_env"`
	// KeyFile names a file holding the secret (e.g. a systemd credential).
	KeyFile string `yaml:"key_file"`
	// HMAC computes person keys: hmac-sha256 (default) or hmac-sm3.
	// Changing it changes every person key: a re-key, with a new key_id.
	HMAC string `yaml:"hmac"`
	// Cipher seals DLQ raw rows and other personal data at rest:
	// aes-256-gcm (default) or sm4-gcm. Values sealed under either open.
	// Checkpoint positions follow it too.
	Cipher string `yaml:"cipher"`
	// KDF derives every key from the secret: hkdf-sha256 (default) or
	// hkdf-sm3. Changing it changes every key: a re-key, with a new key_id.
	KDF string `yaml:"kdf"`
}

// HTTP configures the listener for /metrics, /healthz, /readyz, /status.
type HTTP struct {
	// Listen is host:port. The default is 127.0.0.1:9464; "" disables it.
	Listen string `yaml:"listen"`
	// BasicAuth, when set, protects /metrics and /status (the probes
	// /healthz and /readyz stay open for orchestrators).
	BasicAuth *BasicAuth `yaml:"basic_auth"`
	// TLS, when set, serves HTTPS with this certificate and key (PEM files).
	TLS *ServerTLS `yaml:"tls"`
}

// BasicAuth is a user and a password read from the environment or a file.
type BasicAuth struct {
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
}

// ServerTLS names the listener's certificate and key.
type ServerTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Password resolves the basic-auth password: a variable's value as it is,
// a file's less its trailing line end; unset, empty or both is an error.
// Errors name the variable or file, never the secret.
func (b *BasicAuth) Password() (string, error) {
	return secretsource.Read("http.basic_auth.password_env", b.PasswordEnv, "http.basic_auth.password_file", b.PasswordFile,
		secretsource.Options{Trim: secretsource.TrimNewline})
}

// Audit configures the periodic source-to-Kafka audit the daemon runs
// (the same as `hpgate audit`), whose figures it exports as metrics.
type Audit struct {
	// Interval between runs; the first runs one interval after start. The
	// default, 0, turns the periodic audit off.
	Interval time.Duration `yaml:"interval"`
	// WindowDays is how many whole days before today each run covers. The
	// default is 7; at most 366.
	WindowDays int `yaml:"window_days"`
	// Sample, when set, compares content hashes on about that many rows
	// per mapping instead of all.
	Sample int `yaml:"sample"`
}

// Mappings lists where the mapping files are.
type Mappings struct {
	// Paths are files or directories, relative to the config file.
	Paths []string `yaml:"paths"`
}

// Defaults.
const (
	DefaultPollInterval = 30 * time.Second
	DefaultBatchSize    = connectors.DefaultBatchSize
	DefaultTopicPrefix  = "hp."
	DefaultListen       = "127.0.0.1:9464"
	DefaultKeyID        = "k1"
)

var (
	reSourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	reTopic      = regexp.MustCompile(`^[a-zA-Z0-9._-]*$`)
)

// LoadFile reads and validates a config file.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Load(path, data)
}

// Load parses and validates config text; path names it in errors and
// anchors relative paths.
func Load(path string, data []byte) (*Config, error) {
	doc, errs := yamlfile.Parse(path, data)
	if errs != nil {
		return nil, errs
	}
	c := &Config{File: path, doc: doc, HTTP: HTTP{Listen: DefaultListen}}
	errs = doc.Decode(c)
	c.Sources = make(map[string]*Source, len(c.SourceBlocks))
	for name, node := range c.SourceBlocks {
		s := &Source{Name: name, Node: node}
		// Only the shared keys here; the driver checks the block strictly.
		errs = append(errs, yamlfile.DecodeLoose(path, &s.Node, s)...)
		c.Sources[name] = s
	}
	c.defaults()
	errs = append(errs, c.validate()...)
	return c, errs.Err()
}

func (c *Config) defaults() {
	for _, s := range c.Sources {
		if s.PollInterval == 0 {
			s.PollInterval = DefaultPollInterval
		}
		if s.BatchSize == 0 {
			s.BatchSize = DefaultBatchSize
		}
	}
	c.Kafka.Config = c.Kafka.Config.WithDefaults()
	if c.Kafka.TopicPrefix == "" {
		c.Kafka.TopicPrefix = DefaultTopicPrefix
	}
	if c.PII.KeyID == "" {
		c.PII.KeyID = DefaultKeyID
	}
	c.piiDefaults()
	c.identityDefaults()
	c.writebackDefaults()
	if c.Audit.WindowDays == 0 {
		c.Audit.WindowDays = 7
	}
}

func (c *Config) errorf(path []string, format string, args ...any) *yamlfile.PosError {
	return c.doc.Errorf(c.doc.Lookup(path...), format, args...)
}

func (c *Config) validate() yamlfile.Errors {
	var errs yamlfile.Errors
	add := func(path []string, format string, args ...any) {
		errs = append(errs, c.errorf(path, format, args...))
	}
	if len(c.Sources) == 0 {
		add(nil, "no sources: name at least one source instance under sources")
	}
	for _, name := range slices.Sorted(mapsKeys(c.Sources)) {
		s := c.Sources[name]
		if !reSourceName.MatchString(name) {
			errs = append(errs, c.doc.Errorf(c.doc.LookupKey("sources", name), "source name %q must be lower-case letters, digits, '-', '_' or '.'", name))
		}
		if s.Driver == "" {
			add([]string{"sources", name}, "source %s needs a driver (mysql, oracle, sqlite, …)", name)
		}
		if s.PollInterval < 0 {
			add([]string{"sources", name, "poll_interval"}, "poll_interval must be positive")
		}
		if s.BatchSize < 0 || s.BatchSize > 100000 {
			add([]string{"sources", name, "batch_size"}, "batch_size must be between 1 and 100000")
		}
	}
	if err := c.Kafka.Config.Validate(); err != nil {
		var fe *kafkasink.FieldError
		for _, e := range unjoin(err) {
			if !errors.As(e, &fe) {
				add([]string{"kafka"}, "kafka: %v", e)
				continue
			}
			path := append([]string{"kafka"}, strings.Split(strings.NewReplacer("[", ".", "]", "").Replace(fe.Field), ".")...)
			add(path, "kafka.%s: %s", fe.Field, fe.Msg)
		}
	}
	if !reTopic.MatchString(c.Kafka.TopicPrefix) {
		add([]string{"kafka", "topic_prefix"}, "topic_prefix may hold only letters, digits, '.', '_' and '-'")
	}
	if c.State.Dir == "" {
		add([]string{"state"}, "state needs dir: where checkpoints are kept")
	}
	switch {
	case c.PII.KeyEnv == "" && c.PII.KeyFile == "":
		add([]string{"pii"}, "pii needs key_env or key_file: the pseudonymisation secret is never written in the config")
	case c.PII.KeyEnv != "" && c.PII.KeyFile != "":
		add([]string{"pii", "key_file"}, "give key_env or key_file, not both")
	}
	if b := c.HTTP.BasicAuth; b != nil {
		if b.Username == "" {
			add([]string{"http", "basic_auth"}, "basic_auth needs a username")
		}
		if (b.PasswordEnv == "") == (b.PasswordFile == "") {
			add([]string{"http", "basic_auth"}, "basic_auth needs one of password_env and password_file")
		}
	}
	if t := c.HTTP.TLS; t != nil && (t.CertFile == "" || t.KeyFile == "") {
		add([]string{"http", "tls"}, "http tls needs cert_file and key_file")
	}
	if c.Audit.Interval < 0 {
		add([]string{"audit", "interval"}, "audit interval must be positive (or 0 for off)")
	}
	if c.Audit.WindowDays < 0 || c.Audit.WindowDays > 366 {
		add([]string{"audit", "window_days"}, "audit window_days must be between 1 and 366")
	}
	if c.Audit.Sample < 0 {
		add([]string{"audit", "sample"}, "audit sample must be positive (or 0 for all rows)")
	}
	errs = append(errs, c.piiValidate()...)
	errs = append(errs, c.identityValidate()...)
	errs = append(errs, c.writebackValidate()...)
	if len(c.Mappings.Paths) == 0 {
		add([]string{"mappings"}, "mappings needs paths: files or directories of mapping files")
	}
	for i, p := range c.Mappings.Paths {
		if _, err := os.Stat(c.Resolve(p)); err != nil {
			add([]string{"mappings", "paths", fmt.Sprint(i)}, "mapping path %s: %v", p, errNoPath(err))
		}
	}
	return errs
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func errNoPath(err error) string {
	if os.IsNotExist(err) {
		return "no such file or directory"
	}
	return err.Error()
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Resolve makes a path relative to the config file's directory.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}

// MappingPaths returns the mapping paths resolved against the config file.
func (c *Config) MappingPaths() []string {
	out := make([]string, len(c.Mappings.Paths))
	for i, p := range c.Mappings.Paths {
		out[i] = c.Resolve(p)
	}
	return out
}

// Errorf returns a problem located at a key path of the config file, for
// checks made by other packages (a mapping naming an unknown source).
func (c *Config) Errorf(path []string, format string, args ...any) *yamlfile.PosError {
	return c.errorf(path, format, args...)
}

// SourceDecoder returns the strict decoder of a source block for its
// driver; the driver's config struct lists the shared keys (driver,
// poll_interval, batch_size) too.
func (c *Config) SourceDecoder(name string) func(any) error {
	s := c.Sources[name]
	return func(out any) error {
		if errs := yamlfile.DecodeNode(c.File, &s.Node, out); errs != nil {
			return errs
		}
		return nil
	}
}

// LoadKey resolves the pseudonymisation key from the environment or file.
func (c *Config) LoadKey() (*pii.Key, error) {
	return pii.LoadKeyWith(c.PII.KeyID, c.PII.KeyEnv, c.Resolve(c.PII.KeyFile), c.PII.Algorithms())
}
