package checkpoint_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
)

// A fake resident ID (valid layout and check digit) inside a keyset
// position, as registry and HIS cursors hold them.
const (
	clearID  = "37028219560301123X"
	position = connectors.Position(`["2019-03-01T10:00:00+08:00","` + clearID + `"]`)
	display  = "2019-03-01T10:00:00+08:00 k1:9f86d081884c7d65"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, checkpoint.KeySize) }

func open(t testing.TB, dir string, key []byte) *checkpoint.Store {
	t.Helper()
	s, err := checkpoint.Open(dir, key, checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestCommitLoadRoundTrip(t *testing.T) {
	s := open(t, t.TempDir(), testKey(1))
	at := time.Date(2026, 11, 1, 8, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	tests := []struct {
		name string
		cp   checkpoint.Checkpoint
	}{
		{name: "jimo-ins-settlement", cp: checkpoint.Checkpoint{Position: position, Fingerprint: "sha256:ab12", UpdatedAt: at, Rows: 123456, Display: display}},
		{name: "empty position", cp: checkpoint.Checkpoint{Fingerprint: "fp", UpdatedAt: at}},
		{name: "即墨-his-就诊", cp: checkpoint.Checkpoint{Position: "位置|1", Fingerprint: "fp2", UpdatedAt: at, Rows: 1, Display: "显示"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Commit(tc.name, tc.cp); err != nil {
				t.Fatal(err)
			}
			got, err := s.Load(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if !got.UpdatedAt.Equal(tc.cp.UpdatedAt) {
				t.Fatalf("UpdatedAt = %v, want %v", got.UpdatedAt, tc.cp.UpdatedAt)
			}
			got.UpdatedAt = tc.cp.UpdatedAt
			if got != tc.cp {
				t.Fatalf("Load = %+v, want %+v", got, tc.cp)
			}
		})
	}

	// A later commit replaces; a zero UpdatedAt becomes now.
	before := time.Now()
	if err := s.Commit("jimo-ins-settlement", checkpoint.Checkpoint{Position: "p2", Fingerprint: "sha256:ab12", Rows: 123999}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("jimo-ins-settlement")
	if err != nil {
		t.Fatal(err)
	}
	if got.Position != "p2" || got.Rows != 123999 || got.UpdatedAt.Before(before.Add(-time.Second)) {
		t.Fatalf("Load after second commit = %+v", got)
	}

	// No checkpoint: the zero value, from the start.
	if got, err := s.Load("never-ran"); err != nil || got != (checkpoint.Checkpoint{}) {
		t.Fatalf("Load(never-ran) = %+v, %v", got, err)
	}
	if err := s.Commit("", checkpoint.Checkpoint{}); err == nil {
		t.Fatal("Commit with an empty name: no error")
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	s, err := checkpoint.Open(dir, testKey(1), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cp := checkpoint.Checkpoint{Position: position, Fingerprint: "fp", Rows: 42, Display: display, UpdatedAt: time.Unix(1700000000, 0).UTC()}
	if err := s.Commit("m", cp); err != nil {
		t.Fatal(err)
	}
	if err := s.Bucket("dlq").Put([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, testKey(1))
	got, err := s.Load("m")
	if err != nil {
		t.Fatal(err)
	}
	if got != cp {
		t.Fatalf("after reopen: %+v, want %+v", got, cp)
	}
	if v, err := s.Bucket("dlq").Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("bucket after reopen: %q, %v", v, err)
	}
}

func TestPositionNotInClearInFile(t *testing.T) {
	dir := t.TempDir()
	s, err := checkpoint.Open(dir, testKey(1), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit("registry-poverty", checkpoint.Checkpoint{Position: position, Fingerprint: "fp-registry", Display: display}); err != nil {
		t.Fatal(err)
	}
	sn := s.Snapshot("registry-household")
	pass, err := sn.BeginPass()
	if err != nil {
		t.Fatal(err)
	}
	if err := sn.Seen(pass, []checkpoint.SnapshotEntry{{Key: checkpoint.Hash{1}, Content: checkpoint.Hash{2}, Ident: []byte(`{"id_card":"` + clearID + `"}`)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, checkpoint.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{string(position), clearID, clearID[:14]} {
		if bytes.Contains(raw, []byte(clear)) {
			t.Errorf("state file holds %q in clear", clear)
		}
	}
	// What is meant to be readable is: the fingerprint and display form.
	for _, meant := range []string{"fp-registry", display} {
		if !bytes.Contains(raw, []byte(meant)) {
			t.Errorf("state file lacks %q", meant)
		}
	}
}

func TestWrongKey(t *testing.T) {
	dir := t.TempDir()
	s, err := checkpoint.Open(dir, testKey(1), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	goodID := s.KeyID()
	if err := s.Commit("m", checkpoint.Checkpoint{Position: position, Fingerprint: "fp", Display: display}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, testKey(2))
	_, err = s.Load("m")
	if !errors.Is(err, checkpoint.ErrKeyMismatch) {
		t.Fatalf("Load with another key: err = %v, want ErrKeyMismatch", err)
	}
	var kerr *checkpoint.KeyMismatchError
	if !errors.As(err, &kerr) || kerr.Sealed != goodID || kerr.Configured != s.KeyID() {
		t.Fatalf("err = %v, want key ids %s and %s", err, goodID, s.KeyID())
	}
	msg := err.Error()
	if !strings.Contains(msg, "load checkpoint m") || !strings.Contains(msg, "wrong or rotated key") || strings.Contains(msg, clearID) {
		t.Fatalf("unclear error: %s", msg)
	}
	// List needs no key and tells which key sealed what.
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].KeyID != goodID || list[0].Display != display {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if _, err := checkpoint.Open(t.TempDir(), []byte("short"), checkpoint.Options{}); err == nil {
		t.Fatal("Open with a 5-byte key: no error")
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, testKey(1))
	start := time.Now()
	s2, err := checkpoint.Open(dir, testKey(1), checkpoint.Options{LockTimeout: 200 * time.Millisecond})
	elapsed := time.Since(start)
	if err == nil {
		s2.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
	if !errors.Is(err, checkpoint.ErrLocked) || !strings.Contains(err.Error(), "state directory in use by another process") {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("second Open took %s", elapsed)
	}
}

func TestListSetReset(t *testing.T) {
	s := open(t, t.TempDir(), testKey(1))
	for i, name := range []string{"b-mapping", "a-mapping", "c-mapping"} {
		if err := s.Commit(name, checkpoint.Checkpoint{Position: position, Fingerprint: "fp-" + name, Rows: int64(i + 1), Display: display}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name)
		if e.Fingerprint != "fp-"+e.Name || e.KeyID != s.KeyID() || e.Display != display || e.Manual {
			t.Errorf("entry %+v", e)
		}
	}
	if got := strings.Join(names, ","); got != "a-mapping,b-mapping,c-mapping" {
		t.Fatalf("List order %s", got)
	}

	// Set: the operator's position, rows kept, fingerprint cleared.
	if err := s.Set("b-mapping", "2020-01-01|x", "2020-01-01"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("b-mapping")
	if err != nil {
		t.Fatal(err)
	}
	if got.Position != "2020-01-01|x" || got.Rows != 1 || got.Fingerprint != "" || got.Display != "2020-01-01" {
		t.Fatalf("after Set: %+v", got)
	}
	list, _ = s.List()
	if !list[1].Manual {
		t.Fatalf("Set not listed as manual: %+v", list[1])
	}

	// Reset: gone, snapshot state too.
	sn := s.Snapshot("c-mapping")
	pass, _ := sn.BeginPass()
	if err := sn.Seen(pass, []checkpoint.SnapshotEntry{{Key: checkpoint.Hash{9}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset("c-mapping"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load("c-mapping"); err != nil || got != (checkpoint.Checkpoint{}) {
		t.Fatalf("after Reset: %+v, %v", got, err)
	}
	if n, _ := sn.Len(); n != 0 {
		t.Fatalf("snapshot keeps %d rows after Reset", n)
	}
	if err := s.Reset("c-mapping"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("second Reset: err = %v, want ErrNotFound", err)
	}
}

func TestConcurrentCommits(t *testing.T) {
	s := open(t, t.TempDir(), testKey(1))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				name := fmt.Sprintf("m%d", g)
				if err := s.Commit(name, checkpoint.Checkpoint{Position: connectors.Position(fmt.Sprint(i)), Rows: int64(i)}); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Load(name); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for g := range 4 {
		cp, err := s.Load(fmt.Sprintf("m%d", g))
		if err != nil || cp.Position != "19" || cp.Rows != 19 {
			t.Fatalf("m%d = %+v, %v", g, cp, err)
		}
	}
}

func TestBucket(t *testing.T) {
	s := open(t, t.TempDir(), testKey(1))
	b := s.Bucket("redrive")
	if v, err := b.Get([]byte("absent")); err != nil || v != nil {
		t.Fatalf("Get(absent) = %q, %v", v, err)
	}
	for _, k := range []string{"b", "a", "c"} {
		if err := b.Put([]byte(k), []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete([]byte("b")); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete([]byte("never")); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := b.ForEach(func(k, v []byte) error {
		got = append(got, string(k)+"="+string(v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a=va,c=vc" {
		t.Fatalf("ForEach = %v", got)
	}
	v, _ := b.Get([]byte("a"))
	v[0] = 'X' // a copy: the store is unchanged
	if v2, _ := b.Get([]byte("a")); string(v2) != "va" {
		t.Fatalf("Get returned the store's memory: %q", v2)
	}
	stop := errors.New("stop")
	if err := b.ForEach(func(k, v []byte) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("ForEach error = %v", err)
	}
	if err := s.Bucket("empty").ForEach(func(k, v []byte) error { return stop }); err != nil {
		t.Fatalf("ForEach of an empty bucket: %v", err)
	}
}

// BenchmarkCommit measures one durable checkpoint commit (seal, encode,
// bbolt transaction with fsync).
func BenchmarkCommit(b *testing.B) {
	s := open(b, b.TempDir(), testKey(1))
	cp := checkpoint.Checkpoint{Position: position, Fingerprint: "sha256:0123456789abcdef", Display: display}
	for b.Loop() {
		cp.Rows += 5000
		if err := s.Commit("jimo-ins-settlement", cp); err != nil {
			b.Fatal(err)
		}
	}
}
