package pii

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gmKey(t testing.TB, id string, secret []byte, alg Algorithms) *Key {
	t.Helper()
	k, err := NewKeyWith(id, secret, alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// SM3 against GB/T 32905-2016 appendix A (examples 1 and 2).
func TestSM3KnownAnswer(t *testing.T) {
	for in, want := range map[string]string{
		"abc":                      "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
		strings.Repeat("abcd", 16): "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
	} {
		if got := sm3.Sum([]byte(in)); hex.EncodeToString(got[:]) != want {
			t.Errorf("SM3(%q) = %x, want %s", in, got, want)
		}
	}
}

// HMAC-SM3 and the whole person key against values computed with an
// independent tool, OpenSSL 3.0 (Debian):
//
//	echo -n "what do ya want for nothing?" | openssl dgst -sm3 -hmac Jefe
//	openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:<hex TestSecret> \
//	    -kdfopt "info:hpgate person key hmac-sm3 v1" HKDF                 # → mac key
//	echo -n 11010519491231002X | openssl dgst -sm3 -mac HMAC -macopt hexkey:<mac key>
//
// and the same with -sha256 and "hpgate person key v1" for the default.
func TestHMACSM3KnownAnswer(t *testing.T) {
	m := hmac.New(sm3.New, []byte("Jefe"))
	m.Write([]byte("what do ya want for nothing?"))
	if got, want := hex.EncodeToString(m.Sum(nil)), "2e87f1d16862e6d964b50a5200bf2b10b764faa9680a296a2405f24bec39f882"; got != want {
		t.Fatalf("HMAC-SM3 = %s, want %s", got, want)
	}
	sm3Key := gmKey(t, TestKeyID, []byte(TestSecret), Algorithms{HMAC: HMACSM3})
	if got, want := sm3Key.PersonKey(sampleID), "test:84f1e98c7c4f0f8f8117e36a96b87c80564a270af8b007de86d56cc320acb23f"; got != want {
		t.Errorf("hmac-sm3 person key = %s, want %s", got, want)
	}
	if got, want := TestKey().PersonKey(sampleID), "test:940ccfaa2c874d2baa2f152ebf2abf423d3274fea0e42c23c3760bd3f8ff9433"; got != want {
		t.Errorf("hmac-sha256 person key = %s, want %s (the default must not change)", got, want)
	}
	h := sm3Key.NewHasher()
	var sum [SumSize]byte
	h.Sum(&sum, sampleID)
	if got := string(h.AppendKey(nil, sampleID)); got != "test:"+hex.EncodeToString(sum[:]) || got != sm3Key.PersonKey(sampleID) {
		t.Errorf("Hasher.AppendKey %s and Sum %x disagree", got, sum)
	}
}

// SM4 against GB/T 32907-2016 appendix A.1, and SM4-GCM (as this package
// composes it) against RFC 8998 appendix A.1.
func TestSM4KnownAnswer(t *testing.T) {
	key := mustHex(t, "0123456789abcdeffedcba9876543210")
	block, err := sm4.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 16)
	block.Encrypt(out, key)
	if got := hex.EncodeToString(out); got != "681edf34d206965e86b3e94f536e4246" {
		t.Fatalf("SM4 = %s", got)
	}
	aead, err := newGCM(sm4.NewCipher, key)
	if err != nil {
		t.Fatal(err)
	}
	nonce := mustHex(t, "00001234567800000000abcd")
	aad := mustHex(t, "feedfacedeadbeeffeedfacedeadbeefabaddad2")
	plain := mustHex(t, "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccddddddddddddddddeeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa")
	want := "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d" +
		"83de3541e4c2b58177e065a9bf7b62ec"
	if got := hex.EncodeToString(aead.Seal(nil, nonce, plain, aad)); got != want {
		t.Fatalf("SM4-GCM = %s\nwant      %s", got, want)
	}
}

// The SM4 key is derived with its own label, 128 bits, not the AES key cut
// short; a value it seals is marker 0x02 | nonce | ciphertext, with the
// marker and key id as additional data.
func TestSM4KeyIsItsOwn(t *testing.T) {
	k := gmKey(t, "k1", []byte(TestSecret), Algorithms{Cipher: SM4GCM})
	sm4Key, err := hkdf.Key(sha256.New, []byte(TestSecret), nil, labelSM4, 16)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(sm4Key, k.SealKey()[:16]) {
		t.Fatal("SM4 key reuses the AES key's bytes")
	}
	s, err := k.Seal([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := base64.StdEncoding.DecodeString(s)
	aead, _ := newGCM(sm4.NewCipher, sm4Key)
	if got, err := aead.Open(nil, b[1:13], b[13:], []byte("\x02k1")); b[0] != 0x02 || err != nil || string(got) != "x" {
		t.Fatalf("sm4-gcm value (marker %#x) does not open under HKDF(secret, %q): %q, %v", b[0], labelSM4, got, err)
	}
}

// legacySeal seals as hpgate did before cipher markers: base64(nonce |
// AES-256-GCM ciphertext), the key id as additional data.
func legacySeal(t *testing.T, k *Key, nonce0 byte, plain []byte) string {
	t.Helper()
	nonce := make([]byte, 12)
	nonce[0] = nonce0
	for i := 1; i < 12; i++ {
		nonce[i] = byte(i * 37)
	}
	return base64.StdEncoding.EncodeToString(k.sealer.aes.Seal(nonce, nonce, plain, []byte(k.id)))
}

func TestSealOpenAcrossCiphers(t *testing.T) {
	secret := []byte(TestSecret)
	plain := []byte(`{"SFZH":"` + sampleID + `","XM":"张三丰"}`)
	keys := map[string]*Key{
		AES256GCM: gmKey(t, "k1", secret, Algorithms{}),
		SM4GCM:    gmKey(t, "k1", secret, Algorithms{HMAC: HMACSM3, Cipher: SM4GCM}),
	}
	marks := map[string]byte{AES256GCM: 0x01, SM4GCM: 0x02}
	for name, k := range keys {
		s, err := k.Seal(plain)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := base64.StdEncoding.DecodeString(s); b[0] != marks[name] {
			t.Errorf("%s: sealed value starts %#x, want marker %#x", name, b[0], marks[name])
		}
		if strings.Contains(s, sampleID) || strings.Contains(s, "张三丰") {
			t.Errorf("%s: sealed value shows clear data", name)
		}
		// Every key opens what either cipher sealed: a deployment that
		// switches cipher still opens its DLQ history.
		for other, ok := range keys {
			back, err := ok.Open(s)
			if err != nil || !bytes.Equal(back, plain) {
				t.Errorf("sealed with %s, opened by a key configured for %s: %q, %v", name, other, back, err)
			}
		}
		if _, err := gmKey(t, "k1", bytes.Repeat([]byte{1}, 32), Algorithms{Cipher: SM4GCM}).Open(s); err == nil || !strings.Contains(err.Error(), "authentication failed") {
			t.Errorf("%s: under another secret: %v", name, err)
		}
		if _, err := gmKey(t, "k2", secret, Algorithms{Cipher: SM4GCM}).Open(s); err == nil {
			t.Errorf("%s: opened under another key id", name)
		}
	}
	// Values sealed before markers existed are AES-256-GCM and still open,
	// also those whose random nonce happens to start like a marker.
	for _, nonce0 := range []byte{0x00, 0x01, 0x02, 0x9f} {
		legacy := legacySeal(t, keys[AES256GCM], nonce0, plain)
		if back, err := keys[SM4GCM].Open(legacy); err != nil || !bytes.Equal(back, plain) {
			t.Errorf("unmarked AES value, nonce starting %#x: %q, %v", nonce0, back, err)
		}
	}
}

func TestSealTamperDetected(t *testing.T) {
	for _, c := range Ciphers {
		k := gmKey(t, "k1", []byte(TestSecret), Algorithms{Cipher: c})
		s, err := k.Seal([]byte(sampleID))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := base64.StdEncoding.DecodeString(s)
		for _, i := range []int{0, 1, 13, len(b) - 1} { // marker, nonce, ciphertext, tag
			bad := bytes.Clone(b)
			bad[i] ^= 0x03 // 0x01 ↔ 0x02 at the marker: the other cipher
			if _, err := k.Open(base64.StdEncoding.EncodeToString(bad)); err == nil {
				t.Errorf("%s: altered byte %d went unnoticed", c, i)
			}
		}
		if _, err := k.Open(base64.StdEncoding.EncodeToString(b[:len(b)-1])); err == nil {
			t.Errorf("%s: truncated value opened", c)
		}
	}
}

func TestOpenUnknownMarker(t *testing.T) {
	k := TestKey()
	s, _ := k.Seal([]byte("x"))
	b, _ := base64.StdEncoding.DecodeString(s)
	b[0] = 0x07
	_, err := k.Open(base64.StdEncoding.EncodeToString(b))
	if err == nil || !strings.Contains(err.Error(), "unknown cipher marker 0x07") || !strings.Contains(err.Error(), "0x02 sm4-gcm") {
		t.Fatalf("unknown marker: %v", err)
	}
	if _, err := k.Open("AQID"); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("short value: %v", err)
	}
	// Something that is no sealed value is not repeated in the error.
	if _, err := k.Open(sampleID); err == nil || strings.Contains(err.Error(), sampleID) {
		t.Errorf("Open(clear ID) = %v", err)
	}
}

func TestAlgorithmsValidate(t *testing.T) {
	if _, err := NewKeyWith("k1", []byte(TestSecret), Algorithms{HMAC: "hmac-md5"}); err == nil || !strings.Contains(err.Error(), "hmac-sha256 or hmac-sm3") {
		t.Errorf("bad hmac: %v", err)
	}
	if _, err := NewKeyWith("k1", []byte(TestSecret), Algorithms{Cipher: "sm4-cbc"}); err == nil || !strings.Contains(err.Error(), "aes-256-gcm or sm4-gcm") {
		t.Errorf("bad cipher: %v", err)
	}
	if _, err := NewKeyWith("k1", []byte(TestSecret), Algorithms{KDF: "pbkdf2"}); err == nil || !strings.Contains(err.Error(), "hkdf-sha256 or hkdf-sm3") {
		t.Errorf("bad kdf: %v", err)
	}
	k := gmKey(t, "k1", []byte(TestSecret), Algorithms{})
	if got := k.Algorithms(); got != (Algorithms{HMAC: HMACSHA256, Cipher: AES256GCM, KDF: HKDFSHA256}) {
		t.Errorf("defaults = %+v", got)
	}
	a, b := k.PersonKey(sampleID), gmKey(t, "k1", []byte(TestSecret), Algorithms{HMAC: HMACSM3}).PersonKey(sampleID)
	if a == b || len(a) != len(b) {
		t.Errorf("sha256 %s vs sm3 %s", a, b)
	}
}

// HKDF with SM3 as the hash, against Debian's OpenSSL 3.0:
//
//	openssl kdf -keylen 42 -kdfopt digest:SM3 \
//	  -kdfopt hexkey:0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b \
//	  -kdfopt hexsalt:000102030405060708090a0b0c \
//	  -kdfopt hexinfo:f0f1f2f3f4f5f6f7f8f9 HKDF
//
// (RFC 5869 test case 1's inputs), and the derivation hpgate makes of the
// fixture secret for the HMAC-SM3 person key, no salt:
//
//	openssl kdf -keylen 32 -kdfopt digest:SM3 \
//	  -kdfopt hexkey:$(printf %s hpgate-fixture-key-never-use-in-production | xxd -p | tr -d '\n') \
//	  -kdfopt hexinfo:$(printf %s 'hpgate person key hmac-sm3 v1' | xxd -p | tr -d '\n') HKDF
//
// (with digest:SHA256 the second gives baf0e0e5…, the hkdf-sha256 key).
func TestHKDFSM3KnownAnswer(t *testing.T) {
	got, err := hkdf.Key(sm3.New, mustHex(t, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), mustHex(t, "000102030405060708090a0b0c"), string(mustHex(t, "f0f1f2f3f4f5f6f7f8f9")), 42)
	if err != nil {
		t.Fatal(err)
	}
	if want := "c69fe91b7aaee2dd5718d72dcaee0cce93f1b8e41f792da51261b6a517e68b36ed2c595572b01dfa359b"; hex.EncodeToString(got) != want {
		t.Errorf("HKDF-SM3 = %x\nwant       %s", got, want)
	}
	for kdf, want := range map[string]string{
		HKDFSM3:    "fd0fba6ad13c74f12c7b659ddd17808e8dc89521dc920b4f11986f274dcaae8c",
		HKDFSHA256: "baf0e0e5e2d6ab99f994dbe9f727680d149ffaab99d90e410fbbac114dc95582",
		"":         "baf0e0e5e2d6ab99f994dbe9f727680d149ffaab99d90e410fbbac114dc95582",
	} {
		got, err := Algorithms{KDF: kdf}.Derive([]byte(TestSecret), labelMACSM3, 32)
		if err != nil || hex.EncodeToString(got) != want {
			t.Errorf("Derive(%q) = %x, %v; want %s", kdf, got, err, want)
		}
	}
}

// pii.kdf changes every derived key: person keys and sealing keys, for
// either HMAC and cipher; a value sealed under one KDF does not open under
// the other (a re-key), and hkdf-sha256 is what hpgate always derived.
func TestKDFChangesEveryKey(t *testing.T) {
	secret := []byte(TestSecret)
	legacy := TestKey()
	if sha := gmKey(t, TestKeyID, secret, Algorithms{KDF: HKDFSHA256}); sha.PersonKey(sampleID) != legacy.PersonKey(sampleID) || !bytes.Equal(sha.SealKey(), legacy.SealKey()) {
		t.Fatal("hkdf-sha256 is not the derivation of keys made before pii.kdf")
	}
	for _, hm := range HMACs {
		for _, c := range Ciphers {
			sha := gmKey(t, "k1", secret, Algorithms{HMAC: hm, Cipher: c})
			gm := gmKey(t, "k1", secret, Algorithms{HMAC: hm, Cipher: c, KDF: HKDFSM3})
			if sha.PersonKey(sampleID) == gm.PersonKey(sampleID) || bytes.Equal(sha.SealKey(), gm.SealKey()) {
				t.Errorf("%s/%s: hkdf-sm3 derives the hkdf-sha256 keys", hm, c)
			}
			s, err := gm.Seal([]byte(sampleID))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := gm.Open(s); err != nil || string(got) != sampleID {
				t.Errorf("%s/%s: hkdf-sm3 round trip = %q, %v", hm, c, got, err)
			}
			if _, err := sha.Open(s); err == nil || !strings.Contains(err.Error(), "authentication failed") {
				t.Errorf("%s/%s: a value sealed under hkdf-sm3 opened under hkdf-sha256: %v", hm, c, err)
			}
		}
	}
	// The HMAC-SM3 person key under hkdf-sm3 is keyed with the derived key
	// the known-answer test pins.
	mac := hmac.New(sm3.New, mustHex(t, "fd0fba6ad13c74f12c7b659ddd17808e8dc89521dc920b4f11986f274dcaae8c"))
	mac.Write([]byte(sampleID))
	want := "k1:" + hex.EncodeToString(mac.Sum(nil))
	if got := gmKey(t, "k1", secret, Algorithms{HMAC: HMACSM3, KDF: HKDFSM3}).PersonKey(sampleID); got != want {
		t.Errorf("hmac-sm3 under hkdf-sm3 = %s, want %s", got, want)
	}
}

// A Sealer with its own labels seals under the configured cipher, opens
// either, binds its additional data, and is keyed apart from the Key's.
func TestSealerLabelsAndAD(t *testing.T) {
	material := bytes.Repeat([]byte{9}, 32)
	labels := SealerLabels{AES: "test aes", SM4: "test sm4"}
	aesS, err := NewSealer(material, Algorithms{}, labels)
	if err != nil {
		t.Fatal(err)
	}
	sm4S, err := NewSealer(material, Algorithms{Cipher: SM4GCM}, labels)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sm4S.Seal([]byte("pfx"), []byte(sampleID), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if string(v[:3]) != "pfx" || v[3] != 0x02 {
		t.Fatalf("sealed = %x: want the prefix, then marker 0x02", v[:4])
	}
	for _, s := range []*Sealer{aesS, sm4S} {
		if got, err := s.Open(v[3:], []byte("ad")); err != nil || string(got) != sampleID {
			t.Errorf("open = %q, %v", got, err)
		}
		if _, err := s.Open(v[3:], []byte("other")); err == nil {
			t.Error("opened under other additional data")
		}
	}
	other, _ := NewSealer(material, Algorithms{Cipher: SM4GCM}, SealerLabels{AES: "x aes", SM4: "x sm4"})
	if _, err := other.Open(v[3:], []byte("ad")); err == nil || !strings.Contains(err.Error(), "sm4-gcm: message authentication failed") {
		t.Errorf("opened under other labels: %v", err)
	}
	if _, err := NewSealer(material, Algorithms{}, SealerLabels{AES: "same", SM4: "same"}); err == nil {
		t.Error("one label for both keys accepted")
	}
}

func TestHasherAllocsSM3(t *testing.T) {
	h := gmKey(t, "k1", []byte(TestSecret), Algorithms{HMAC: HMACSM3}).NewHasher()
	buf := make([]byte, 0, 128)
	var sum [SumSize]byte
	if n := testing.AllocsPerRun(100, func() { buf = h.AppendKey(buf[:0], sampleID); h.Sum(&sum, sampleID) }); n != 0 {
		t.Errorf("hmac-sm3 Hasher allocates %v times", n)
	}
}

func BenchmarkHasher(b *testing.B) {
	for _, alg := range HMACs {
		b.Run(alg, func(b *testing.B) {
			h := gmKey(b, "k1", []byte(TestSecret), Algorithms{HMAC: alg}).NewHasher()
			buf := make([]byte, 0, 128)
			b.ReportAllocs()
			for b.Loop() {
				buf = h.AppendKey(buf[:0], sampleID)
			}
		})
	}
}

func BenchmarkSeal(b *testing.B) {
	plain := bytes.Repeat([]byte("x"), 400) // a settlement row as JSON
	for _, c := range Ciphers {
		b.Run(c, func(b *testing.B) {
			k := gmKey(b, "k1", []byte(TestSecret), Algorithms{Cipher: c})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Seal(plain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
