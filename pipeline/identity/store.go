package identity

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// StoreFile is the name of the identity stage's state file in state.dir,
// beside the gateway's state.db: `hpgate run` and `hpgate identity` may
// share a state directory, two identity instances may not.
const StoreFile = "identity.db"

// ErrLocked means another process holds the state file.
var ErrLocked = errors.New("identity state store is locked by another process (one hpgate identity per state directory)")

// Store keeps the state of the partitions an instance owns: per partition,
// every person's [Person], the persons with a time-driven check due, and
// the next offset of each input topic that the state includes. A Store is
// used by one goroutine at a time (the consumer loop).
type Store struct {
	db *bolt.DB
}

var (
	bucketPartitions = []byte("partitions")
	bucketPersons    = []byte("persons")
	bucketDue        = []byte("due")
	bucketOffsets    = []byte("offsets")
)

// OpenStore opens (creating) dir/identity.db, waiting up to lockTimeout
// for the file lock.
func OpenStore(dir string, lockTimeout time.Duration) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if lockTimeout <= 0 {
		lockTimeout = 500 * time.Millisecond
	}
	db, err := bolt.Open(filepath.Join(dir, StoreFile), 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, filepath.Join(dir, StoreFile))
	}
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketPartitions)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Path is the file's path.
func (s *Store) Path() string { return s.db.Path() }

func partKey(p int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(p)) }

// Txn is one write transaction over the store.
type Txn struct {
	tx *bolt.Tx
}

// Begin starts a write transaction; finish it with Commit or Rollback.
func (s *Store) Begin() (*Txn, error) {
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, err
	}
	return &Txn{tx: tx}, nil
}

// Commit makes the transaction durable (fsync).
func (t *Txn) Commit() error { return t.tx.Commit() }

// Rollback drops the transaction.
func (t *Txn) Rollback() { _ = t.tx.Rollback() }

func (t *Txn) partition(p int32) (*bolt.Bucket, error) {
	b, err := t.tx.Bucket(bucketPartitions).CreateBucketIfNotExists(partKey(p))
	if err != nil {
		return nil, err
	}
	for _, name := range [][]byte{bucketPersons, bucketDue, bucketOffsets} {
		if _, err := b.CreateBucketIfNotExists(name); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Person loads a person of partition p; a new one when absent.
func (t *Txn) Person(p int32, key string) (*Person, error) {
	b, err := t.partition(p)
	if err != nil {
		return nil, err
	}
	v := b.Bucket(bucketPersons).Get([]byte(key))
	if v == nil {
		return newPerson(key), nil
	}
	var per Person
	if err := json.Unmarshal(v, &per); err != nil {
		return nil, fmt.Errorf("decode stored person of partition %d: %w", p, err)
	}
	return &per, nil
}

// PutPerson stores a person of partition p and indexes its due time.
func (t *Txn) PutPerson(p int32, per *Person) error {
	b, err := t.partition(p)
	if err != nil {
		return err
	}
	v, err := json.Marshal(per)
	if err != nil {
		return err
	}
	if err := b.Bucket(bucketPersons).Put([]byte(per.Key), v); err != nil {
		return err
	}
	due := b.Bucket(bucketDue)
	if per.Due == 0 {
		return due.Delete([]byte(per.Key))
	}
	return due.Put([]byte(per.Key), binary.BigEndian.AppendUint64(nil, uint64(per.Due)))
}

// DuePersons returns the keys of partition p's persons whose check is due
// at or before now.
func (t *Txn) DuePersons(p int32, now time.Time) ([]string, error) {
	b, err := t.partition(p)
	if err != nil {
		return nil, err
	}
	var keys []string
	err = b.Bucket(bucketDue).ForEach(func(k, v []byte) error {
		if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) <= now.Unix() {
			keys = append(keys, string(k))
		}
		return nil
	})
	return keys, err
}

// PersonKeys returns every person key of partition p.
func (t *Txn) PersonKeys(p int32) ([]string, error) {
	b, err := t.partition(p)
	if err != nil {
		return nil, err
	}
	var keys []string
	err = b.Bucket(bucketPersons).ForEach(func(k, _ []byte) error {
		keys = append(keys, string(k))
		return nil
	})
	return keys, err
}

// Offsets returns the next offset of each input topic that partition p's
// state includes.
func (t *Txn) Offsets(p int32) (map[string]int64, error) {
	b, err := t.partition(p)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	err = b.Bucket(bucketOffsets).ForEach(func(k, v []byte) error {
		if len(v) == 8 {
			out[string(k)] = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return out, err
}

// SetOffset records that partition p's state includes topic up to (not
// including) next.
func (t *Txn) SetOffset(p int32, topic string, next int64) error {
	b, err := t.partition(p)
	if err != nil {
		return err
	}
	return b.Bucket(bucketOffsets).Put([]byte(topic), binary.BigEndian.AppendUint64(nil, uint64(next)))
}

// Reset drops every piece of partition p's state.
func (t *Txn) Reset(p int32) error {
	parts := t.tx.Bucket(bucketPartitions)
	if parts.Bucket(partKey(p)) != nil {
		if err := parts.DeleteBucket(partKey(p)); err != nil {
			return err
		}
	}
	_, err := t.partition(p)
	return err
}
