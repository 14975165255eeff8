package writeback

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/connectors/sqlwrite"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/monitoring"
	"github.com/hpgate/hpgate/pipeline/dlq"
)

// Results of applying one identity view to one writeback; they label
// hpgate_writeback_rows_total.
const (
	ResultUpdated   = "updated"   // a row's flags were changed
	ResultUnchanged = "unchanged" // the row already held the authority's values
	ResultNotFound  = "not_found" // no target row for the person (DLQ)
	ResultUnmapped  = "unmapped"  // a value has no target code (DLQ)
	ResultNothing   = "nothing"   // the authority holds none of the facts
	ResultError     = "error"     // the target refused the change (DLQ)
)

// Target is one target database: a source instance of the config.
type Target struct {
	// Driver and DSN open the pool that writes.
	Driver string
	DSN    string
	// Source reads the target tables for the blind indexes (keyset).
	Source *sqlsource.Source
}

// Options configure a Writer.
type Options struct {
	Key     *pii.Key
	Targets map[string]Target
	// StateDir holds writeback.db (blind indexes, local audit).
	StateDir string
	// TopicPrefix names the DLQ topic.
	TopicPrefix string
	// DLQ receives the identity records a writeback cannot apply.
	DLQ connectors.Sink
	// DryRun prints each statement that would change a row to Out, with
	// its arguments masked, and changes nothing.
	DryRun  bool
	Out     io.Writer
	Metrics *monitoring.WritebackMetrics
	Log     *slog.Logger
	// RowsPerSecond caps the changes per second of the writebacks whose
	// file sets no rows_per_second; 0 means DefaultRowsPerSecond.
	RowsPerSecond float64
	// Now is the clock of audit rows; the default is time.Now.
	Now func() time.Time
}

// Writer applies identity views to the writebacks' target tables. It is
// not safe for concurrent use: records are applied one after the other, in
// partition order, so the changes of one person keep their order.
type Writer struct {
	opts    Options
	wbs     []*Writeback
	state   *bolt.DB
	targets map[string]*target
	indexes map[string]*index
	last    map[string]time.Time // pacing, per writeback
}

type target struct {
	db *sql.DB
	d  sqlwrite.Dialect
}

// New opens the state store and the target pools (without dialling) and
// checks that every writeback names a configured target.
func New(wbs []*Writeback, opts Options) (*Writer, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.RowsPerSecond <= 0 {
		opts.RowsPerSecond = DefaultRowsPerSecond
	}
	w := &Writer{opts: opts, wbs: wbs, targets: map[string]*target{}, indexes: map[string]*index{}, last: map[string]time.Time{}}
	for _, wb := range wbs {
		t, ok := opts.Targets[wb.Target]
		if !ok {
			w.Close()
			return nil, fmt.Errorf("%s: writeback %s: target %q is not a source of the config", wb.File, wb.Name, wb.Target)
		}
		if w.targets[wb.Target] == nil {
			d, err := sqlwrite.ForDriver(t.Driver)
			if err != nil {
				w.Close()
				return nil, fmt.Errorf("%s: writeback %s: %w", wb.File, wb.Name, err)
			}
			db, err := d.Open(t.DSN)
			if err != nil {
				w.Close()
				return nil, err
			}
			w.targets[wb.Target] = &target{db: db, d: d}
		}
	}
	db, err := bolt.Open(opts.StateDir+"/"+StateFile, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open writeback state %s: %w (is hpgate writeback already running?)", opts.StateDir, err)
	}
	w.state = db
	for _, wb := range wbs {
		if wb.IDCard != "" {
			w.indexes[wb.Name] = newIndex(wb, db, opts.Key, opts.Targets[wb.Target].Source)
		}
	}
	return w, nil
}

// Close releases the pools and the state store.
func (w *Writer) Close() {
	for _, t := range w.targets {
		_ = t.db.Close()
	}
	if w.state != nil {
		_ = w.state.Close()
	}
}

// Prepare creates the audit tables where asked (MySQL, PostgreSQL, SQLite;
// a DBA creates them on Oracle and SQL Server) and builds or brings the
// blind indexes up to date.
func (w *Writer) Prepare(ctx context.Context) error {
	done := map[string]bool{}
	for _, wb := range w.wbs {
		t := w.targets[wb.Target]
		if wb.Audit == "table" && !done[wb.Target] && !w.opts.DryRun {
			switch t.d.Name() {
			case "mysql", "postgres", "sqlite":
				if _, err := t.db.ExecContext(ctx, t.d.CreateAudit()); err != nil {
					return fmt.Errorf("writeback %s: create %s: %w", wb.Name, sqlwrite.AuditTable, err)
				}
			}
			done[wb.Target] = true
		}
		if x := w.indexes[wb.Name]; x != nil {
			n, err := w.refresh(ctx, x)
			if err != nil {
				return err
			}
			w.opts.Log.Info("blind index ready", "writeback", wb.Name, "rows", n, "bad_ids", x.badIDs)
		}
	}
	return nil
}

// refresh brings a blind index up to date and sets its
// hpgate_writeback_index_rows to the rows it holds.
func (w *Writer) refresh(ctx context.Context, x *index) (int, error) {
	n, err := x.refresh(ctx)
	if w.opts.Metrics != nil {
		w.opts.Metrics.IndexRows.WithLabelValues(x.w.Name).Set(float64(x.size()))
	}
	return n, err
}

// Rejection is an identity record a writeback could not apply.
type Rejection struct {
	Writeback, Code, Message string
}

// Apply applies one identity record (the value of an identity.v1 message)
// to every writeback of its county and returns what each did, and the
// rejections for the DLQ. An error is a fault of a target database worth
// retrying (the caller backs off and does not commit past the record).
func (w *Writer) Apply(ctx context.Context, value []byte) (results map[string]string, rejected []Rejection, err error) {
	var env canonical.Envelope
	if err := json.Unmarshal(value, &env); err != nil {
		return nil, []Rejection{{Code: "bad_record", Message: "not an hpgate envelope"}}, nil
	}
	var v canonical.IdentityView
	if err := json.Unmarshal(env.Data, &v); err != nil || v.PersonKey == "" {
		return nil, []Rejection{{Code: "bad_record", Message: "data is not an identity view"}}, nil
	}
	results = map[string]string{}
	for _, wb := range w.wbs {
		if wb.County != v.County && wb.County != env.County {
			continue
		}
		res, rj, err := w.apply(ctx, wb, &v)
		if err != nil {
			return results, rejected, err
		}
		results[wb.Name] = res
		if w.opts.Metrics != nil {
			w.opts.Metrics.Rows.WithLabelValues(wb.Name, res).Inc()
		}
		if rj != nil {
			rejected = append(rejected, *rj)
		}
	}
	return results, rejected, nil
}

func (w *Writer) apply(ctx context.Context, wb *Writeback, v *canonical.IdentityView) (string, *Rejection, error) {
	// What the authorities say, in the target's codes.
	var cols []string
	var want []any
	var factOf, authOf []string
	for _, c := range wb.Columns {
		auth := authority(v, c.Fact)
		if auth == wb.System {
			continue // the target's own word counts for this fact
		}
		val := factValue(systemView(v, auth), c.Fact)
		if val == "" {
			continue
		}
		code, ok := c.Values[val]
		if !ok {
			if c.Default == nil {
				return ResultUnmapped, &Rejection{Writeback: wb.Name, Code: "unmapped_value",
					Message: fmt.Sprintf("%s value %q of column %s has no target code (add it to values or set default)", c.Fact, val, c.Name)}, nil
			}
			code = *c.Default
		}
		cols, want = append(cols, c.Name), append(want, code)
		factOf, authOf = append(factOf, c.Fact), append(authOf, auth)
	}
	if len(cols) == 0 {
		return ResultNothing, nil, nil
	}
	t := w.targets[wb.Target]
	keys, err := w.find(ctx, wb, t, v)
	if err != nil {
		return "", nil, err
	}
	if len(keys) == 0 {
		return ResultNotFound, &Rejection{Writeback: wb.Name, Code: "not_found",
			Message: fmt.Sprintf("no row of %s for the person (by %s)", wb.Table, findWords(wb))}, nil
	}
	result := ResultUnchanged
	for _, k := range keys {
		changed, err := w.write(ctx, wb, t, k, cols, want, factOf, authOf, v.PersonKey)
		if err != nil {
			var de *dbError
			if errors.As(err, &de) && !de.transient {
				return ResultError, &Rejection{Writeback: wb.Name, Code: "target_error", Message: de.Error()}, nil
			}
			return "", nil, err
		}
		if changed {
			result = ResultUpdated
		}
	}
	return result, nil, nil
}

func findWords(wb *Writeback) string {
	var ways []string
	if len(wb.Records) > 0 {
		ways = append(ways, "its "+strings.Join(wb.Records, "/")+" records")
	}
	if wb.IDCard != "" {
		ways = append(ways, "blind index of "+wb.IDCard)
	}
	return strings.Join(ways, ", then ")
}

// find returns the keys of the person's rows in the target table: first
// the target system's own record keys from the identity view (kept when
// the row exists), else the blind index, refreshed once on a miss so a row
// added since the last refresh is found.
func (w *Writer) find(ctx context.Context, wb *Writeback, t *target, v *canonical.IdentityView) ([]string, error) {
	var keys []string
	for _, r := range systemView(v, wb.System).Records {
		if slices.Contains(wb.Records, r.Entity) && (r.Deleted == nil || !*r.Deleted) && !slices.Contains(keys, r.SourceID) {
			ok, err := w.exists(ctx, wb, t, r.SourceID, "")
			if err != nil {
				return nil, err
			}
			if ok {
				keys = append(keys, r.SourceID)
			}
		}
	}
	x := w.indexes[wb.Name]
	if len(keys) > 0 || x == nil {
		return keys, nil
	}
	for attempt := 0; attempt < 2; attempt++ {
		cand, err := x.lookup(v.PersonKey)
		if err != nil {
			return nil, nil // not a key of this generation: nothing to find
		}
		for _, k := range cand {
			ok, err := w.exists(ctx, wb, t, k, v.PersonKey)
			if err != nil {
				return nil, err
			}
			if ok {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 || attempt == 1 {
			break
		}
		if _, err := w.refresh(ctx, x); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// exists reports whether the row with key k is there and, for a blind-index
// hit (personKey set), still holds the person's ID number.
func (w *Writer) exists(ctx context.Context, wb *Writeback, t *target, k, personKey string) (bool, error) {
	col := wb.Key
	if personKey != "" {
		col = wb.IDCard
	}
	var got any
	err := t.db.QueryRowContext(ctx, t.d.Select(wb.Table, wb.Key, []string{col}), k).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, classify(wb, err)
	}
	if personKey != "" {
		return w.indexes[wb.Name].matches(got, personKey), nil
	}
	return true, nil
}

// write compares the row's columns with the wanted values and changes the
// ones that differ, with their audit rows, in one transaction.
func (w *Writer) write(ctx context.Context, wb *Writeback, t *target, k string, cols []string, want []any, factOf, authOf []string, person string) (bool, error) {
	cur := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range cur {
		ptrs[i] = &cur[i]
	}
	err := t.db.QueryRowContext(ctx, t.d.Select(wb.Table, wb.Key, cols), k).Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, classify(wb, err)
	}
	var chCols, chFacts, chAuth, before []string
	var chVals []any
	for i := range cols {
		if cur[i] != nil && text(cur[i]) == want[i] {
			continue
		}
		chCols, chVals, chFacts, chAuth = append(chCols, cols[i]), append(chVals, want[i]), append(chFacts, factOf[i]), append(chAuth, authOf[i])
		before = append(before, text(cur[i]))
	}
	if len(chCols) == 0 {
		return false, nil
	}
	stmt := t.d.Update(wb.Table, wb.Key, chCols)
	args := t.d.UpdateArgs(k, chVals)
	if w.opts.DryRun {
		masked := make([]string, len(args))
		for i, a := range args {
			masked[i] = fmt.Sprintf("%q", text(a))
			if a == any(k) {
				masked[i] = fmt.Sprintf("%q", pii.MaskID(k))
			}
		}
		fmt.Fprintf(w.opts.Out, "-- writeback %s, person %s\n%s;\n-- args: [%s]\n", wb.Name, person, stmt, strings.Join(masked, ", "))
		return true, nil
	}
	w.pace(ctx, wb)
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return false, classify(wb, err)
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, stmt, args...)
	if err != nil {
		return false, classify(wb, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return false, nil // changed meanwhile to the same values
	}
	now := w.opts.Now().Format(time.RFC3339)
	if wb.Audit == "table" {
		for i, c := range chCols {
			if _, err := tx.ExecContext(ctx, t.d.InsertAudit(), now, wb.Name, wb.Table, k, c, before[i], text(chVals[i]), person, chFacts[i], chAuth[i]); err != nil {
				return false, classify(wb, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return false, classify(wb, err)
	}
	if wb.Audit == "local" {
		if err := w.localAudit(now, wb, k, chCols, before, chVals, chFacts, chAuth, person); err != nil {
			return true, err
		}
	}
	return true, nil
}

// localAudit keeps audit rows in the state store (the row key sealed) and
// logs the change without personal data.
func (w *Writer) localAudit(now string, wb *Writeback, k string, cols, before []string, vals []any, factOf, authOf []string, person string) error {
	sealed, err := w.opts.Key.Seal([]byte(k))
	if err != nil {
		return err
	}
	for i, c := range cols {
		rec, _ := json.Marshal(map[string]string{"changed_at": now, "writeback": wb.Name, "target_table": wb.Table, "row_key_sealed": sealed,
			"column_name": c, "old_value": before[i], "new_value": text(vals[i]), "person_key": person, "fact": factOf[i], "authority": authOf[i]})
		err := w.state.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("audit/" + wb.Name))
			if err != nil {
				return err
			}
			seq, _ := b.NextSequence()
			return b.Put(fmt.Appendf(nil, "%020d", seq), rec)
		})
		if err != nil {
			return err
		}
		w.opts.Log.Info("row changed", "writeback", wb.Name, "column", c, "old", before[i], "new", text(vals[i]), "person_key", person)
	}
	return nil
}

// Rate returns the changes per second a writeback may make: its file's
// rows_per_second, else Options.RowsPerSecond.
func (w *Writer) Rate(wb *Writeback) float64 {
	if wb.RowsPerSecond > 0 {
		return wb.RowsPerSecond
	}
	return w.opts.RowsPerSecond
}

// pace keeps a writeback's changes under its rate.
func (w *Writer) pace(ctx context.Context, wb *Writeback) {
	gap := time.Duration(float64(time.Second) / w.Rate(wb))
	next := w.last[wb.Name].Add(gap)
	if d := time.Until(next); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	w.last[wb.Name] = time.Now()
}

// dbError is a target database's error: transient ones are retried, others
// send the record to the DLQ.
type dbError struct {
	wb        string
	transient bool
	err       error
}

func (e *dbError) Error() string { return "writeback " + e.wb + ": " + e.err.Error() }
func (e *dbError) Unwrap() error { return e.err }

func classify(wb *Writeback, err error) error {
	transient := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, connectors.ErrUnavailable)
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) || strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "bad connection") {
		transient = true
	}
	return &dbError{wb: wb.Name, transient: transient, err: err}
}

// DLQMessage builds the dead-letter message of a rejected identity record:
// the reason, and the record sealed (it holds no clear personal data, but
// the DLQ contract seals every raw value) so it can be re-driven.
func DLQMessage(prefix string, key *pii.Key, county, personKey, position string, value []byte, rj Rejection, now time.Time) (connectors.Message, error) {
	sealed, err := key.Seal(value)
	if err != nil {
		return connectors.Message{}, err
	}
	name := "writeback"
	if rj.Writeback != "" {
		name = rj.Writeback
	}
	if county == "" {
		county = "000000"
	}
	v := canonical.DLQ{
		Schema: canonical.DLQSchema, Mapping: name, County: county,
		Source: canonical.Source{System: "hpgate", Connector: "writeback", Mapping: name, Position: position},
		Code:   rj.Code, Message: rj.Message, Raw: sealed, KeyID: key.ID(), RejectedAt: now.Format(time.RFC3339),
	}
	b, err := json.Marshal(&v)
	if err != nil {
		return connectors.Message{}, err
	}
	k := personKey
	if k == "" {
		k = name + ":" + position
	}
	return connectors.Message{Topic: dlq.Topic(prefix), Key: []byte(k), Value: b, Headers: []connectors.Header{
		{Key: "schema", Value: []byte(canonical.DLQSchema)}, {Key: "county", Value: []byte(county)}, {Key: "source_system", Value: []byte("hpgate")},
	}}, nil
}

// envelopeKey returns the county and person key of an identity record, ""
// when it is not one.
func envelopeKey(value []byte) (county, person string) {
	var env struct {
		County string `json:"county"`
		Data   struct {
			PersonKey string `json:"person_key"`
		} `json:"data"`
	}
	_ = json.Unmarshal(value, &env)
	return env.County, env.Data.PersonKey
}
