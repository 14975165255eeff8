package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Hash is a SHA-256 or HMAC-SHA256 sum.
type Hash = [32]byte

// SnapshotEntry is one source row of a snapshot-mode mapping.
type SnapshotEntry struct {
	// Key identifies the row: the HMAC of its source key under the
	// deployment key (never a plain hash: an ID number is guessable from
	// its SHA-256). It is stored as given.
	Key Hash
	// Content is the hash of the row's canonical content; a new value
	// means the row changed.
	Content Hash
	// Ident holds what a delete record needs to identify the row once it
	// is gone (its identifying fields, encoded by the caller). It may hold
	// personal data: it is stored sealed. Nil stores nothing.
	Ident []byte
}

// Snapshot is the change-detection state of one snapshot-mode mapping: for
// each row seen, its key, content hash, identifying fields and the pass
// that last saw it. A pass reads the whole source table:
//
//	pass, _ := sn.BeginPass()
//	for each batch of rows:
//	    changed, _ := sn.Changed(entries, nil)  // emit upserts for these
//	    ... write them, wait for the acknowledgement ...
//	    sn.Seen(pass, entries)                  // all entries of the batch
//	sn.Sweep(pass, limit, emitDeletes)          // rows not seen: gone
//
// Seen and Sweep change state only after the caller's records are
// acknowledged, so a crash repeats records rather than losing them. A
// pass cut short by a crash is simply begun again.
type Snapshot struct {
	s       *Store
	mapping []byte
}

// Snapshot returns the snapshot state of mapping. Store.Reset of the
// mapping's name clears it.
func (s *Store) Snapshot(mapping string) *Snapshot {
	return &Snapshot{s: s, mapping: []byte(mapping)}
}

var (
	snapPassKey = []byte("pass")
	snapEntries = []byte("entries")
)

const snapValueHeader = 8 + 32 // pass, content hash; then the sealed ident

func (sn *Snapshot) bucket(tx *bolt.Tx) *bolt.Bucket {
	return tx.Bucket(bucketSnapshots).Bucket(sn.mapping)
}

// seal seals e's ident, bound to the mapping and the row's key.
func (sn *Snapshot) seal(e *SnapshotEntry) ([]byte, error) {
	return sn.s.seal.seal(nil, e.Ident, "snapshot", string(sn.mapping), string(e.Key[:]))
}

func (sn *Snapshot) entries(tx *bolt.Tx) *bolt.Bucket {
	if b := sn.bucket(tx); b != nil {
		return b.Bucket(snapEntries)
	}
	return nil
}

func (sn *Snapshot) create(tx *bolt.Tx) (*bolt.Bucket, error) {
	if len(sn.mapping) == 0 {
		return nil, errors.New("snapshot: empty mapping name")
	}
	return tx.Bucket(bucketSnapshots).CreateBucketIfNotExists(sn.mapping)
}

// BeginPass starts a pass over the source and returns its number: 1 for
// the first, then one more each time.
func (sn *Snapshot) BeginPass() (uint64, error) {
	var pass uint64
	err := sn.s.db.Update(func(tx *bolt.Tx) error {
		b, err := sn.create(tx)
		if err != nil {
			return err
		}
		if _, err := b.CreateBucketIfNotExists(snapEntries); err != nil {
			return err
		}
		if v := b.Get(snapPassKey); len(v) == 8 {
			pass = binary.BigEndian.Uint64(v)
		}
		pass++
		return b.Put(snapPassKey, binary.BigEndian.AppendUint64(nil, pass))
	})
	if err != nil {
		return 0, fmt.Errorf("snapshot %s: begin pass: %w", sn.mapping, err)
	}
	return pass, nil
}

// Changed reports, for each entry, whether it is new or its content
// differs from the stored one. It reads only. The result is written to out
// when it has room (out[:len(entries)]), else to a new slice.
func (sn *Snapshot) Changed(entries []SnapshotEntry, out []bool) ([]bool, error) {
	if cap(out) < len(entries) {
		out = make([]bool, len(entries))
	}
	out = out[:len(entries)]
	err := sn.s.db.View(func(tx *bolt.Tx) error {
		b := sn.entries(tx)
		for i := range entries {
			var v []byte
			if b != nil {
				v = b.Get(entries[i].Key[:])
			}
			out[i] = len(v) < snapValueHeader || !bytes.Equal(v[8:snapValueHeader], entries[i].Content[:])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: changed: %w", sn.mapping, err)
	}
	return out, nil
}

// Seen records entries as present in pass, with their content and
// identifying fields, in one transaction. Call it once the records emitted
// for the changed ones are acknowledged.
func (sn *Snapshot) Seen(pass uint64, entries []SnapshotEntry) error {
	// Seal the idents of changed rows outside the write transaction; an
	// unchanged row keeps its sealed ident.
	changed, err := sn.Changed(entries, nil)
	if err != nil {
		return err
	}
	idents := make([][]byte, len(entries))
	for i := range entries {
		if changed[i] && entries[i].Ident != nil {
			if idents[i], err = sn.seal(&entries[i]); err != nil {
				return err
			}
		}
	}
	err = sn.s.db.Update(func(tx *bolt.Tx) error {
		b, err := sn.create(tx)
		if err != nil {
			return err
		}
		eb, err := b.CreateBucketIfNotExists(snapEntries)
		if err != nil {
			return err
		}
		for i := range entries {
			e := &entries[i]
			old := eb.Get(e.Key[:])
			ident := idents[i]
			if len(old) > snapValueHeader && bytes.Equal(old[8:snapValueHeader], e.Content[:]) {
				ident = old[snapValueHeader:] // unchanged: keep the sealed ident
			}
			if ident == nil && e.Ident != nil {
				if ident, err = sn.seal(e); err != nil {
					return err
				}
			}
			v := make([]byte, 0, snapValueHeader+len(ident))
			v = binary.BigEndian.AppendUint64(v, pass)
			v = append(v, e.Content[:]...)
			v = append(v, ident...)
			if err := eb.Put(e.Key[:], v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("snapshot %s: seen: %w", sn.mapping, err)
	}
	return nil
}

// Sweep finds the rows that pass did not see (gone from the source), in
// key order and pages of at most limit entries, with their identifying
// fields opened. It calls fn with each page outside any transaction, and
// forgets the page's rows once fn returns nil, so fn can write delete
// records and wait for their acknowledgement. An error from fn stops the
// sweep with that error; the page's rows stay for the next sweep.
func (sn *Snapshot) Sweep(pass uint64, limit int, fn func([]SnapshotEntry) error) error {
	if limit <= 0 {
		limit = 1000
	}
	var after []byte
	for {
		page, next, err := sn.vanished(pass, after, limit)
		if err != nil {
			return fmt.Errorf("snapshot %s: sweep: %w", sn.mapping, err)
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
			if err := sn.forget(pass, page); err != nil {
				return fmt.Errorf("snapshot %s: sweep: %w", sn.mapping, err)
			}
		}
		if next == nil {
			return nil
		}
		after = next
	}
}

// vanished returns up to limit entries after key `after` last seen before
// pass, and the key to continue after (nil at the end).
func (sn *Snapshot) vanished(pass uint64, after []byte, limit int) ([]SnapshotEntry, []byte, error) {
	var page []SnapshotEntry
	var next []byte
	err := sn.s.db.View(func(tx *bolt.Tx) error {
		b := sn.entries(tx)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.First()
		if after != nil {
			k, v = c.Seek(after)
			if k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			if len(k) != len(Hash{}) || len(v) < snapValueHeader {
				return fmt.Errorf("%w: snapshot entry of %d bytes", ErrCorrupt, len(v))
			}
			if binary.BigEndian.Uint64(v) >= pass {
				continue
			}
			var e SnapshotEntry
			copy(e.Key[:], k)
			copy(e.Content[:], v[8:snapValueHeader])
			if sealed := v[snapValueHeader:]; len(sealed) > 0 {
				ident, err := sn.s.seal.open(sealed, "snapshot", string(sn.mapping), string(k))
				if err != nil {
					return err
				}
				e.Ident = ident
			}
			page = append(page, e)
			if len(page) == limit {
				next = bytes.Clone(k)
				return nil
			}
		}
		return nil
	})
	return page, next, err
}

// forget deletes the entries of page still not seen in pass.
func (sn *Snapshot) forget(pass uint64, page []SnapshotEntry) error {
	return sn.s.db.Update(func(tx *bolt.Tx) error {
		b := sn.entries(tx)
		if b == nil {
			return nil
		}
		for i := range page {
			k := page[i].Key[:]
			if v := b.Get(k); len(v) >= 8 && binary.BigEndian.Uint64(v) < pass {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Len returns the number of rows known.
func (sn *Snapshot) Len() (int, error) {
	n := 0
	err := sn.s.db.View(func(tx *bolt.Tx) error {
		if b := sn.entries(tx); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}
