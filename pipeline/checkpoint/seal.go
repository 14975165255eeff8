package checkpoint

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/hpgate/hpgate/mappings/pii"
)

// KeySize is the size of the deployment key (pii.Key.SealKey).
const KeySize = 32

// The first byte of every sealed value: its format. sealV1 values (written
// before the cipher option) hold an AES-256-GCM nonce and ciphertext;
// sealV2 values hold a pii.Sealer value, whose marker byte names its
// cipher (AES-256-GCM or SM4-GCM). Both open; new values are sealV2.
const (
	sealV1 byte = 1
	sealV2 byte = 2
)

// keyIDSize is the size of the key id that follows it. The key id is
// derived from the key, so it tells key generations apart without saying
// anything about the key.
const keyIDSize = 4

// The labels of the keys the store derives from the deployment key: the
// deployment key also keys the person-key HMAC and the DLQ, and each use
// gets its own key. The AES and key-id labels predate the cipher option.
var sealLabels = pii.SealerLabels{AES: "hpgate/state/aes-256-gcm/v1", SM4: "hpgate/state/sm4-gcm/v1"}

const labelKeyID = "hpgate/state/key-id/v1"

// sealer encrypts values at rest with pii's sealing (pii.Sealer: the
// configured cipher, AES-256-GCM or SM4-GCM) under keys derived from the
// deployment key with the configured KDF.
//
// A sealed value is: format (1 byte) | key id (4) | cipher marker (1) |
// nonce (12) | ciphertext and tag; a format 1 value has no marker and is
// AES-256-GCM. The additional data binds it to its format, key id, purpose
// and place (a checkpoint's name, a snapshot entry's mapping and key), so a
// value copied elsewhere in the file fails to open.
type sealer struct {
	pii   *pii.Sealer
	keyID [keyIDSize]byte
}

func newSealer(key []byte, alg pii.Algorithms) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("deployment key is %d bytes, want %d", len(key), KeySize)
	}
	ps, err := pii.NewSealer(key, alg, sealLabels)
	if err != nil {
		return nil, err
	}
	id, err := alg.Derive(key, labelKeyID, keyIDSize)
	if err != nil {
		return nil, err
	}
	s := &sealer{pii: ps}
	copy(s.keyID[:], id)
	return s, nil
}

// KeyID returns the hex key id of s's key.
func (s *sealer) KeyID() string { return hex.EncodeToString(s.keyID[:]) }

const sealHeader = 1 + keyIDSize

// seal appends the sealed plain to dst.
func (s *sealer) seal(dst, plain []byte, context ...string) ([]byte, error) {
	out := append(dst, sealV2)
	out = append(out, s.keyID[:]...)
	return s.pii.Seal(out, plain, s.aad(out[len(dst):], context))
}

// open returns the plain text of a sealed value.
func (s *sealer) open(sealed []byte, context ...string) ([]byte, error) {
	if len(sealed) < sealHeader || (sealed[0] != sealV1 && sealed[0] != sealV2) {
		return nil, fmt.Errorf("%w: sealed value malformed", ErrCorrupt)
	}
	if id := sealed[1:sealHeader]; string(id) != string(s.keyID[:]) {
		return nil, &KeyMismatchError{Sealed: hex.EncodeToString(id), Configured: s.KeyID()}
	}
	aad := s.aad(sealed[:sealHeader], context)
	var (
		plain []byte
		err   error
	)
	if sealed[0] == sealV1 {
		plain, err = s.pii.OpenUnmarked(sealed[sealHeader:], aad)
	} else {
		plain, err = s.pii.Open(sealed[sealHeader:], aad)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
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
	if len(sealed) < sealHeader || (sealed[0] != sealV1 && sealed[0] != sealV2) {
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
