package kafkasink

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of Config. A zero field means its default.
const (
	DefaultClientID     = "hpgate"
	DefaultCompression  = "lz4"
	DefaultRequiredAcks = "all"
	DefaultBatchBytes   = 1 << 20 // 1 MiB: kafka-go's and the broker's (message.max.bytes) default
	DefaultWriteTimeout = 10 * time.Second

	DefaultTopicPartitions        = 6
	DefaultTopicReplicationFactor = -1 // the broker's default.replication.factor
)

// Config is the `kafka:` block of the config file. Decode it strictly, then
// pass it to New, which fills the defaults, validates it and resolves its
// secrets. A Config holds no secret itself: only the names of the
// environment variables and files that hold them.
type Config struct {
	// Brokers are the bootstrap brokers, host:port. Required.
	Brokers []string `yaml:"brokers"`
	// ClientID is sent to the brokers (their logs and quotas name it).
	// The default is "hpgate".
	ClientID string `yaml:"client_id"`
	// Compression of record batches: none, gzip, snappy, lz4 or zstd.
	// The default is lz4.
	Compression string `yaml:"compression"`
	// RequiredAcks is "all" (the default: every in-sync replica has the
	// record before Write returns) or "one" (the leader only; a leader
	// failure can then lose acknowledged records, so a checkpoint may pass
	// data that is gone).
	RequiredAcks string `yaml:"required_acks"`
	// BatchBytes caps the uncompressed size of one produce request per
	// partition; larger batches are split. A single message larger than
	// this fails on its own. The default is 1 MiB (1048576).
	BatchBytes int64 `yaml:"batch_bytes"`
	// WriteTimeout bounds one Write call, from the call to the last
	// acknowledgement, and each produce request inside it. A Write that
	// runs out of it fails with connectors.ErrUnavailable. The default is
	// 10s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// TLS configures encrypted connections to the brokers.
	TLS TLSConfig `yaml:"tls"`
	// SASL configures broker authentication.
	SASL SASLConfig `yaml:"sasl"`
	// CreateTopics configures creating missing topics at start.
	CreateTopics CreateTopicsConfig `yaml:"create_topics"`
}

// TLSConfig configures TLS to the brokers. Files are read by New.
type TLSConfig struct {
	// Enabled turns TLS on. The other fields need it.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs that sign the brokers'
	// certificates. The default is the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client's PEM certificate and key, for
	// brokers that require client certificates. Both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify accepts any broker certificate. For tests only:
	// it makes TLS worthless against an active attacker.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName is the name checked in the brokers' certificates. The
	// default is the host of each broker address.
	ServerName string `yaml:"server_name"`
}

// SASL mechanisms.
const (
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
	SASLPlain       = "PLAIN"
)

// SASLConfig configures SASL authentication. The password comes from an
// environment variable or a file, never from the config itself.
type SASLConfig struct {
	// Mechanism is SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN; empty turns SASL
	// off. PLAIN sends the password as is: use it only with TLS.
	Mechanism string `yaml:"mechanism"`
	// Username is the SASL user. Required with a mechanism.
	Username string `yaml:"username"`
	// PasswordEnv names the environment variable that holds the password.
	PasswordEnv string `yaml:"password_env"`
	// PasswordFile is a file whose content (less a final newline) is the
	// password. Exactly one of PasswordEnv and PasswordFile is required
	// with a mechanism.
	PasswordFile string `yaml:"password_file"`
}

// CreateTopicsConfig configures Sink.EnsureTopics, which the pipeline calls
// at start when Enabled is set.
type CreateTopicsConfig struct {
	// Enabled creates missing topics at start. The default is off: topics
	// are then an operator's job, and a missing one fails its messages.
	Enabled bool `yaml:"enabled"`
	// Partitions of each created topic. All canonical topics of a
	// deployment must have the same count. The default is 6.
	Partitions int `yaml:"partitions"`
	// ReplicationFactor of each created topic. The default, -1, is the
	// broker's default.replication.factor.
	ReplicationFactor int `yaml:"replication_factor"`
}

// FieldError is one problem of a Config: Field is the key's path inside
// the kafka block, dotted (e.g. "sasl.password_env"), so that the config
// loader can point at its line and column.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.Compression == "" {
		c.Compression = DefaultCompression
	}
	if c.RequiredAcks == "" {
		c.RequiredAcks = DefaultRequiredAcks
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.CreateTopics.Partitions == 0 {
		c.CreateTopics.Partitions = DefaultTopicPartitions
	}
	if c.CreateTopics.ReplicationFactor == 0 {
		c.CreateTopics.ReplicationFactor = DefaultTopicReplicationFactor
	}
	return c
}

// Validate checks c (with its defaults) without touching the network, the
// environment or the file system. It returns every problem at once, joined
// (errors.Join); each is a *FieldError.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}

	if len(c.Brokers) == 0 {
		add("brokers", "at least one broker address (host:port) is required")
	}
	for i, b := range c.Brokers {
		if !validHostPort(b) {
			add(fmt.Sprintf("brokers[%d]", i), "%q is not host:port", b)
		}
	}
	if _, ok := compressions[c.Compression]; !ok {
		add("compression", "unknown value %q (none, gzip, snappy, lz4, zstd)", c.Compression)
	}
	if _, ok := acks[c.RequiredAcks]; !ok {
		add("required_acks", "unknown value %q (all, one)", c.RequiredAcks)
	}
	if c.BatchBytes < 1024 || c.BatchBytes > 64<<20 {
		add("batch_bytes", "%d is out of range (1024 to 67108864)", c.BatchBytes)
	}
	if c.WriteTimeout < 100*time.Millisecond {
		add("write_timeout", "%s is too short (at least 100ms)", c.WriteTimeout)
	}

	t := c.TLS
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify || t.ServerName != "") {
		add("tls.enabled", "tls settings are given but tls.enabled is false")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		add("tls.cert_file", "cert_file and key_file go together")
	}

	s := c.SASL
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.PasswordEnv != "" || s.PasswordFile != "" {
			add("sasl.mechanism", "sasl settings are given but no mechanism (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN)")
		}
	case SASLScramSHA256, SASLScramSHA512, SASLPlain:
		if s.Username == "" {
			add("sasl.username", "required with sasl.mechanism %s", s.Mechanism)
		}
		switch {
		case s.PasswordEnv == "" && s.PasswordFile == "":
			add("sasl.password_env", "one of password_env and password_file is required")
		case s.PasswordEnv != "" && s.PasswordFile != "":
			add("sasl.password_env", "password_env and password_file are exclusive")
		}
	default:
		add("sasl.mechanism", "unknown value %q (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN)", s.Mechanism)
	}

	ct := c.CreateTopics
	if ct.Partitions < 1 && ct.Partitions != -1 {
		add("create_topics.partitions", "%d is not a partition count (at least 1, or -1 for the broker's default)", ct.Partitions)
	}
	if ct.ReplicationFactor < 1 && ct.ReplicationFactor != -1 {
		add("create_topics.replication_factor", "%d is not a replication factor (at least 1, or -1 for the broker's default)", ct.ReplicationFactor)
	}
	return errors.Join(errs...)
}

func validHostPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return false
	}
	for _, r := range s[i+1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
