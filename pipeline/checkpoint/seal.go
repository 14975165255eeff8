package checkpoint

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the size of the deployment key: AES-256.
const KeySize = 32

// sealVersion is the first byte of every sealed value.
const sealVersion = 1

// keyIDSize is the size of the key id that follows it. The key id is
// derived from the key (HKDF), so it tells key generations apart without
// saying anything about the key.
const keyIDSize = 4

// sealer encrypts values at rest with AES-256-GCM under a key derived from
// the deployment key (HKDF-SHA256, its own info string: the deployment key
// also keys the person-key HMAC and the DLQ, and each use gets its own key).
//
// A sealed value is: version (1 byte) | key id (4) | nonce (12) | ciphertext
// and tag. The additional data binds it to its purpose and its place (a
// checkpoint's name, a snapshot entry's mapping and key), so a value copied
// elsewhere in the file fails to open.
type sealer struct {
	aead  cipher.AEAD
	keyID [keyIDSize]byte
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("deployment key is %d bytes, want %d", len(key), KeySize)
	}
	enc, err := hkdf.Key(sha256.New, key, nil, "hpgate/state/aes-256-gcm/v1", KeySize)
	if err != nil {
		return nil, err
	}
	id, err := hkdf.Key(sha256.New, key, nil, "hpgate/state/key-id/v1", keyIDSize)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s := &sealer{aead: aead}
	copy(s.keyID[:], id)
	return s, nil
}

// KeyID returns the hex key id of s's key.
func (s *sealer) KeyID() string { return hex.EncodeToString(s.keyID[:]) }

const sealHeader = 1 + keyIDSize

// seal appends the sealed plain to dst.
func (s *sealer) seal(dst, plain []byte, context ...string) ([]byte, error) {
	n := s.aead.NonceSize()
	out := append(dst, sealVersion)
	out = append(out, s.keyID[:]...)
	nonceAt := len(out)
	out = append(out, make([]byte, n)...)
	nonce := out[nonceAt : nonceAt+n]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return s.aead.Seal(out, nonce, plain, s.aad(out[nonceAt-sealHeader:nonceAt], context)), nil
}

// open returns the plain text of a sealed value.
func (s *sealer) open(sealed []byte, context ...string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < sealHeader+n+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: sealed value malformed", ErrCorrupt)
	}
	if id := sealed[1:sealHeader]; string(id) != string(s.keyID[:]) {
		return nil, &KeyMismatchError{Sealed: hex.EncodeToString(id), Configured: s.KeyID()}
	}
	nonce := sealed[sealHeader : sealHeader+n]
	plain, err := s.aead.Open(nil, nonce, sealed[sealHeader+n:], s.aad(sealed[:sealHeader], context))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrCorrupt)
	}
	return plain, nil
}

func (s *sealer) aad(header []byte, context []string) []byte {
	aad := append([]byte(nil), header...)
	for _, c := range context {
		aad = append(aad, 0)
		aad = append(aad, c...)
	}
	return aad
}

// sealedKeyID returns the hex key id of a sealed value, or "".
func sealedKeyID(sealed []byte) string {
	if len(sealed) < sealHeader || sealed[0] != sealVersion {
		return ""
	}
	return hex.EncodeToString(sealed[1:sealHeader])
}

// ErrKeyMismatch is matched (errors.Is) by a *KeyMismatchError.
var ErrKeyMismatch = errors.New("sealed under another deployment key")

// ErrCorrupt means a stored value does not decode or fails authentication:
// the file was damaged or edited.
var ErrCorrupt = errors.New("state corrupt or tampered with")

// KeyMismatchError means a value was sealed under a deployment key other
// than the configured one: a wrong key, or a rotated one (the key ids tell
// generations apart).
type KeyMismatchError struct {
	Sealed     string // key id the value was sealed under
	Configured string // key id of the configured key
}

func (e *KeyMismatchError) Error() string {
	return fmt.Sprintf("sealed under deployment key %s, but the configured key is %s (wrong or rotated key)", e.Sealed, e.Configured)
}

// Is makes errors.Is(err, ErrKeyMismatch) hold.
func (e *KeyMismatchError) Is(target error) bool { return target == ErrKeyMismatch }
