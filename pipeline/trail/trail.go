// Package trail is the audit trail of changes of one deployment: every
// mapping set loaded (start, reload) and every operator action on a
// mapping's data (checkpoint set or reset, DLQ re-drive, replay) is an
// append-only entry in the state store, with who, what (content hashes of
// the config and mapping files and what changed since the previous load),
// when and the result. Entries are hash-chained, so an entry edited or
// removed afterwards is detected by Verify, and each is published as an
// hp.audit/v1 value on <prefix>audit.v1.
//
// Entries never hold personal data: names of mappings, hashes, counts and
// error texts of hpgate's own packages only.
package trail

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"sync"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
)

// Bucket names in the state store.
const (
	bucketName = "audit_trail"
	metaBucket = "audit_trail_meta"
)

var keyPublished = []byte("published")

// Topic is the audit topic under a prefix.
func Topic(prefix string) string { return prefix + "audit.v1" }

// OperatorEnv names the environment variable that says who acts.
const OperatorEnv = "HPGATE_OPERATOR"

// Operator returns who acts: flag when given, else $HPGATE_OPERATOR, else
// the OS user, else "unknown".
func Operator(flag string) string {
	if flag != "" {
		return flag
	}
	if v := os.Getenv(OperatorEnv); v != "" {
		return v
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

// ErrBroken is returned by Verify when the chain does not hold.
var ErrBroken = errors.New("audit trail chain broken")

// Trail appends to and reads the trail of one state store. It is safe for
// concurrent use; appends are serialised.
type Trail struct {
	b    *checkpoint.Bucket
	meta *checkpoint.Bucket
	host string
	now  func() time.Time

	mu     sync.Mutex
	loaded bool
	seq    int
	head   string // hash of the last entry
	last   map[string]string
}

// Open returns the trail kept in store.
func Open(store *checkpoint.Store) *Trail {
	host, _ := os.Hostname()
	return &Trail{b: store.Bucket(bucketName), meta: store.Bucket(metaBucket), host: host, now: time.Now}
}

// Entry is what the caller says of one action; Append fills the rest.
type Entry struct {
	Operator string
	Action   string
	Mapping  string
	// Err is the action's failure, nil when it succeeded.
	Err    error
	Detail string
	// Config is the config file read, when the action loaded it.
	Config string
	// Mappings, when not nil, is the mapping set in force after the
	// action: Append hashes each file and lists what changed since the
	// previous entry that had a mapping set.
	Mappings []*mappings.Mapping
}

// FileHash returns "sha256:<hex>" of a file's content.
func FileHash(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

func (t *Trail) load() error {
	if t.loaded {
		return nil
	}
	err := t.b.ForEach(func(_, v []byte) error {
		var a canonical.Audit
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("%w: %w", ErrBroken, err)
		}
		if a.Seq != nil {
			t.seq = *a.Seq
		}
		t.head = a.Hash
		if a.Mappings != nil {
			t.last = a.Mappings
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit trail: %w", err)
	}
	t.loaded = true
	return nil
}

// Append records e as the next entry and returns it as stored.
func (t *Trail) Append(e Entry) (*canonical.Audit, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.load(); err != nil {
		return nil, err
	}
	seq := t.seq + 1
	a := &canonical.Audit{
		Schema: canonical.AuditSchema, Seq: &seq, At: t.now().Format(time.RFC3339Nano), Operator: e.Operator,
		Host: t.host, Action: e.Action, Mapping: e.Mapping, Result: "ok", Detail: e.Detail, Prev: t.head,
	}
	if a.Operator == "" {
		a.Operator = "unknown"
	}
	if e.Err != nil {
		a.Result = "failed"
		a.Detail = joinDetail(a.Detail, e.Err.Error())
	}
	if e.Config != "" {
		h, err := FileHash(e.Config)
		if err != nil {
			return nil, fmt.Errorf("audit trail: hash config: %w", err)
		}
		a.Config = h
	}
	if e.Mappings != nil {
		cur := make(map[string]string, len(e.Mappings))
		for _, m := range e.Mappings {
			h, err := FileHash(m.File)
			if err != nil {
				return nil, fmt.Errorf("audit trail: hash mapping %s: %w", m.Name, err)
			}
			cur[m.Name] = h
		}
		a.Mappings = cur
		a.Added, a.Removed, a.Changed = diff(t.last, cur)
	}
	var err error
	if a.Hash, err = Hash(a); err != nil {
		return nil, err
	}
	v, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	if err := t.b.Put(seqKey(seq), v); err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	t.seq, t.head = seq, a.Hash
	if a.Mappings != nil {
		t.last = a.Mappings
	}
	return a, nil
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + ": " + b
}

// diff lists the names added, removed and changed from prev to cur, sorted.
func diff(prev, cur map[string]string) (added, removed, changed []string) {
	for name, h := range cur {
		switch p, ok := prev[name]; {
		case !ok:
			added = append(added, name)
		case p != h:
			changed = append(changed, name)
		}
	}
	for name := range prev {
		if _, ok := cur[name]; !ok {
			removed = append(removed, name)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	slices.Sort(changed)
	return added, removed, changed
}

// Hash returns the chain hash of a: SHA-256 over its JSON without Hash
// (encoding/json writes struct fields in a fixed order and map keys
// sorted, so the form is canonical). Prev is inside what is hashed.
func Hash(a *canonical.Audit) (string, error) {
	c := *a
	c.Hash = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

func seqKey(seq int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(seq)) }

// List returns the entries from seq from on (1 for all), in order.
func (t *Trail) List(from int) ([]canonical.Audit, error) {
	var out []canonical.Audit
	err := t.b.ForEach(func(k, v []byte) error {
		if len(k) == 8 && binary.BigEndian.Uint64(k) < uint64(max(from, 1)) {
			return nil
		}
		var a canonical.Audit
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("%w: entry %x: %w", ErrBroken, k, err)
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	return out, nil
}

// Verify checks the whole chain: sequence numbers without gaps, each
// entry's hash, and each link to the previous entry. It returns the number
// of entries checked, and an error wrapping ErrBroken at the first entry
// that does not hold.
func (t *Trail) Verify() (int, error) {
	entries, err := t.List(1)
	if err != nil {
		return 0, err
	}
	return VerifyEntries(entries)
}

// VerifyEntries checks a chain given in order from its first entry.
func VerifyEntries(entries []canonical.Audit) (int, error) {
	prev := ""
	for i := range entries {
		a := &entries[i]
		if a.Seq == nil || *a.Seq != i+1 {
			return i, fmt.Errorf("%w: entry %d: sequence number out of order", ErrBroken, i+1)
		}
		if a.Prev != prev {
			return i, fmt.Errorf("%w: entry %d: does not follow entry %d", ErrBroken, i+1, i)
		}
		h, err := Hash(a)
		if err != nil {
			return i, err
		}
		if h != a.Hash {
			return i, fmt.Errorf("%w: entry %d: content does not match its hash", ErrBroken, i+1)
		}
		prev = a.Hash
	}
	return len(entries), nil
}

// Publish writes every entry not yet published to topic through sink, in
// order, and remembers how far it got. Entries stay in the store whether
// or not the broker takes them; a later Publish sends what is left.
func (t *Trail) Publish(ctx context.Context, sink connectors.Sink, topic string) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	done := 0
	if v, err := t.meta.Get(keyPublished); err != nil {
		return 0, err
	} else if len(v) == 8 {
		done = int(binary.BigEndian.Uint64(v))
	}
	entries, err := t.List(done + 1)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	msgs := make([]connectors.Message, len(entries))
	for i := range entries {
		v, err := json.Marshal(&entries[i])
		if err != nil {
			return 0, err
		}
		msgs[i] = connectors.Message{Topic: topic, Key: []byte("audit"), Value: v, Headers: []connectors.Header{
			{Key: "schema", Value: []byte(canonical.AuditSchema)},
		}}
	}
	if err := sink.Write(ctx, msgs); err != nil {
		return 0, fmt.Errorf("publish audit trail: %w", err)
	}
	last := *entries[len(entries)-1].Seq
	if err := t.meta.Put(keyPublished, seqKey(last)); err != nil {
		return 0, err
	}
	return len(entries), nil
}
