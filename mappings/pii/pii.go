// Package pii holds everything hpgate does with personal data: the person
// key (a keyed HMAC of the normalised ID number), masking for display, and
// sealing of raw rows for the dead-letter queue.
//
// The clear ID number enters this package and leaves it only as an HMAC, a
// masked string or authenticated ciphertext. Types here implement
// slog.LogValuer so that a value logged by mistake is masked.
//
// A Key's algorithms are chosen per deployment (Algorithms): the person
// key is HMAC-SHA256 (default) or HMAC-SM3, sealing is AES-256-GCM
// (default) or SM4-GCM, and the keys are derived from the deployment
// secret with HKDF-SHA256 (default) or HKDF-SM3: the 国密 (GB/T 32905,
// GB/T 32907) choices some government deployments require. Every sealed
// value names the cipher that sealed it, and a Key (or a Sealer, which
// other stores such as the checkpoint store use) opens values sealed under
// either cipher, so a deployment can switch ciphers for new data while its
// older records still open. Switching the HMAC or the KDF changes every
// person key (and every derived key): it is a re-key and goes with a new
// key id.
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
	"strings"
	"unicode/utf8"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"

	"github.com/hpgate/hpgate/connectors/secretsource"
)

// MinSecret is the shortest deployment secret accepted, in bytes.
const MinSecret = 32

// The algorithm names, as the config file spells them (pii.hmac,
// pii.cipher and pii.kdf).
const (
	HMACSHA256 = "hmac-sha256"
	HMACSM3    = "hmac-sm3"
	AES256GCM  = "aes-256-gcm"
	SM4GCM     = "sm4-gcm"
	HKDFSHA256 = "hkdf-sha256"
	HKDFSM3    = "hkdf-sm3"
)

// HMACs, Ciphers and KDFs list the accepted names, the default first.
var (
	HMACs   = []string{HMACSHA256, HMACSM3}
	Ciphers = []string{AES256GCM, SM4GCM}
	KDFs    = []string{HKDFSHA256, HKDFSM3}
)

// Algorithms chooses a key's primitives; an empty field takes the default
// (HMACSHA256, AES256GCM, HKDFSHA256).
type Algorithms struct {
	// HMAC computes person keys: HMACSHA256 or HMACSM3. Changing it
	// changes every person key (a re-key: give the key a new id).
	HMAC string
	// Cipher seals new values: AES256GCM or SM4GCM. Values sealed under
	// the other cipher still open (a marker byte names each value's).
	Cipher string
	// KDF derives every key from the deployment secret (HKDF with SHA-256
	// or SM3, one label per use): HKDFSHA256 or HKDFSM3. Changing it
	// changes every derived key, person keys included (a re-key: give the
	// key a new id).
	KDF string
}

func (a Algorithms) withDefaults() Algorithms {
	if a.HMAC == "" {
		a.HMAC = HMACSHA256
	}
	if a.Cipher == "" {
		a.Cipher = AES256GCM
	}
	if a.KDF == "" {
		a.KDF = HKDFSHA256
	}
	return a
}

// Validate reports an unknown algorithm name.
func (a Algorithms) Validate() error {
	a = a.withDefaults()
	var errs []error
	if !contains(HMACs, a.HMAC) {
		errs = append(errs, fmt.Errorf("unknown person-key HMAC %q: want %s", a.HMAC, strings.Join(HMACs, " or ")))
	}
	if !contains(Ciphers, a.Cipher) {
		errs = append(errs, fmt.Errorf("unknown sealing cipher %q: want %s", a.Cipher, strings.Join(Ciphers, " or ")))
	}
	if !contains(KDFs, a.KDF) {
		errs = append(errs, fmt.Errorf("unknown key derivation %q: want %s", a.KDF, strings.Join(KDFs, " or ")))
	}
	return errors.Join(errs...)
}

// Derive returns n bytes of key derived from material under label, with
// a's KDF (HKDF, no salt, label as the info).
func (a Algorithms) Derive(material []byte, label string, n int) ([]byte, error) {
	if a.withDefaults().KDF == HKDFSM3 {
		return hkdf.Key(sm3.New, material, nil, label, n)
	}
	return hkdf.Key(sha256.New, material, nil, label, n)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// The HKDF labels of the keys derived from the deployment secret: each use
// gets its own key. The SHA-256 and AES labels predate the options and are
// unchanged, so existing person keys and sealed values stay valid.
const (
	labelMACSHA256 = "hpgate person key v1"
	labelMACSM3    = "hpgate person key hmac-sm3 v1"
	labelAES       = "hpgate seal v1"
	labelSM4       = "hpgate seal sm4-gcm v1"
)

// Key is a deployment's pseudonymisation key. Its ID names the generation
// (it prefixes every person key), so a re-keyed stream is told apart.
// A Key is safe for concurrent use; a Hasher made from it is not.
type Key struct {
	id      string
	alg     Algorithms
	newHash func() hash.Hash
	macKey  []byte
	sealKey []byte
	sealer  *Sealer
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

// NewKey derives a key with the default algorithms (HMAC-SHA256,
// AES-256-GCM) from a secret of at least MinSecret bytes.
func NewKey(id string, secret []byte) (*Key, error) {
	return NewKeyWith(id, secret, Algorithms{})
}

// NewKeyWith derives the HMAC and encryption keys from a secret of at
// least MinSecret bytes (alg.KDF, one label each) for the algorithms alg.
func NewKeyWith(id string, secret []byte, alg Algorithms) (*Key, error) {
	if id == "" || strings.ContainsAny(id, ": \t\n") || strings.ToLower(id) != id {
		return nil, fmt.Errorf("key id %q must be a non-empty lower-case word without ':' or spaces", id)
	}
	if len(secret) < MinSecret {
		return nil, fmt.Errorf("pseudonymisation secret is %d bytes, need at least %d", len(secret), MinSecret)
	}
	alg = alg.withDefaults()
	if err := alg.Validate(); err != nil {
		return nil, err
	}
	k := &Key{id: id, alg: alg, newHash: sha256.New}
	label := labelMACSHA256
	if alg.HMAC == HMACSM3 {
		k.newHash, label = sm3.New, labelMACSM3
	}
	var err error
	if k.macKey, err = alg.Derive(secret, label, 32); err != nil {
		return nil, err
	}
	if k.sealKey, err = alg.Derive(secret, labelAES, 32); err != nil {
		return nil, err
	}
	if k.sealer, err = NewSealer(secret, alg, SealerLabels{AES: labelAES, SM4: labelSM4}); err != nil {
		return nil, err
	}
	return k, nil
}

// Sealer encrypts values with one cipher (AES-256-GCM or SM4-GCM) and
// opens values sealed under either: a sealed value is marker | nonce |
// ciphertext and tag, the marker byte naming the cipher (0x01 AES-256-GCM,
// 0x02 SM4-GCM). It is the one sealing implementation of hpgate: a Key
// seals DLQ rows with one, the checkpoint store positions with another
// (its own keys and labels). A Sealer is safe for concurrent use.
type Sealer struct {
	mark byte
	seal cipher.AEAD // aes or sm4
	aes  cipher.AEAD // always present: opens AES-sealed history
	sm4  cipher.AEAD // always present: opens SM4-sealed history
}

// SealerLabels are the HKDF labels (info strings) of a Sealer's two keys;
// each use of a secret has its own.
type SealerLabels struct {
	AES string // the 256-bit AES key
	SM4 string // the 128-bit SM4 key
}

// NewSealer derives a Sealer's keys from material (a secret, or a key
// derived from one) with alg.KDF under labels, and seals with alg.Cipher.
func NewSealer(material []byte, alg Algorithms, labels SealerLabels) (*Sealer, error) {
	alg = alg.withDefaults()
	if err := alg.Validate(); err != nil {
		return nil, err
	}
	if labels.AES == "" || labels.SM4 == "" || labels.AES == labels.SM4 {
		return nil, errors.New("sealer labels must be two different non-empty strings")
	}
	aesKey, err := alg.Derive(material, labels.AES, 32)
	if err != nil {
		return nil, err
	}
	// SM4 keys are 128 bits; its own label, never the AES key's bytes.
	sm4Key, err := alg.Derive(material, labels.SM4, 16)
	if err != nil {
		return nil, err
	}
	s := &Sealer{mark: cipherMark(alg.Cipher)}
	if s.aes, err = newGCM(aes.NewCipher, aesKey); err != nil {
		return nil, err
	}
	if s.sm4, err = newGCM(sm4.NewCipher, sm4Key); err != nil {
		return nil, err
	}
	s.seal = s.aes
	if s.mark == markSM4GCM {
		s.seal = s.sm4
	}
	return s, nil
}

// Seal appends marker | random nonce | ciphertext and tag of plain to dst.
// The additional data is the marker followed by ad.
func (s *Sealer) Seal(dst, plain, ad []byte) ([]byte, error) {
	ns := s.seal.NonceSize()
	out := append(dst, s.mark)
	at := len(out)
	out = append(out, make([]byte, ns)...)
	nonce := out[at:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return s.seal.Seal(out, nonce, plain, markedAD(s.mark, ad)), nil
}

func markedAD(mark byte, ad []byte) []byte {
	return append([]byte{mark}, ad...)
}

// Sealer.Open's errors, matched with errors.Is.
var (
	ErrSealedShort   = errors.New("sealed value too short")
	ErrUnknownCipher = errors.New("unknown cipher marker")
	ErrAuth          = errors.New("message authentication failed: another key, or altered")
)

// Open returns the plain text of a value Seal made with additional data
// ad, under the cipher its marker names. Errors match ErrSealedShort,
// ErrUnknownCipher or ErrAuth; none shows the value.
func (s *Sealer) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, ErrSealedShort
	}
	var aead cipher.AEAD
	switch sealed[0] {
	case markAES256GCM:
		aead = s.aes
	case markSM4GCM:
		aead = s.sm4
	default:
		return nil, fmt.Errorf("%w 0x%02x (this hpgate knows 0x%02x %s and 0x%02x %s)",
			ErrUnknownCipher, sealed[0], markAES256GCM, AES256GCM, markSM4GCM, SM4GCM)
	}
	ns := 1 + aead.NonceSize()
	if len(sealed) < ns+aead.Overhead() {
		return nil, ErrSealedShort
	}
	out, err := aead.Open(nil, sealed[1:ns], sealed[ns:], markedAD(sealed[0], ad))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cipherName(sealed[0]), ErrAuth)
	}
	return out, nil
}

// OpenUnmarked opens a value sealed before markers existed: nonce |
// ciphertext and tag, AES-256-GCM with additional data ad.
func (s *Sealer) OpenUnmarked(sealed, ad []byte) ([]byte, error) {
	ns := s.aes.NonceSize()
	if len(sealed) < ns+s.aes.Overhead() {
		return nil, ErrSealedShort
	}
	out, err := s.aes.Open(nil, sealed[:ns], sealed[ns:], ad)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", AES256GCM, ErrAuth)
	}
	return out, nil
}

// newGCM wraps a 128-bit block cipher in GCM (gmsm's SM4 block brings its
// own accelerated GCM, which crypto/cipher picks up).
func newGCM(newBlock func([]byte) (cipher.Block, error), key []byte) (cipher.AEAD, error) {
	block, err := newBlock(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// LoadKey reads a secret with LoadSecret and builds a Key with the default
// algorithms.
func LoadKey(id, env, file string) (*Key, error) {
	return LoadKeyWith(id, env, file, Algorithms{})
}

// LoadKeyWith reads a secret with LoadSecret and builds a Key for alg.
func LoadKeyWith(id, env, file string, alg Algorithms) (*Key, error) {
	secret, err := LoadSecret(env, file)
	if err != nil {
		return nil, err
	}
	return NewKeyWith(id, secret, alg)
}

// LoadSecret reads a secret from the environment variable env or from file
// (one of them), as hex or base64 text. Errors name the variable or file,
// never the secret.
func LoadSecret(env, file string) ([]byte, error) {
	raw, err := secretsource.Read("key_env", env, "key_file", file,
		secretsource.Options{Missing: "no pseudonymisation key: set key_env or key_file"})
	if err != nil {
		return nil, err
	}
	return decodeSecret(raw)
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

// Algorithms returns the key's algorithms, defaults filled in.
func (k *Key) Algorithms() Algorithms { return k.alg }

// SealKey returns the 32-byte key that stores sealing on their own
// (checkpoint positions) derive their Sealer from (NewSealer with their
// own labels). It is the DLQ's AES-256-GCM key whatever the configured
// cipher, derived with the configured KDF.
func (k *Key) SealKey() []byte { return k.sealKey }

// LogValue never shows key material.
func (k *Key) LogValue() slog.Value { return slog.StringValue("key:" + k.id) }

// NewHasher returns a Hasher for one goroutine.
func (k *Key) NewHasher() *Hasher {
	return &Hasher{key: k, mac: hmac.New(k.newHash, k.macKey)}
}

// PersonKey returns the person key of a normalised identity (for one-off
// use; hot paths use a Hasher).
func (k *Key) PersonKey(identity string) string {
	return string(k.NewHasher().AppendKey(nil, identity))
}

// SumSize is the size of a raw HMAC: SHA-256 and SM3 both give 32 bytes.
const SumSize = sha256.Size

// Hasher computes person keys without allocating. It is not safe for
// concurrent use.
type Hasher struct {
	key *Key
	mac hash.Hash
	sum [SumSize]byte
	in  []byte // reused copy of the input: hash.Hash.Write([]byte(s)) would allocate
}

// AppendKey appends `<key id>:<hex HMAC>` of identity to dst.
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
func (h *Hasher) Sum(dst *[SumSize]byte, s string) {
	h.mac.Reset()
	h.in = append(h.in[:0], s...)
	h.mac.Write(h.in)
	h.mac.Sum(dst[:0])
}

// The marker byte that starts a sealed value names its cipher. Values
// sealed before markers existed start with their random nonce: they are
// AES-256-GCM, and Open falls back to reading them so (GCM authentication
// tells the two readings apart).
const (
	markAES256GCM byte = 0x01
	markSM4GCM    byte = 0x02
)

// cipherMark returns the marker of a cipher name.
func cipherMark(name string) byte {
	if name == SM4GCM {
		return markSM4GCM
	}
	return markAES256GCM
}

// cipherName returns the name of a known marker.
func cipherName(mark byte) string {
	if mark == markSM4GCM {
		return SM4GCM
	}
	return AES256GCM
}

// Seal encrypts plaintext under the key with its configured cipher and
// returns base64(marker | nonce | ciphertext): the marker byte names the
// cipher (0x01 AES-256-GCM, 0x02 SM4-GCM). The marker and the key id are
// the additional data. The text stays plain base64, as the hp.dlq/v1
// schema says of `raw`.
func (k *Key) Seal(plaintext []byte) (string, error) {
	out, err := k.sealer.Seal(nil, plaintext, []byte(k.id))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// Open reverses Seal, under whichever cipher the value's marker names; a
// value from before markers is read as AES-256-GCM.
func (k *Key) Open(sealed string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, fmt.Errorf("sealed value is not base64: %w", err)
	}
	out, err := k.sealer.Open(b, []byte(k.id))
	if err == nil {
		return out, nil
	}
	// Unmarked (pre-marker) AES-256-GCM: nonce | ciphertext, key id as
	// additional data. GCM authentication tells the two readings apart.
	if out, uerr := k.sealer.OpenUnmarked(b, []byte(k.id)); uerr == nil {
		return out, nil
	}
	switch {
	case errors.Is(err, ErrUnknownCipher):
		return nil, fmt.Errorf("sealed value has %w, or is an unmarked value not sealed under key %s", err, k.id)
	case errors.Is(err, ErrSealedShort):
		return nil, err
	default:
		return nil, fmt.Errorf("open sealed value under key %s: %w", k.id, err)
	}
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
