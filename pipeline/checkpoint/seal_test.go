package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/hpgate/hpgate/mappings/pii"
)

func TestSealBindsContext(t *testing.T) {
	s, err := newSealer(bytes.Repeat([]byte{7}, KeySize), pii.Algorithms{})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.seal(nil, []byte("370282195603011234"), "checkpoint", "a")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := s.seal(nil, []byte("370282195603011234"), "checkpoint", "a")
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	if plain, err := s.open(sealed, "checkpoint", "a"); err != nil || string(plain) != "370282195603011234" {
		t.Fatalf("open = %q, %v", plain, err)
	}
	if _, err := s.open(sealed, "checkpoint", "b"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open under another name: err = %v, want ErrCorrupt", err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	if _, err := s.open(flipped, "checkpoint", "a"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open of a flipped byte: err = %v, want ErrCorrupt", err)
	}
	if _, err := s.open(sealed[:10], "checkpoint", "a"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open of a truncated value: err = %v, want ErrCorrupt", err)
	}
}

// TestCheckpointCopiedToAnotherName moves a sealed position from one
// mapping to another inside the file: it must not load.
func TestCheckpointCopiedToAnotherName(t *testing.T) {
	s, err := Open(t.TempDir(), bytes.Repeat([]byte{7}, KeySize), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Commit("a", Checkpoint{Position: "secret-position"}); err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCheckpoints)
		return b.Put([]byte("b"), bytes.Clone(b.Get([]byte("a"))))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load("b"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load of a copied checkpoint: err = %v, want ErrCorrupt", err)
	}
}

// rawPosition returns the sealed position of name as stored.
func rawPosition(t *testing.T, s *Store, name string) []byte {
	t.Helper()
	var rec record
	err := s.db.View(func(tx *bolt.Tx) error {
		return json.Unmarshal(tx.Bucket(bucketCheckpoints).Get([]byte(name)), &rec)
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec.Position
}

func openWith(t *testing.T, dir, cipher string) *Store {
	t.Helper()
	s, err := Open(dir, bytes.Repeat([]byte{7}, KeySize), Options{Algorithms: pii.Algorithms{Cipher: cipher}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStoreSealsWithConfiguredCipher: a store opened with sm4-gcm seals
// positions and snapshot idents as format 2 with the SM4-GCM marker; it
// reopens, and loads them, under either setting, and a position written
// under aes-256-gcm loads under sm4-gcm.
func TestStoreSealsWithConfiguredCipher(t *testing.T) {
	dir := t.TempDir()
	const id = "370282195603011234"
	s := openWith(t, dir, pii.SM4GCM)
	if err := s.Commit("a", Checkpoint{Position: id}); err != nil {
		t.Fatal(err)
	}
	sn := s.Snapshot("m")
	pass, _ := sn.BeginPass()
	if err := sn.Seen(pass, []SnapshotEntry{{Key: Hash{1}, Ident: []byte(id)}}); err != nil {
		t.Fatal(err)
	}
	if raw := rawPosition(t, s, "a"); raw[0] != sealV2 || raw[sealHeader] != 0x02 || bytes.Contains(raw, []byte(id)) {
		t.Fatalf("sm4-gcm position = %x: want format 2, marker 0x02", raw[:sealHeader+1])
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSnapshots).Bucket([]byte("m")).Bucket(snapEntries).Get(append([]byte{1}, make([]byte, 31)...))
		if ident := v[snapValueHeader:]; ident[0] != sealV2 || ident[sealHeader] != 0x02 {
			t.Errorf("sm4-gcm snapshot ident = %x", ident[:sealHeader+1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	for i, c := range []string{pii.AES256GCM, pii.SM4GCM, pii.AES256GCM} {
		s := openWith(t, dir, c)
		if cp, err := s.Load("a"); err != nil || cp.Position != id {
			t.Fatalf("reopen %d with %s: Load = %q, %v", i, c, cp.Position, err)
		}
		var idents []string
		sn := s.Snapshot("m")
		pass, _ := sn.BeginPass()
		if err := sn.Sweep(pass, 0, func(es []SnapshotEntry) error {
			for _, e := range es {
				idents = append(idents, string(e.Ident))
			}
			return errors.New("keep them")
		}); err == nil || len(idents) != 1 || idents[0] != id {
			t.Fatalf("reopen %d with %s: snapshot idents %q, %v", i, c, idents, err)
		}
		// Each reopen rewrites the position under its own cipher.
		if err := s.Commit("a", Checkpoint{Position: id}); err != nil {
			t.Fatal(err)
		}
		if want := map[string]byte{pii.AES256GCM: 0x01, pii.SM4GCM: 0x02}[c]; rawPosition(t, s, "a")[sealHeader] != want {
			t.Errorf("%s store wrote marker %#x, want %#x", c, rawPosition(t, s, "a")[sealHeader], want)
		}
		s.Close()
	}
}

// TestLegacyStoreOpens reads testdata/legacy-v1/state.db, written by
// hpgate before the cipher option (format 1: AES-256-GCM, no marker; key
// 32 bytes of 7, checkpoint "orders", snapshot "people" with one row):
// under either cipher its position and snapshot ident load, List shows
// its key id, and the next commit rewrites it in format 2.
func TestLegacyStoreOpens(t *testing.T) {
	old, err := os.ReadFile("testdata/legacy-v1/state.db")
	if err != nil {
		t.Fatal(err)
	}
	const id = "370282195603011234"
	for _, c := range pii.Ciphers {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), old, 0o600); err != nil {
			t.Fatal(err)
		}
		s := openWith(t, dir, c)
		if raw := rawPosition(t, s, "orders"); raw[0] != sealV1 {
			t.Fatalf("fixture position is format %d, want the legacy 1", raw[0])
		}
		cp, err := s.Load("orders")
		if err != nil || cp.Position != id || cp.Rows != 42 || cp.Fingerprint != "fp1" {
			t.Fatalf("%s: legacy Load = %+v, %v", c, cp, err)
		}
		list, err := s.List()
		if err != nil || len(list) != 1 || list[0].KeyID != s.KeyID() {
			t.Fatalf("%s: List = %+v, %v (key %s)", c, list, err, s.KeyID())
		}
		sn := s.Snapshot("people")
		pass, _ := sn.BeginPass()
		var idents []string
		err = sn.Sweep(pass, 0, func(es []SnapshotEntry) error {
			for _, e := range es {
				idents = append(idents, string(e.Ident))
			}
			return nil
		})
		if err != nil || len(idents) != 1 || idents[0] != id+"|张三" {
			t.Fatalf("%s: legacy snapshot idents %q, %v", c, idents, err)
		}
		if err := s.Commit("orders", cp); err != nil {
			t.Fatal(err)
		}
		if raw := rawPosition(t, s, "orders"); raw[0] != sealV2 || raw[sealHeader] != map[string]byte{pii.AES256GCM: 1, pii.SM4GCM: 2}[c] {
			t.Errorf("%s: rewritten position %x", c, raw[:sealHeader+1])
		}
		s.Close()
	}
	// Another deployment key: a key mismatch, not corruption.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), old, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, bytes.Repeat([]byte{8}, KeySize), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Load("orders"); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("legacy Load under another key: %v", err)
	}
}

// TestStoreKDFIsAReKey: pii.kdf derives the store's keys too, so a store
// written under hkdf-sha256 reports a key mismatch (not corruption) under
// hkdf-sm3, and a store sealed under hkdf-sm3 round-trips.
func TestStoreKDFIsAReKey(t *testing.T) {
	dir := t.TempDir()
	s := openWith(t, dir, pii.SM4GCM)
	if err := s.Commit("a", Checkpoint{Position: "p"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	gm := pii.Algorithms{Cipher: pii.SM4GCM, KDF: pii.HKDFSM3}
	s, err := Open(dir, bytes.Repeat([]byte{7}, KeySize), Options{Algorithms: gm})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Load("a"); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("hkdf-sha256 position under hkdf-sm3: %v", err)
	}
	if err := s.Commit("b", Checkpoint{Position: "q"}); err != nil {
		t.Fatal(err)
	}
	if cp, err := s.Load("b"); err != nil || cp.Position != "q" {
		t.Fatalf("hkdf-sm3 round trip: %q, %v", cp.Position, err)
	}
}
