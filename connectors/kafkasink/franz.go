package kafkasink

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// FranzOptions returns the connection options of c (brokers, client id,
// TLS and SASL, secrets resolved from their variables or files) for a
// franz-go (kgo) client, which hpgate uses where kafka-go has no
// equivalent: the consumer groups of `hpgate identity`. Errors name the
// key, never a secret.
func (c Config) FranzOptions() ([]kgo.Opt, error) {
	c = c.WithDefaults()
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ClientID(c.ClientID)}
	tc, err := tlsConfig(c.TLS)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.SASL.Mechanism != "" {
		pw, err := resolvePassword(c.SASL)
		if err != nil {
			return nil, err
		}
		user := c.SASL.Username
		var m sasl.Mechanism
		switch c.SASL.Mechanism {
		case SASLPlain:
			m = plain.Plain(func(context.Context) (plain.Auth, error) {
				return plain.Auth{User: user, Pass: pw.reveal()}, nil
			})
		case SASLScramSHA256, SASLScramSHA512:
			auth := func(context.Context) (scram.Auth, error) {
				return scram.Auth{User: user, Pass: pw.reveal()}, nil
			}
			if c.SASL.Mechanism == SASLScramSHA256 {
				m = scram.Sha256(auth)
			} else {
				m = scram.Sha512(auth)
			}
		default:
			return nil, fmt.Errorf("sasl.mechanism: unknown value %q", c.SASL.Mechanism)
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}
