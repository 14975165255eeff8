// Package pii holds everything hpgate does with personal data: the person
// key (a keyed HMAC of the normalised ID number), masking for display, and
// sealing of raw rows for the dead-letter queue.
//
// The clear ID number enters this package and leaves it only as an HMAC, a
// masked string or AES-256-GCM ciphertext. Types here implement
// slog.LogValuer so that a value logged by mistake is masked.
package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"os"
	"strings"
	"unicode/utf8"
)

// MinSecret is the shortest deployment secret accepted, in bytes.
const MinSecret = 32

// Key is a deployment's pseudonymisation key. Its ID names the generation
// (it prefixes every person key), so a re-keyed stream is told apart.
// A Key is safe for concurrent use; a Hasher made from it is not.
type Key struct {
	id      string
	macKey  []byte
	sealKey []byte
	aead    cipher.AEAD
}

// TestKeyID and TestSecret are the documented fixed key under which
// fixtures (`hpgate test`) run, so a fixture can state a person_key. Never
// use it for real data.
const (
	TestKeyID  = "test"
	TestSecret = "hpgate-fixture-key-never-use-in-production"
)

// TestKey returns the fixture key.
func TestKey() *Key {
	k, err := NewKey(TestKeyID, []byte(TestSecret))
	if err != nil {
		panic(err) // the constant is valid
	}
	return k
}

// NewKey derives the HMAC and encryption keys from a secret of at least
// MinSecret bytes (HKDF-SHA256, one label each).
func NewKey(id string, secret []byte) (*Key, error) {
	if id == "" || strings.ContainsAny(id, ": \t\n") || strings.ToLower(id) != id {
		return nil, fmt.Errorf("key id %q must be a non-empty lower-case word without ':' or spaces", id)
	}
	if len(secret) < MinSecret {
		return nil, fmt.Errorf("pseudonymisation secret is %d bytes, need at least %d", len(secret), MinSecret)
	}
	mac, err := hkdf.Key(sha256.New, secret, nil, "hpgate person key v1", 32)
	if err != nil {
		return nil, err
	}
	seal, err := hkdf.Key(sha256.New, secret, nil, "hpgate seal v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(seal)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Key{id: id, macKey: mac, sealKey: seal, aead: aead}, nil
}

// LoadKey reads a secret from the environment variable env or from file
// (one of them), as hex or base64 text, and builds a Key. Errors name the
// variable or file, never the secret.
func LoadKey(id, env, file string) (*Key, error) {
	var raw string
	switch {
	case env != "" && file != "":
		return nil, errors.New("set only one of key_env and key_file")
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("environment variable %s is not set", env)
		}
		raw = v
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read key file: %w", err)
		}
		raw = string(b)
	default:
		return nil, errors.New("no pseudonymisation key: set key_env or key_file")
	}
	secret, err := decodeSecret(strings.TrimSpace(raw))
	if err != nil {
		return nil, err
	}
	return NewKey(id, secret)
}

func decodeSecret(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) >= MinSecret {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) >= MinSecret {
			return b, nil
		}
	}
	return nil, fmt.Errorf("pseudonymisation secret must be hex or base64 of at least %d bytes", MinSecret)
}

// ID returns the key id.
func (k *Key) ID() string { return k.id }

// SealKey returns the 32-byte AES key used for sealing, for stores that
// encrypt on their own (checkpoint positions).
func (k *Key) SealKey() []byte { return k.sealKey }

// LogValue never shows key material.
func (k *Key) LogValue() slog.Value { return slog.StringValue("key:" + k.id) }

// NewHasher returns a Hasher for one goroutine.
func (k *Key) NewHasher() *Hasher {
	return &Hasher{key: k, mac: hmac.New(sha256.New, k.macKey)}
}

// PersonKey returns the person key of a normalised identity (for one-off
// use; hot paths use a Hasher).
func (k *Key) PersonKey(identity string) string {
	return string(k.NewHasher().AppendKey(nil, identity))
}

// Hasher computes person keys without allocating. It is not safe for
// concurrent use.
type Hasher struct {
	key *Key
	mac hash.Hash
	sum [sha256.Size]byte
	in  []byte // reused copy of the input: hash.Hash.Write([]byte(s)) would allocate
}

// AppendKey appends `<key id>:<hex HMAC-SHA256>` of identity to dst.
func (h *Hasher) AppendKey(dst []byte, identity string) []byte {
	dst = append(dst, h.key.id...)
	dst = append(dst, ':')
	return h.AppendHex(dst, identity)
}

// AppendHex appends the bare hex HMAC of s (used for source keys and
// positions that hold personal data).
func (h *Hasher) AppendHex(dst []byte, s string) []byte {
	h.mac.Reset()
	h.in = append(h.in[:0], s...)
	h.mac.Write(h.in)
	sum := h.mac.Sum(h.sum[:0])
	return hex.AppendEncode(dst, sum)
}

// Sum computes the raw HMAC of s into dst (for keys of local indexes).
func (h *Hasher) Sum(dst *[sha256.Size]byte, s string) {
	h.mac.Reset()
	h.in = append(h.in[:0], s...)
	h.mac.Write(h.in)
	h.mac.Sum(dst[:0])
}

// Seal encrypts plaintext with AES-256-GCM under the key and returns
// base64(nonce | ciphertext).
func (k *Key) Seal(plaintext []byte) (string, error) {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := k.aead.Seal(nonce, nonce, plaintext, []byte(k.id))
	return base64.StdEncoding.EncodeToString(out), nil
}

// Open reverses Seal.
func (k *Key) Open(sealed string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, fmt.Errorf("sealed value is not base64: %w", err)
	}
	ns := k.aead.NonceSize()
	if len(b) < ns+k.aead.Overhead() {
		return nil, errors.New("sealed value too short")
	}
	out, err := k.aead.Open(nil, b[:ns], b[ns:], []byte(k.id))
	if err != nil {
		return nil, fmt.Errorf("open sealed value under key %s: %w", k.id, err)
	}
	return out, nil
}

// AppendMaskedID appends id with all but its first 6 and last 4 characters
// replaced by '*' (370282********123X). Shorter values are masked whole
// but for their last character.
func AppendMaskedID(dst []byte, id string) []byte {
	n := len(id)
	if n <= 10 {
		for i := 0; i < n-1; i++ {
			dst = append(dst, '*')
		}
		if n > 0 {
			dst = append(dst, id[n-1])
		}
		return dst
	}
	dst = append(dst, id[:6]...)
	for i := 6; i < n-4; i++ {
		dst = append(dst, '*')
	}
	return append(dst, id[n-4:]...)
}

// MaskID returns AppendMaskedID as a string.
func MaskID(id string) string { return string(AppendMaskedID(nil, id)) }

// AppendMaskedName appends a name with every character but the first
// replaced by '*' (张三丰 → 张**); a one-character name becomes "*".
func AppendMaskedName(dst []byte, name string) []byte {
	first := true
	for _, r := range name {
		if r == ' ' || r == '\u3000' {
			continue
		}
		if first && utf8.RuneCountInString(name) > 1 {
			dst = utf8.AppendRune(dst, r)
		} else {
			dst = append(dst, '*')
		}
		first = false
	}
	return dst
}

// MaskName returns AppendMaskedName as a string.
func MaskName(name string) string { return string(AppendMaskedName(nil, name)) }

// MaskText masks free text that may hold personal data: its first character
// is kept, the rest starred, and its length capped.
func MaskText(s string) string {
	if utf8.RuneCountInString(s) > 24 {
		n := 0
		for i := range s {
			if n == 24 {
				s = s[:i]
				break
			}
			n++
		}
	}
	return MaskName(s)
}

// IDNumber is a clear ID number; it logs and prints masked.
type IDNumber string

// LogValue masks the number.
func (v IDNumber) LogValue() slog.Value { return slog.StringValue(MaskID(string(v))) }

// String masks the number, so %v and %s never show it.
func (v IDNumber) String() string { return MaskID(string(v)) }

// Name is a person's name; it logs and prints masked.
type Name string

// LogValue masks the name.
func (v Name) LogValue() slog.Value { return slog.StringValue(MaskName(string(v))) }

// String masks the name.
func (v Name) String() string { return MaskName(string(v)) }
