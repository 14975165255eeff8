package checkpoint

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Bucket is a named key-value space of the store, for small state other
// than checkpoints (for example the DLQ re-drive bookkeeping). Values are
// stored as given, not sealed: never put personal data in clear in one.
// Each call is one transaction, fsynced before a write returns.
type Bucket struct {
	s    *Store
	name []byte
}

// Bucket returns the bucket called name, created by its first Put.
func (s *Store) Bucket(name string) *Bucket {
	return &Bucket{s: s, name: []byte(name)}
}

// Get returns a copy of the value of key, or nil when there is none.
func (b *Bucket) Get(key []byte) ([]byte, error) {
	var out []byte
	err := b.s.db.View(func(tx *bolt.Tx) error {
		if bk := tx.Bucket(bucketKV).Bucket(b.name); bk != nil {
			if v := bk.Get(key); v != nil {
				out = bytes.Clone(v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", b.name, err)
	}
	return out, nil
}

// Put sets the value of key. key must not be empty.
func (b *Bucket) Put(key, value []byte) error {
	err := b.s.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.Bucket(bucketKV).CreateBucketIfNotExists(b.name)
		if err != nil {
			return err
		}
		return bk.Put(key, value)
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", b.name, err)
	}
	return nil
}

// Delete removes key; a missing key is not an error.
func (b *Bucket) Delete(key []byte) error {
	err := b.s.db.Update(func(tx *bolt.Tx) error {
		if bk := tx.Bucket(bucketKV).Bucket(b.name); bk != nil {
			return bk.Delete(key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete %s: %w", b.name, err)
	}
	return nil
}

// ForEach calls fn for each key in order, in one read transaction. key and
// value are valid only during the call (copy them to keep them); fn must
// not write to the store. An error from fn stops the loop and is returned.
func (b *Bucket) ForEach(fn func(key, value []byte) error) error {
	return b.s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketKV).Bucket(b.name)
		if bk == nil {
			return nil
		}
		return bk.ForEach(fn)
	})
}
