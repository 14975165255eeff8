package kafkasink_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/hpgate/hpgate/connectors/kafkasink"
)

func TestConfigYAML(t *testing.T) {
	const block = `
brokers: ["10.0.0.1:9092", "kafka-2.county.local:9093"]
client_id: hpgate-jimo
compression: zstd
required_acks: all
batch_bytes: 2097152
write_timeout: 15s
tls:
  enabled: true
  ca_file: /etc/hpgate/kafka-ca.pem
  cert_file: /etc/hpgate/client.pem
  key_file: /etc/hpgate/client.key
  server_name: kafka.county.local
sasl:
  mechanism: SCRAM-SHA-512
  username: hpgate
  password_env: HPGATE_KAFKA_PASSWORD
create_topics:
  enabled: true
  partitions: 12
  replication_factor: 3
`
	var cfg kafkasink.Config
	dec := yaml.NewDecoder(strings.NewReader(block))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	want := kafkasink.Config{
		Brokers:      []string{"10.0.0.1:9092", "kafka-2.county.local:9093"},
		ClientID:     "hpgate-jimo",
		Compression:  "zstd",
		RequiredAcks: "all",
		BatchBytes:   2 << 20,
		WriteTimeout: 15 * time.Second,
		TLS: kafkasink.TLSConfig{Enabled: true, CAFile: "/etc/hpgate/kafka-ca.pem",
			CertFile: "/etc/hpgate/client.pem", KeyFile: "/etc/hpgate/client.key", ServerName: "kafka.county.local"},
		SASL:         kafkasink.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "hpgate", PasswordEnv: "HPGATE_KAFKA_PASSWORD"},
		CreateTopics: kafkasink.CreateTopicsConfig{Enabled: true, Partitions: 12, ReplicationFactor: 3},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigDefaults(t *testing.T) {
	got := kafkasink.Config{Brokers: []string{"127.0.0.1:9092"}}.WithDefaults()
	if got.Compression != "lz4" || got.RequiredAcks != "all" || got.WriteTimeout != 10*time.Second ||
		got.BatchBytes != 1<<20 || got.ClientID != "hpgate" ||
		got.CreateTopics.Partitions != 6 || got.CreateTopics.ReplicationFactor != -1 {
		t.Fatalf("defaults = %+v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := func(c *kafkasink.Config) {}
	tests := []struct {
		name   string
		edit   func(*kafkasink.Config)
		fields []string // the FieldError fields expected, in order
	}{
		{name: "minimal config is valid", edit: ok},
		{name: "no brokers", edit: func(c *kafkasink.Config) { c.Brokers = nil }, fields: []string{"brokers"}},
		{name: "broker without port", edit: func(c *kafkasink.Config) { c.Brokers = []string{"a:1", "kafka"} }, fields: []string{"brokers[1]"}},
		{name: "unknown compression", edit: func(c *kafkasink.Config) { c.Compression = "brotli" }, fields: []string{"compression"}},
		{name: "unknown acks", edit: func(c *kafkasink.Config) { c.RequiredAcks = "none" }, fields: []string{"required_acks"}},
		{name: "tiny batch", edit: func(c *kafkasink.Config) { c.BatchBytes = 10 }, fields: []string{"batch_bytes"}},
		{name: "tiny timeout", edit: func(c *kafkasink.Config) { c.WriteTimeout = time.Millisecond }, fields: []string{"write_timeout"}},
		{name: "tls settings without enabled", edit: func(c *kafkasink.Config) { c.TLS.CAFile = "ca.pem" }, fields: []string{"tls.enabled"}},
		{name: "cert without key", edit: func(c *kafkasink.Config) { c.TLS = kafkasink.TLSConfig{Enabled: true, CertFile: "c.pem"} }, fields: []string{"tls.cert_file"}},
		{name: "unknown mechanism", edit: func(c *kafkasink.Config) {
			c.SASL = kafkasink.SASLConfig{Mechanism: "GSSAPI", Username: "u", PasswordEnv: "P"}
		}, fields: []string{"sasl.mechanism"}},
		{name: "scram without user or password", edit: func(c *kafkasink.Config) { c.SASL.Mechanism = "SCRAM-SHA-256" },
			fields: []string{"sasl.username", "sasl.password_env"}},
		{name: "both password sources", edit: func(c *kafkasink.Config) {
			c.SASL = kafkasink.SASLConfig{Mechanism: "PLAIN", Username: "u", PasswordEnv: "P", PasswordFile: "f"}
		}, fields: []string{"sasl.password_env"}},
		{name: "sasl settings without mechanism", edit: func(c *kafkasink.Config) { c.SASL.Username = "u" }, fields: []string{"sasl.mechanism"}},
		{name: "bad topic settings", edit: func(c *kafkasink.Config) {
			c.CreateTopics = kafkasink.CreateTopicsConfig{Partitions: -3, ReplicationFactor: -2}
		},
			fields: []string{"create_topics.partitions", "create_topics.replication_factor"}},
		{name: "every problem at once", edit: func(c *kafkasink.Config) { c.Brokers = nil; c.Compression = "x"; c.RequiredAcks = "x" },
			fields: []string{"brokers", "compression", "required_acks"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := kafkasink.Config{Brokers: []string{"127.0.0.1:9092"}}
			tc.edit(&cfg)
			err := cfg.Validate()
			var got []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var fe *kafkasink.FieldError
					if !errors.As(e, &fe) {
						t.Fatalf("error %v is not a *FieldError", e)
					}
					got = append(got, fe.Field)
				}
			}
			if !slices.Equal(got, tc.fields) {
				t.Fatalf("fields = %v, want %v (err: %v)", got, tc.fields, err)
			}
			if _, nerr := kafkasink.New(cfg, nil); (nerr != nil) != (len(tc.fields) > 0) {
				t.Fatalf("New: err = %v", nerr)
			}
		})
	}
}

func TestNewResolvesSecretsAndFiles(t *testing.T) {
	base := kafkasink.Config{Brokers: []string{"127.0.0.1:9092"}}
	tests := []struct {
		name    string
		edit    func(*kafkasink.Config)
		wantErr string
	}{
		{name: "password variable unset", edit: func(c *kafkasink.Config) {
			c.SASL = kafkasink.SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u", PasswordEnv: "HPGATE_TEST_KAFKA_UNSET_PW"}
		}, wantErr: "HPGATE_TEST_KAFKA_UNSET_PW is not set"},
		{name: "missing CA file", edit: func(c *kafkasink.Config) {
			c.TLS = kafkasink.TLSConfig{Enabled: true, CAFile: "/nonexistent/ca.pem"}
		}, wantErr: "tls.ca_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			_, err := kafkasink.New(cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
