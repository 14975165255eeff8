package config

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/hpgate/hpgate/mappings/pii"
)

func TestPIIAlgorithms(t *testing.T) {
	c, err := LoadFile(write(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if c.PII.HMAC != pii.HMACSHA256 || c.PII.Cipher != pii.AES256GCM || c.PII.KDF != pii.HKDFSHA256 || len(c.PIIWarnings()) != 0 {
		t.Errorf("defaults: %+v, warnings %v", c.PII, c.PIIWarnings())
	}

	text := strings.Replace(good, "pii: {key_env: HPGATE_PII_KEY}", "pii:\n  key_id: k2-gm\n  key_env: HPGATE_PII_KEY\n  hmac: hmac-sm3\n  cipher: sm4-gcm\n  kdf: hkdf-sm3", 1)
	c, err = LoadFile(write(t, text))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.PIIWarnings()) != 0 {
		t.Errorf("warned with a new key_id: %v", c.PIIWarnings())
	}
	// The key built from the config carries the algorithms.
	secret := bytes.Repeat([]byte{7}, 32)
	t.Setenv("HPGATE_PII_KEY", hex.EncodeToString(secret))
	key, err := c.LoadKey()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := pii.NewKeyWith("k2-gm", secret, pii.Algorithms{HMAC: pii.HMACSM3, KDF: pii.HKDFSM3})
	sha, _ := pii.NewKeyWith("k2-gm", secret, pii.Algorithms{HMAC: pii.HMACSM3})
	if key.Algorithms() != (pii.Algorithms{HMAC: pii.HMACSM3, Cipher: pii.SM4GCM, KDF: pii.HKDFSM3}) || key.PersonKey("x") != want.PersonKey("x") || key.PersonKey("x") == sha.PersonKey("x") {
		t.Errorf("key %+v %s", key.Algorithms(), key.PersonKey("x"))
	}
	s, _ := key.Seal([]byte("x"))
	if b, _ := base64.StdEncoding.DecodeString(s); b[0] != 0x02 { // the SM4-GCM marker
		t.Errorf("sealed with marker %#x", b[0])
	}
}

func TestPIIAlgorithmErrors(t *testing.T) {
	text := strings.Replace(good, "pii: {key_env: HPGATE_PII_KEY}", "pii:\n  key_env: HPGATE_PII_KEY\n  hmac: sm3\n  cipher: SM4\n  kdf: sm3", 1)
	_, err := LoadFile(write(t, text))
	for _, want := range []string{
		`hpgate.yaml:14:9: pii.hmac "sm3": want hmac-sha256 or hmac-sm3`,
		`hpgate.yaml:15:11: pii.cipher "SM4": want aes-256-gcm or sm4-gcm`,
		`hpgate.yaml:16:8: pii.kdf "sm3": want hkdf-sha256 or hkdf-sm3`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %s in\n%v", want, err)
		}
	}
}

func TestPIIWarnsOnHMACWithDefaultKeyID(t *testing.T) {
	text := strings.Replace(good, "pii: {key_env: HPGATE_PII_KEY}", "pii:\n  key_env: HPGATE_PII_KEY\n  hmac: hmac-sm3", 1)
	c, err := LoadFile(write(t, text))
	if err != nil {
		t.Fatal(err)
	}
	w := c.PIIWarnings()
	if len(w) != 1 || !strings.Contains(w[0].Error(), "hpgate.yaml:14:9: warning: pii.hmac hmac-sm3 with key_id k1") || !strings.Contains(w[0].Error(), "re-key") {
		t.Fatalf("warnings %v", w)
	}
}

func TestPIIWarnsOnKDFWithDefaultKeyID(t *testing.T) {
	text := strings.Replace(good, "pii: {key_env: HPGATE_PII_KEY}", "pii:\n  key_env: HPGATE_PII_KEY\n  hmac: hmac-sm3\n  kdf: hkdf-sm3", 1)
	c, err := LoadFile(write(t, text))
	if err != nil {
		t.Fatal(err)
	}
	w := c.PIIWarnings()
	if len(w) != 2 || !strings.Contains(w[0].Error(), "hpgate.yaml:14:9: warning: pii.hmac hmac-sm3") ||
		!strings.Contains(w[1].Error(), "hpgate.yaml:15:8: warning: pii.kdf hkdf-sm3 with key_id k1 (the default): changing pii.kdf") || !strings.Contains(w[1].Error(), "re-key") {
		t.Fatalf("warnings %v", w)
	}
	// The kdf alone warns too.
	c, err = LoadFile(write(t, strings.Replace(text, "  hmac: hmac-sm3\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if w := c.PIIWarnings(); len(w) != 1 || !strings.Contains(w[0].Error(), "hpgate.yaml:14:8: warning: pii.kdf hkdf-sm3") {
		t.Fatalf("kdf alone: warnings %v", w)
	}
}
