package writeback

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/mappings/normalize"
	"github.com/hpgate/hpgate/mappings/pii"
)

// StateFile is the writeback's local store in the state directory, beside
// (not inside) the gateway's state.db, so both can run on one directory.
const StateFile = "writeback.db"

// index is the blind index of one writeback: HMAC of the target table's
// ID-number column (the person key's HMAC, under the same key) → row key,
// sealed. The clear ID number never leaves the target database but for
// the moment it is hashed. Entries live in bucket "index/<name>" under
// hmac(32) | sha256(row key)[:8]; bucket "rows/<name>" maps
// sha256(row key)[:8] back to the hmac so a changed ID moves its entry;
// bucket "pos" holds the sealed keyset position of the last row read.
type index struct {
	w    *Writeback
	db   *bolt.DB
	key  *pii.Key
	h    *pii.Hasher
	src  *sqlsource.Source
	st   connectors.Stream
	page int
	// BadIDs counts target rows whose ID number is not valid (not indexed).
	badIDs int64
}

func newIndex(w *Writeback, db *bolt.DB, key *pii.Key, src *sqlsource.Source) *index {
	return &index{w: w, db: db, key: key, h: key.NewHasher(), src: src, page: 5000,
		st: connectors.Stream{Name: "writeback-index-" + w.Name, Table: w.Table, Columns: []string{w.Key, w.IDCard, w.Timestamp},
			Mode: "incremental", TimestampColumn: w.Timestamp, KeyColumns: []string{w.Key}}}
}

func (x *index) bucket(kind string) []byte { return []byte(kind + "/" + x.w.Name) }

// refresh reads the target rows changed since the last refresh (all of
// them the first time) and indexes them. It returns the rows read.
func (x *index) refresh(ctx context.Context) (int, error) {
	pos, err := x.position()
	if err != nil {
		return 0, err
	}
	total := 0
	for {
		b, err := x.src.Read(ctx, x.st, pos, x.page)
		if err != nil {
			return total, fmt.Errorf("blind index of %s: read %s: %w", x.w.Name, x.w.Table, err)
		}
		if b.Len() == 0 {
			return total, nil
		}
		if err := x.put(b); err != nil {
			return total, err
		}
		total += b.Len()
		pos = b.Next
		if b.Len() < x.page {
			return total, nil
		}
	}
}

func (x *index) position() (connectors.Position, error) {
	var sealed []byte
	_ = x.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("pos")); b != nil {
			sealed = bytes.Clone(b.Get([]byte(x.w.Name)))
		}
		return nil
	})
	if sealed == nil {
		return "", nil
	}
	p, err := x.key.Open(string(sealed))
	if err != nil {
		return "", fmt.Errorf("blind index of %s: position: %w", x.w.Name, err)
	}
	return connectors.Position(p), nil
}

// put indexes one page and stores the position after it, in one
// transaction.
func (x *index) put(b *connectors.Batch) error {
	ci := map[string]int{}
	for i, c := range b.Columns {
		ci[strings.ToUpper(c)] = i
	}
	ki, ii := ci[strings.ToUpper(x.w.Key)], ci[strings.ToUpper(x.w.IDCard)]
	sealedPos, err := x.key.Seal([]byte(b.Next))
	if err != nil {
		return err
	}
	return x.db.Update(func(tx *bolt.Tx) error {
		idx, err := tx.CreateBucketIfNotExists(x.bucket("index"))
		if err != nil {
			return err
		}
		rows, err := tx.CreateBucketIfNotExists(x.bucket("rows"))
		if err != nil {
			return err
		}
		for _, r := range b.Rows {
			rowKey := text(r[ki])
			rk := rowHash(rowKey)
			if old := rows.Get(rk[:]); old != nil {
				_ = idx.Delete(append(bytes.Clone(old), rk[:]...))
				_ = rows.Delete(rk[:])
			}
			id, err := normalize.IDCard(text(r[ii]))
			if err != nil {
				x.badIDs++
				continue
			}
			var mac [sha256.Size]byte
			x.h.Sum(&mac, id.Number)
			sealed, err := x.key.Seal([]byte(rowKey))
			if err != nil {
				return err
			}
			if err := idx.Put(append(mac[:], rk[:]...), []byte(sealed)); err != nil {
				return err
			}
			if err := rows.Put(rk[:], mac[:]); err != nil {
				return err
			}
		}
		pos, err := tx.CreateBucketIfNotExists([]byte("pos"))
		if err != nil {
			return err
		}
		return pos.Put([]byte(x.w.Name), []byte(sealedPos))
	})
}

// size returns the target rows the index holds (rows whose ID number is
// not valid are not indexed).
func (x *index) size() int {
	n := 0
	_ = x.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(x.bucket("rows")); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n
}

// lookup returns the row keys indexed under a person key.
func (x *index) lookup(personKey string) ([]string, error) {
	_, hexMAC, ok := strings.Cut(personKey, ":")
	mac, err := hex.DecodeString(hexMAC)
	if !ok || err != nil || len(mac) != sha256.Size {
		return nil, fmt.Errorf("person key is not <key id>:<hex HMAC>")
	}
	if id, _, _ := strings.Cut(personKey, ":"); id != x.key.ID() {
		return nil, fmt.Errorf("person key of key generation %q, this writeback holds %q", id, x.key.ID())
	}
	var sealed [][]byte
	_ = x.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(x.bucket("index"))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(mac); k != nil && bytes.HasPrefix(k, mac); k, v = c.Next() {
			sealed = append(sealed, bytes.Clone(v))
		}
		return nil
	})
	out := make([]string, 0, len(sealed))
	for _, s := range sealed {
		k, err := x.key.Open(string(s))
		if err != nil {
			return nil, err
		}
		out = append(out, string(k))
	}
	return out, nil
}

// matches reports whether the ID number idValue read from a target row
// hashes to personKey: a blind-index hit is checked against the row itself,
// so a stale entry never changes another person's row.
func (x *index) matches(idValue any, personKey string) bool {
	id, err := normalize.IDCard(text(idValue))
	if err != nil {
		return false
	}
	return x.key.PersonKey(id.Number) == personKey
}

func rowHash(k string) [8]byte {
	s := sha256.Sum256([]byte(k))
	var out [8]byte
	copy(out[:], s[:8])
	return out
}

// text renders a database value as the text hpgate compares and binds.
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(v)
	case string:
		return v
	case time.Time:
		return v.Format("2006-01-02 15:04:05")
	default:
		return fmt.Sprint(v)
	}
}
