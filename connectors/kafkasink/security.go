package kafkasink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"unicode"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"

	"github.com/hpgate/hpgate/connectors/secretsource"
)

// secret holds a password read from the environment or a file. It never
// prints: every fmt verb, slog and JSON show "[redacted]". The value sits
// behind a pointer, so that printing a struct that embeds a secret through
// reflection shows an address, not the text.
type secret struct{ p *string }

const redacted = "[redacted]"

func newSecret(s string) secret { return secret{p: &s} }

// reveal returns the clear value, for the one place that needs it.
func (s secret) reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

func (s secret) String() string               { return redacted }
func (s secret) GoString() string             { return redacted }
func (s secret) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, redacted) }
func (s secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (s secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (s secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// resolvePassword reads the SASL password from its environment variable or
// file. Errors name the variable or the file, never the value.
func resolvePassword(c SASLConfig) (secret, error) {
	v, err := secretsource.Read("sasl.password_env", c.PasswordEnv, "sasl.password_file", c.PasswordFile,
		secretsource.Options{Trim: secretsource.TrimNewline})
	if err != nil {
		return secret{}, err
	}
	// SASL PLAIN separates its fields with NUL and SCRAM forbids control
	// characters; a CR or tab inside is a mistake of the file anyway.
	if strings.ContainsFunc(v, unicode.IsControl) {
		return secret{}, errors.New("sasl: the password holds a control character")
	}
	return newSecret(v), nil
}

// mechanism builds the kafka-go SASL mechanism of c, or nil when SASL is off.
func mechanism(c SASLConfig) (sasl.Mechanism, error) {
	if c.Mechanism == "" {
		return nil, nil
	}
	pw, err := resolvePassword(c)
	if err != nil {
		return nil, err
	}
	switch c.Mechanism {
	case SASLPlain:
		return plainMechanism{user: c.Username, pass: pw}, nil
	case SASLScramSHA256:
		return newScram(scramSHA256, c.Username, pw), nil
	case SASLScramSHA512:
		return newScram(scramSHA512, c.Username, pw), nil
	}
	return nil, fmt.Errorf("sasl.mechanism: unknown value %q", c.Mechanism)
}

// plainMechanism is kafka-go's PLAIN with the password kept in a secret,
// so that printing the mechanism cannot show it.
type plainMechanism struct {
	user string
	pass secret
}

func (m plainMechanism) Name() string { return SASLPlain }

func (m plainMechanism) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	return plain.Mechanism{Username: m.user, Password: m.pass.reveal()}.Start(ctx)
}

// tlsConfig builds the TLS client config of c, reading its files, or nil
// when TLS is off.
func tlsConfig(c TLSConfig) (*tls.Config, error) {
	if !c.Enabled {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // an explicit, documented test-only option
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
