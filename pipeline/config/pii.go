package config

import (
	"slices"
	"strings"

	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/mappings/yamlfile"
)

// Algorithms returns the key's algorithms as configured.
func (p PII) Algorithms() pii.Algorithms {
	return pii.Algorithms{HMAC: p.HMAC, Cipher: p.Cipher}
}

func (c *Config) piiDefaults() {
	if c.PII.HMAC == "" {
		c.PII.HMAC = pii.HMACs[0]
	}
	if c.PII.Cipher == "" {
		c.PII.Cipher = pii.Ciphers[0]
	}
}

func (c *Config) piiValidate() yamlfile.Errors {
	var errs yamlfile.Errors
	if !slices.Contains(pii.HMACs, c.PII.HMAC) {
		errs = append(errs, c.errorf([]string{"pii", "hmac"}, "pii.hmac %q: want %s", c.PII.HMAC, strings.Join(pii.HMACs, " or ")))
	}
	if !slices.Contains(pii.Ciphers, c.PII.Cipher) {
		errs = append(errs, c.errorf([]string{"pii", "cipher"}, "pii.cipher %q: want %s", c.PII.Cipher, strings.Join(pii.Ciphers, " or ")))
	}
	return errs
}

// PIIWarnings returns advice on the pii block that does not stop a start
// (`hpgate check` prints it). The person key is `<key id>:<hex HMAC>`, so
// the key id is all that tells person keys of one HMAC from another's: a
// non-default HMAC under the default key id most likely means pii.hmac was
// changed without re-keying. Past generations are not known here; the
// README's re-key steps are the rule.
func (c *Config) PIIWarnings() yamlfile.Errors {
	if c.PII.HMAC == pii.HMACs[0] || c.PII.KeyID != DefaultKeyID {
		return nil
	}
	return yamlfile.Errors{c.errorf([]string{"pii", "hmac"},
		"warning: pii.hmac %s with key_id %s (the default): changing pii.hmac changes every person key, a re-key of the whole stream into new topics; give the new generation its own key_id (e.g. %s-sm3 or k2)",
		c.PII.HMAC, c.PII.KeyID, c.PII.KeyID)}
}
