package checkpoint

import (
	"bytes"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestSealBindsContext(t *testing.T) {
	s, err := newSealer(bytes.Repeat([]byte{7}, KeySize))
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
