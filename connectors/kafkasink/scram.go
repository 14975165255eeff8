package kafkasink

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
)

// This file is a SCRAM client (RFC 5802, RFC 7677) on the standard library,
// in place of kafka-go's sasl/scram, which needs github.com/xdg-go/scram and
// two more modules that go.mod does not have. Kafka hashes the password's
// UTF-8 bytes without SASLprep (its ScramFormatter), and so does this client.
// It is tested against the RFC 7677 example and against kfake's server.

type scramAlg struct {
	name string
	hash func() hash.Hash
}

var (
	scramSHA256 = scramAlg{SASLScramSHA256, sha256.New}
	scramSHA512 = scramAlg{SASLScramSHA512, sha512.New}
)

// Kafka accepts iteration counts from 4096 to 16384; a server that asks for
// fewer is refused (a downgrade), one that asks for many more would only
// burn CPU.
const (
	scramMinIterations = 4096
	scramMaxIterations = 1 << 20
)

type scramMechanism struct {
	alg  scramAlg
	user string
	pass secret
	// nonce returns the client nonce; tests fix it.
	nonce func() (string, error)
}

func newScram(alg scramAlg, user string, pass secret) *scramMechanism {
	return &scramMechanism{alg: alg, user: user, pass: pass, nonce: randomNonce}
}

func randomNonce() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(b), nil
}

func (m *scramMechanism) Name() string { return m.alg.name }

// Start sends the client-first message.
func (m *scramMechanism) Start(context.Context) (sasl.StateMachine, []byte, error) {
	nonce, err := m.nonce()
	if err != nil {
		return nil, nil, fmt.Errorf("scram nonce: %w", err)
	}
	// saslname: "=" and "," are escaped (RFC 5802 section 5.1).
	name := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(m.user)
	bare := "n=" + name + ",r=" + nonce
	s := &scramSession{m: m, clientNonce: nonce, clientFirstBare: bare}
	return s, []byte("n,," + bare), nil
}

type scramSession struct {
	m               *scramMechanism
	clientNonce     string
	clientFirstBare string
	serverSignature []byte
	step            int
}

var errSCRAM = errors.New("scram authentication")

// Next answers the server-first message with the client proof, then checks
// the server's signature in the server-final message.
func (s *scramSession) Next(_ context.Context, challenge []byte) (bool, []byte, error) {
	s.step++
	switch s.step {
	case 1:
		resp, err := s.clientFinal(string(challenge))
		return false, resp, err
	case 2:
		return true, nil, s.verifyServerFinal(string(challenge))
	}
	return false, nil, fmt.Errorf("%w: unexpected message after server-final", errSCRAM)
}

func (s *scramSession) clientFinal(serverFirst string) ([]byte, error) {
	attrs := scramAttrs(serverFirst)
	if _, ok := attrs["m"]; ok {
		return nil, fmt.Errorf("%w: server requires an unsupported extension", errSCRAM)
	}
	nonce, salt64, iter64 := attrs["r"], attrs["s"], attrs["i"]
	if !strings.HasPrefix(nonce, s.clientNonce) || len(nonce) == len(s.clientNonce) {
		return nil, fmt.Errorf("%w: server nonce does not extend the client nonce", errSCRAM)
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil || len(salt) == 0 {
		return nil, fmt.Errorf("%w: bad salt from server", errSCRAM)
	}
	iter, err := strconv.Atoi(iter64)
	if err != nil || iter < scramMinIterations || iter > scramMaxIterations {
		return nil, fmt.Errorf("%w: server asks for %q iterations (%d to %d accepted)", errSCRAM, iter64, scramMinIterations, scramMaxIterations)
	}

	h := s.m.alg.hash
	salted, err := pbkdf2.Key(h, s.m.pass.reveal(), salt, iter, h().Size())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errSCRAM, err)
	}
	clientKey := scramHMAC(h, salted, "Client Key")
	storedKey := scramHash(h, clientKey)
	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte("n,,")) + ",r=" + nonce
	authMessage := s.clientFirstBare + "," + serverFirst + "," + withoutProof
	clientSig := scramHMAC(h, storedKey, authMessage)
	proof := make([]byte, len(clientKey))
	subtle.XORBytes(proof, clientKey, clientSig)
	serverKey := scramHMAC(h, salted, "Server Key")
	s.serverSignature = scramHMAC(h, serverKey, authMessage)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

func (s *scramSession) verifyServerFinal(serverFinal string) error {
	attrs := scramAttrs(serverFinal)
	if e, ok := attrs["e"]; ok {
		return fmt.Errorf("%w: server refused: %s", errSCRAM, e)
	}
	v, err := base64.StdEncoding.DecodeString(attrs["v"])
	if err != nil || !hmac.Equal(v, s.serverSignature) {
		return fmt.Errorf("%w: server signature does not match (not the real broker, or a different password)", errSCRAM)
	}
	return nil
}

// scramAttrs splits "a=x,b=y" into its attributes; values may hold "=".
func scramAttrs(msg string) map[string]string {
	out := make(map[string]string, 4)
	for part := range strings.SplitSeq(msg, ",") {
		if k, v, ok := strings.Cut(part, "="); ok && len(k) == 1 {
			out[k] = v
		}
	}
	return out
}

func scramHMAC(h func() hash.Hash, key []byte, msg string) []byte {
	mac := hmac.New(h, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

func scramHash(h func() hash.Hash, b []byte) []byte {
	d := h()
	d.Write(b)
	return d.Sum(nil)
}
