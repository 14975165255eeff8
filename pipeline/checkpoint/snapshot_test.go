package checkpoint_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/hpgate/hpgate/pipeline/checkpoint"
)

func entry(key, content string) checkpoint.SnapshotEntry {
	return checkpoint.SnapshotEntry{
		Key:     sha256.Sum256([]byte("hmac:" + key)),
		Content: sha256.Sum256([]byte(content)),
		Ident:   []byte(`{"household_id":"` + key + `"}`),
	}
}

func TestSnapshotPasses(t *testing.T) {
	s := open(t, t.TempDir(), testKey(1))
	sn := s.Snapshot("registry-household")

	// Pass 1: everything is new.
	pass1, err := sn.BeginPass()
	if err != nil || pass1 != 1 {
		t.Fatalf("BeginPass = %d, %v", pass1, err)
	}
	first := []checkpoint.SnapshotEntry{entry("a", "1"), entry("b", "1"), entry("c", "1"), entry("d", "1")}
	changed, err := sn.Changed(first, nil)
	if err != nil || !slices.Equal(changed, []bool{true, true, true, true}) {
		t.Fatalf("Changed = %v, %v", changed, err)
	}
	if err := sn.Seen(pass1, first); err != nil {
		t.Fatal(err)
	}
	swept := 0
	if err := sn.Sweep(pass1, 10, func([]checkpoint.SnapshotEntry) error { swept++; return nil }); err != nil || swept != 0 {
		t.Fatalf("Sweep after a full pass: %d pages, %v", swept, err)
	}

	// Pass 2: b changed, c and d gone, e new; seen in two batches.
	pass2, err := sn.BeginPass()
	if err != nil || pass2 != 2 {
		t.Fatalf("BeginPass = %d, %v", pass2, err)
	}
	second := []checkpoint.SnapshotEntry{entry("a", "1"), entry("b", "2"), entry("e", "1")}
	changed, err = sn.Changed(second, make([]bool, 0, 8))
	if err != nil || !slices.Equal(changed, []bool{false, true, true}) {
		t.Fatalf("Changed = %v, %v", changed, err)
	}
	if err := sn.Seen(pass2, second[:1]); err != nil {
		t.Fatal(err)
	}
	if err := sn.Seen(pass2, second[1:]); err != nil {
		t.Fatal(err)
	}
	if changed, _ := sn.Changed(second, nil); slices.Contains(changed, true) {
		t.Fatalf("after Seen, Changed = %v", changed)
	}

	// A failing fn keeps the page; page size 1 pages through both.
	boom := errors.New("kafka down")
	if err := sn.Sweep(pass2, 1, func([]checkpoint.SnapshotEntry) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Sweep error = %v", err)
	}
	var gone []string
	err = sn.Sweep(pass2, 1, func(page []checkpoint.SnapshotEntry) error {
		if len(page) != 1 {
			t.Fatalf("page of %d, limit 1", len(page))
		}
		for _, e := range page {
			gone = append(gone, string(e.Ident))
			if e.Content != sha256.Sum256([]byte("1")) {
				t.Errorf("vanished entry content %x", e.Content)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(gone)
	if want := []string{`{"household_id":"c"}`, `{"household_id":"d"}`}; !slices.Equal(gone, want) {
		t.Fatalf("vanished = %v, want %v", gone, want)
	}
	if n, _ := sn.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	if err := sn.Sweep(pass2, 10, func(page []checkpoint.SnapshotEntry) error {
		t.Fatalf("second sweep found %d", len(page))
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// The ident of an unchanged row survives later passes.
	pass3, _ := sn.BeginPass()
	if err := sn.Seen(pass3, []checkpoint.SnapshotEntry{{Key: entry("a", "1").Key, Content: entry("a", "1").Content}}); err != nil {
		t.Fatal(err)
	}
	pass4, _ := sn.BeginPass()
	var idents []string
	if err := sn.Sweep(pass4, 10, func(page []checkpoint.SnapshotEntry) error {
		for _, e := range page {
			idents = append(idents, string(e.Ident))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(idents)
	if want := []string{`{"household_id":"a"}`, `{"household_id":"b"}`, `{"household_id":"e"}`}; !slices.Equal(idents, want) {
		t.Fatalf("idents = %v, want %v", idents, want)
	}
}

func TestSnapshotsAreSeparatePerMapping(t *testing.T) {
	s := open(t, t.TempDir(), testKey(1))
	a, b := s.Snapshot("a"), s.Snapshot("b")
	pa, _ := a.BeginPass()
	if err := a.Seen(pa, []checkpoint.SnapshotEntry{entry("x", "1")}); err != nil {
		t.Fatal(err)
	}
	changed, err := b.Changed([]checkpoint.SnapshotEntry{entry("x", "1")}, nil)
	if err != nil || !changed[0] {
		t.Fatalf("mapping b sees mapping a's row: %v, %v", changed, err)
	}
}

func BenchmarkSnapshotSeen(b *testing.B) {
	s := open(b, b.TempDir(), testKey(1))
	sn := s.Snapshot("bench")
	batch := make([]checkpoint.SnapshotEntry, 5000)
	for i := range batch {
		batch[i] = entry(fmt.Sprint(i), "1")
	}
	pass, _ := sn.BeginPass()
	for b.Loop() {
		if err := sn.Seen(pass, batch); err != nil {
			b.Fatal(err)
		}
	}
}
