package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings/pii"
)

// FileName is the store's file inside the state directory.
const FileName = "state.db"

// DefaultLockTimeout is how long Open waits for the file lock by default.
const DefaultLockTimeout = 500 * time.Millisecond

// ErrLocked means another process (a running daemon) holds the state
// directory. Admin commands then go through the daemon's admin endpoint.
var ErrLocked = errors.New("state directory in use by another process")

// ErrNotFound is returned by Reset for a name without a checkpoint.
var ErrNotFound = errors.New("no checkpoint")

// Top-level buckets.
var (
	bucketMeta        = []byte("meta")
	bucketCheckpoints = []byte("checkpoints")
	bucketSnapshots   = []byte("snapshots")
	bucketKV          = []byte("kv")
)

const formatVersion = "1"

// Options tune Open. The zero value is the default.
type Options struct {
	// LockTimeout is how long Open waits for another process to release
	// the state directory before failing with ErrLocked. The default is
	// DefaultLockTimeout.
	LockTimeout time.Duration
	// Algorithms are the deployment's pii algorithms (config pii.cipher
	// and pii.kdf; pii.Key.Algorithms): new values are sealed with
	// Algorithms.Cipher, values sealed under either cipher open, and the
	// store's keys are derived with Algorithms.KDF. The zero value is
	// AES-256-GCM and HKDF-SHA256.
	Algorithms pii.Algorithms
}

// Store is hpgate's local state: the checkpoint of each mapping, the
// snapshot hashes of snapshot-mode mappings, and small buckets for other
// state. It is one bbolt file, state.db, in the state directory, locked
// against other processes while open (one daemon per state directory).
//
// Every change is one transaction, written and fsynced before the call
// returns. A Store is safe for concurrent use; writes are serialised.
type Store struct {
	db   *bolt.DB
	seal *sealer
	now  func() time.Time
}

// Open opens (or creates) dir/state.db. key is the 32-byte deployment key
// (pii.Key.SealKey); positions and other personal data are stored sealed
// under keys derived from it, with opts.Algorithms' cipher. If another process has the store open, Open fails after
// opts.LockTimeout with an error wrapping ErrLocked.
func Open(dir string, key []byte, opts Options) (*Store, error) {
	seal, err := newSealer(key, opts.Algorithms)
	if err != nil {
		return nil, fmt.Errorf("open state store: %w", err)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open state store: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open state store %s: %w (is hpgate already running?)", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketCheckpoints, bucketSnapshots, bucketKV} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get([]byte("format")); {
		case v == nil:
			return meta.Put([]byte("format"), []byte(formatVersion))
		case string(v) != formatVersion:
			return fmt.Errorf("state format %q, this hpgate reads %q", v, formatVersion)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	return &Store{db: db, seal: seal, now: time.Now}, nil
}

// Close releases the store and its lock.
func (s *Store) Close() error { return s.db.Close() }

// Path returns the store's file.
func (s *Store) Path() string { return s.db.Path() }

// KeyID returns the id of the configured deployment key, as List shows it
// for each checkpoint.
func (s *Store) KeyID() string { return s.seal.KeyID() }

// Checkpoint is where a mapping resumes, and what was delivered before it.
type Checkpoint struct {
	// Position is the source position after the last acknowledged record.
	// It may hold personal data (a key column that is an ID number): it is
	// stored sealed and never listed.
	Position connectors.Position
	// Fingerprint identifies what the position means (cursor columns,
	// table or query, row filter). Empty after Set: the mapping adopts its
	// current fingerprint at its next start.
	Fingerprint string
	// UpdatedAt is when the checkpoint was committed. Commit sets it to now
	// when zero.
	UpdatedAt time.Time
	// Rows is the total of rows delivered by the mapping.
	Rows int64
	// Display is a form of the position without personal data (its
	// timestamp, the HMAC of its keys), built by the caller; `checkpoint
	// list` shows it.
	Display string
}

// Entry is a checkpoint as List shows it: everything but the position.
type Entry struct {
	Name        string
	Fingerprint string
	UpdatedAt   time.Time
	Rows        int64
	Display     string
	// KeyID is the deployment key the position is sealed under.
	KeyID string
	// Manual is true when an operator set the position (Set).
	Manual bool
}

// record is a checkpoint at rest.
type record struct {
	Position    []byte    `json:"position"` // sealed
	Fingerprint string    `json:"fingerprint,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
	Rows        int64     `json:"rows"`
	Display     string    `json:"display,omitempty"`
	Manual      bool      `json:"manual,omitempty"`
}

const checkpointContext = "checkpoint"

func checkName(name string) error {
	if name == "" || len(name) > 255 {
		return fmt.Errorf("checkpoint name %q: empty or longer than 255 bytes", name)
	}
	return nil
}

// Load returns the checkpoint of name. A name without one loads as the
// zero Checkpoint: from the start, no fingerprint. A position sealed under
// another key fails with an error matching ErrKeyMismatch; a damaged one
// with ErrCorrupt.
func (s *Store) Load(name string) (Checkpoint, error) {
	if err := checkName(name); err != nil {
		return Checkpoint{}, err
	}
	var rec record
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCheckpoints).Get([]byte(name))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &rec)
	})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("load checkpoint %s: %w: %w", name, ErrCorrupt, err)
	}
	if !found {
		return Checkpoint{}, nil
	}
	pos, err := s.seal.open(rec.Position, checkpointContext, name)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("load checkpoint %s: position: %w", name, err)
	}
	return Checkpoint{
		Position:    connectors.Position(pos),
		Fingerprint: rec.Fingerprint,
		UpdatedAt:   rec.UpdatedAt,
		Rows:        rec.Rows,
		Display:     rec.Display,
	}, nil
}

// Commit stores cp as the checkpoint of name, replacing the previous one,
// and returns once it is on disk (fsync). The pipeline calls it only after
// the sink acknowledged every record before cp.Position.
func (s *Store) Commit(name string, cp Checkpoint) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := s.put(name, cp, false); err != nil {
		return fmt.Errorf("commit checkpoint %s: %w", name, err)
	}
	return nil
}

// put stores cp under name. With manual (Set), the stored row total is
// kept, read in the same transaction.
func (s *Store) put(name string, cp Checkpoint, manual bool) error {
	if cp.UpdatedAt.IsZero() {
		cp.UpdatedAt = s.now()
	}
	sealed, err := s.seal.seal(nil, []byte(cp.Position), checkpointContext, name)
	if err != nil {
		return err
	}
	rec := record{
		Position:    sealed,
		Fingerprint: cp.Fingerprint,
		UpdatedAt:   cp.UpdatedAt.UTC(),
		Rows:        cp.Rows,
		Display:     cp.Display,
		Manual:      manual,
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCheckpoints)
		if manual {
			if old := b.Get([]byte(name)); old != nil {
				var prev record
				if err := json.Unmarshal(old, &prev); err != nil {
					return fmt.Errorf("%w: %w", ErrCorrupt, err)
				}
				rec.Rows = prev.Rows
			}
		}
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put([]byte(name), v)
	})
}

// List returns every checkpoint, by name, without positions. It needs no
// key: a checkpoint sealed under another key is listed with its KeyID.
func (s *Store) List() ([]Entry, error) {
	var out []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCheckpoints).ForEach(func(k, v []byte) error {
			var rec record
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("checkpoint %s: %w: %w", k, ErrCorrupt, err)
			}
			out = append(out, Entry{
				Name:        string(k),
				Fingerprint: rec.Fingerprint,
				UpdatedAt:   rec.UpdatedAt,
				Rows:        rec.Rows,
				Display:     rec.Display,
				KeyID:       sealedKeyID(rec.Position),
				Manual:      rec.Manual,
			})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	return out, nil
}

// Reset deletes the checkpoint of name and the snapshot state of that
// mapping, in one transaction: the mapping starts from the beginning and
// a snapshot mapping emits every row again. A name without a checkpoint
// or snapshot state fails with ErrNotFound.
func (s *Store) Reset(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		cps, snaps := tx.Bucket(bucketCheckpoints), tx.Bucket(bucketSnapshots)
		found := cps.Get([]byte(name)) != nil || snaps.Bucket([]byte(name)) != nil
		if !found {
			return ErrNotFound
		}
		if err := cps.Delete([]byte(name)); err != nil {
			return err
		}
		if snaps.Bucket([]byte(name)) != nil {
			return snaps.DeleteBucket([]byte(name))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reset checkpoint %s: %w", name, err)
	}
	return nil
}

// Set makes pos the position of name, as an operator's decision (List
// shows it as manual). The row total is kept; the fingerprint is cleared,
// so the mapping adopts its current fingerprint at its next start. display
// is pos's form without personal data.
func (s *Store) Set(name string, pos connectors.Position, display string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := s.put(name, Checkpoint{Position: pos, Display: display}, true)
	if err != nil {
		return fmt.Errorf("set checkpoint %s: %w", name, err)
	}
	return nil
}
