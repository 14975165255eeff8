package config

import (
	"slices"
	"strings"

	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/mappings/yamlfile"
)

// Algorithms returns the key's algorithms as configured.
func (p PII) Algorithms() pii.Algorithms {
	return pii.Algorithms{HMAC: p.HMAC, Cipher: p.Cipher, KDF: p.KDF}
}

func (c *Config) piiDefaults() {
	if c.PII.HMAC == "" {
		c.PII.HMAC = pii.HMACs[0]
	}
	if c.PII.Cipher == "" {
		c.PII.Cipher = pii.Ciphers[0]
	}
	if c.PII.KDF == "" {
		c.PII.KDF = pii.KDFs[0]
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
	if !slices.Contains(pii.KDFs, c.PII.KDF) {
		errs = append(errs, c.errorf([]string{"pii", "kdf"}, "pii.kdf %q: want %s", c.PII.KDF, strings.Join(pii.KDFs, " or ")))
	}
	return errs
}

// PIIWarnings returns advice on the pii block that does not stop a start
// (`hpgate check` prints it). The person key is `<key id>:<hex HMAC>`, so
// the key id is all that tells person keys of one HMAC or KDF from
// another's: a non-default pii.hmac or pii.kdf under the default key id
// most likely means it was changed without re-keying. Past generations are
// not known here; the README's re-key steps are the rule.
func (c *Config) PIIWarnings() yamlfile.Errors {
	if c.PII.KeyID != DefaultKeyID {
		return nil
	}
	var errs yamlfile.Errors
	for _, o := range []struct{ key, value, def, suffix string }{
		{"hmac", c.PII.HMAC, pii.HMACs[0], "sm3"},
		{"kdf", c.PII.KDF, pii.KDFs[0], "gm"},
	} {
		if o.value == o.def {
			continue
		}
		errs = append(errs, c.errorf([]string{"pii", o.key},
			"warning: pii.%s %s with key_id %s (the default): changing pii.%s changes every person key, a re-key of the whole stream into new topics; give the new generation its own key_id (e.g. %s-%s or k2)",
			o.key, o.value, c.PII.KeyID, o.key, c.PII.KeyID, o.suffix))
	}
	return errs
}
