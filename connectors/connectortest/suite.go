package connectortest

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
)

// SourceHarness describes one SQL source driver to SourceSuite: how to get
// an empty database with a Source reading it, and the few pieces of SQL
// that differ between databases.
type SourceHarness struct {
	// Open returns a Source reading an empty database, configured with
	// opts, and a handle on that database for the suite's tables and rows.
	// The harness closes both in t.Cleanup.
	Open func(t *testing.T, opts SourceOptions) (connectors.Source, *sql.DB)

	// Now returns the database clock in the source's zone: the clock the
	// settle delay is measured against.
	Now func(ctx context.Context, src connectors.Source) (time.Time, error)

	// Placeholder returns the n-th (1-based) bind placeholder.
	Placeholder func(n int) string

	// Column types of the suite's tables: a timestamp, a 64-bit integer,
	// a short text and a column that keeps arbitrary bytes.
	TimestampType, IntType, TextType, BytesType string

	// BytesLiteral renders bytes as an SQL literal; nil means X'…'.
	BytesLiteral func([]byte) string

	// EmptyBytesAreNull is set for databases that store an empty RAW or
	// string as NULL (Oracle): the empty value then reads back as nil.
	EmptyBytesAreNull bool

	// SlowQuery is a SELECT, used as a Stream.Query, with a column ts
	// (text in the "2006-01-02 15:04:05" layout, in the past) and an
	// integer column id, that takes at least 30 s to return a row.
	SlowQuery string

	// Outage returns a Source whose database cannot be reached; nil skips
	// that case (say why in the harness).
	Outage func(t *testing.T) connectors.Source

	// NullTimestamps returns the source's count of rows of stream whose
	// timestamp is NULL; nil skips that check.
	NullTimestamps func(src connectors.Source, stream string) int64
}

// SourceOptions configures the Source a SourceHarness opens.
type SourceOptions struct {
	// SettleDelay is the source's settle delay; negative means none.
	SettleDelay time.Duration
	// QueryTimeout is the source's query timeout; zero means its default.
	QueryTimeout time.Duration
}

// SourceSuite runs the conformance cases of a SQL source driver. Each case
// is a subtest with its own database.
func SourceSuite(t *testing.T, h SourceHarness) {
	cases := []struct {
		name string
		run  func(t *testing.T, h SourceHarness)
	}{
		{"resume after a position", suiteResume},
		{"equal timestamps across a page boundary", suiteEqualTimestamps},
		{"row committed late inside the settle delay", suiteLateCommit},
		{"empty batch means nothing new", suiteEmptyBatch},
		{"ctx cancel returns promptly", suiteCancel},
		{"query timeout is an outage", suiteQueryTimeout},
		{"outage is ErrUnavailable", suiteOutage},
		{"two key columns", suiteTwoKeys},
		{"snapshot paging", suiteSnapshot},
		{"null timestamps are counted not read", suiteNullTimestamps},
		{"bytes come back intact", suiteBytes},
		{"columns, where and custom query", suiteFilters},
		{"mistakes are not outages", suiteMistakes},
		{"closed source", suiteClosed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

// Layouts of the suite's timestamps.
const tsLayout = "2006-01-02 15:04:05"

// suiteEnv is one case's source and database.
type suiteEnv struct {
	t   *testing.T
	h   SourceHarness
	src connectors.Source
	db  *sql.DB
}

func openEnv(t *testing.T, h SourceHarness, opts SourceOptions) *suiteEnv {
	t.Helper()
	src, db := h.Open(t, opts)
	return &suiteEnv{t: t, h: h, src: src, db: db}
}

func (e *suiteEnv) exec(query string, args ...any) {
	e.t.Helper()
	if _, err := e.db.ExecContext(e.t.Context(), query, args...); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
}

// createEvents makes the suite's usual table:
// events(id, ts, name, grp) with an index on (ts, id).
func (e *suiteEnv) createEvents(table string) {
	e.t.Helper()
	e.exec(fmt.Sprintf("CREATE TABLE %s (id %s NOT NULL PRIMARY KEY, ts %s NULL, name %s NULL, grp %s NULL)",
		table, e.h.IntType, e.h.TimestampType, e.h.TextType, e.h.IntType))
	e.exec(fmt.Sprintf("CREATE INDEX %s_ts_id ON %s (ts, id)", table, table))
}

// insertEvent adds one row; ts "" means NULL.
func (e *suiteEnv) insertEvent(table string, id int64, ts, name string, grp int64) {
	e.t.Helper()
	var tsArg any
	if ts != "" {
		tsArg = ts
	}
	e.exec(fmt.Sprintf("INSERT INTO %s (id, ts, name, grp) VALUES (%s, %s, %s, %s)", table,
		e.h.Placeholder(1), e.h.Placeholder(2), e.h.Placeholder(3), e.h.Placeholder(4)),
		id, tsArg, name, grp)
}

func (e *suiteEnv) now() time.Time {
	e.t.Helper()
	now, err := e.h.Now(e.t.Context(), e.src)
	if err != nil {
		e.t.Fatalf("database clock: %v", err)
	}
	return now
}

func (e *suiteEnv) read(st connectors.Stream, after connectors.Position, limit int) *connectors.Batch {
	e.t.Helper()
	b, err := e.src.Read(e.t.Context(), st, after, limit)
	if err != nil {
		e.t.Fatalf("read %s: %v", st.Name, err)
	}
	checkBatch(e.t, b, after)
	return b
}

// readAll reads pages of limit rows until an empty batch, and returns the
// rows and the final position.
func (e *suiteEnv) readAll(st connectors.Stream, after connectors.Position, limit int) ([]suiteRow, connectors.Position) {
	e.t.Helper()
	var out []suiteRow
	for range 10000 {
		b := e.read(st, after, limit)
		if b.Len() == 0 {
			return out, after
		}
		if b.Len() > limit {
			e.t.Fatalf("page of %d rows for limit %d", b.Len(), limit)
		}
		out = append(out, rowsOf(e.t, b)...)
		after = b.Next
	}
	e.t.Fatal("readAll: no end after 10000 pages")
	return nil, ""
}

// checkBatch checks the Batch invariants every Read must keep.
func checkBatch(t *testing.T, b *connectors.Batch, after connectors.Position) {
	t.Helper()
	if b == nil {
		t.Fatal("nil batch with nil error")
	}
	if len(b.Positions) != len(b.Rows) {
		t.Fatalf("%d positions for %d rows", len(b.Positions), len(b.Rows))
	}
	if len(b.Rows) == 0 {
		if b.Next != after {
			t.Fatal("empty batch moved the position")
		}
		return
	}
	if b.Next != b.Positions[len(b.Positions)-1] {
		t.Fatal("Next is not the last row's position")
	}
	for i, r := range b.Rows {
		if len(r) != len(b.Columns) {
			t.Fatalf("row %d has %d values for %d columns", i, len(r), len(b.Columns))
		}
		if b.Positions[i] == "" || (i > 0 && b.Positions[i] == b.Positions[i-1]) {
			t.Fatalf("row %d: empty or repeated position", i)
		}
	}
}

// suiteRow is the part of a row the cases compare.
type suiteRow struct {
	id  int64
	ts  string
	pos connectors.Position
	all map[string]any
}

func rowsOf(t *testing.T, b *connectors.Batch) []suiteRow {
	t.Helper()
	out := make([]suiteRow, len(b.Rows))
	for i, r := range b.Rows {
		m := make(map[string]any, len(r))
		for j, c := range b.Columns {
			m[strings.ToLower(c)] = r[j]
		}
		out[i] = suiteRow{all: m, pos: b.Positions[i]}
		if v, ok := m["id"]; ok {
			out[i].id = asInt(t, v)
		}
		if v, ok := m["ts"]; ok && v != nil {
			out[i].ts = asTimestamp(t, v)
		}
	}
	return out
}

func ids(rows []suiteRow) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.id
	}
	return out
}

func asInt(t *testing.T, v any) int64 {
	t.Helper()
	switch v := v.(type) {
	case int64:
		return v
	case int32:
		return int64(v)
	case []byte, string:
		n, err := strconv.ParseInt(asString(v), 10, 64)
		if err != nil {
			t.Fatalf("integer column holds %q", v)
		}
		return n
	}
	t.Fatalf("integer column holds %T", v)
	return 0
}

func asString(v any) string {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case string:
		return v
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// asTimestamp renders a timestamp value, text or time.Time, in tsLayout.
func asTimestamp(t *testing.T, v any) string {
	t.Helper()
	if tm, ok := v.(time.Time); ok {
		return tm.Format(tsLayout)
	}
	s := asString(v)
	if len(s) < len(tsLayout) {
		t.Fatalf("timestamp column holds %q", s)
	}
	return s[:len(tsLayout)]
}

func wantIDs(t *testing.T, what string, got []suiteRow, want ...int64) {
	t.Helper()
	if g := ids(got); !slices.Equal(g, want) {
		t.Fatalf("%s: got ids %v, want %v", what, g, want)
	}
}

func eventsStream(table string) connectors.Stream {
	return connectors.Stream{
		Name:            "suite-" + table,
		Table:           table,
		Mode:            "incremental",
		TimestampColumn: "ts",
		KeyColumns:      []string{"id"},
	}
}

// base is a fixed past time for rows the settle delay does not concern.
var base = time.Date(2019, 3, 1, 10, 0, 0, 0, time.UTC)

func at(sec int) string { return base.Add(time.Duration(sec) * time.Second).Format(tsLayout) }

func suiteResume(t *testing.T, h SourceHarness) {
	e := openEnv(t, h, SourceOptions{})
	e.createEvents("events")
	// Inserted out of order: the cursor, not the insert order, decides.
	for _, id := range []int64{5, 3, 9, 1, 7, 2, 10, 4, 8, 6} {
		e.insertEvent("events", id, at(int(id)*60), "n"+strconv.FormatInt(id, 10), 1)
	}
	st := eventsStream("events")

	b := e.read(st, "", 4)
	first := rowsOf(t, b)
	wantIDs(t, "first page", first, 1, 2, 3, 4)
	if first[0].ts != at(60) {
		t.Errorf("ts of id 1: got %q, want %q", first[0].ts, at(60))
	}

	rest, _ := e.readAll(st, b.Next, 100)
	wantIDs(t, "after the first page", rest, 5, 6, 7, 8, 9, 10)

	// Any row's position resumes just after that row.
	mid, _ := e.readAll(st, b.Positions[1], 100)
	wantIDs(t, "after row 2", mid, 3, 4, 5, 6, 7, 8, 9, 10)

	// Reads keep no state: the same position gives the same rows again.
	again, _ := e.readAll(st, b.Next, 3)
	wantIDs(t, "read again", again, 5, 6, 7, 8, 9, 10)
}

func suiteEqualTimestamps(t *testing.T, h SourceHarness) {
	e := openEnv(t, h, SourceOptions{})
	e.createEvents("events")
	e.insertEvent("events", 100, at(0), "before", 1)
	for id := int64(1); id <= 7; id++ { // seven rows, one timestamp
		e.insertEvent("events", id*10, at(60), "same", 1)
	}
	e.insertEvent("events", 1, at(120), "after", 1)
	got, _ := e.readAll(eventsStream("events"), "", 3)
	wantIDs(t, "pages of 3", got, 100, 10, 20, 30, 40, 50, 60, 70, 1)
}

func suiteLateCommit(t *testing.T, h SourceHarness) {
	const delay = 3 * time.Second
	t.Run("with settle delay", func(t *testing.T) {
		e := openEnv(t, h, SourceOptions{SettleDelay: delay})
		e.createEvents("events")
		now := e.now().Truncate(time.Second)
		e.insertEvent("events", 1, now.Add(-time.Minute).Format(tsLayout), "old", 1)
		e.insertEvent("events", 2, now.Format(tsLayout), "new", 1)
		st := eventsStream("events")

		first := e.read(st, "", 100)
		wantIDs(t, "first read", rowsOf(t, first), 1)

		// A transaction that began before row 2 commits now, with a
		// timestamp before row 2's.
		e.insertEvent("events", 3, now.Add(-time.Second).Format(tsLayout), "late", 1)

		deadline := time.Now().Add(10 * time.Second)
		for e.now().Before(now.Add(delay)) {
			if time.Now().After(deadline) {
				t.Fatal("database clock did not advance")
			}
			time.Sleep(100 * time.Millisecond)
		}
		second, _ := e.readAll(st, first.Next, 100)
		wantIDs(t, "after the delay", second, 3, 2)
	})
	t.Run("without settle delay the late row is lost", func(t *testing.T) {
		// This shows what the delay is for; it is not behaviour to keep.
		e := openEnv(t, h, SourceOptions{SettleDelay: -1})
		e.createEvents("events")
		now := e.now().Truncate(time.Second).Add(-time.Second)
		e.insertEvent("events", 1, now.Add(-time.Minute).Format(tsLayout), "old", 1)
		e.insertEvent("events", 2, now.Format(tsLayout), "new", 1)
		st := eventsStream("events")
		first, next := e.readAll(st, "", 100)
		wantIDs(t, "first read", first, 1, 2)
		e.insertEvent("events", 3, now.Add(-time.Second).Format(tsLayout), "late", 1)
		second, _ := e.readAll(st, next, 100)
		wantIDs(t, "second read", second)
	})
}

func suiteEmptyBatch(t *testing.T, h SourceHarness) {
	e := openEnv(t, h, SourceOptions{})
	e.createEvents("events")
	st := eventsStream("events")
	if b := e.read(st, "", 10); b.Len() != 0 || b.Next != "" {
		t.Fatalf("empty table: %d rows, next %q", b.Len(), b.Next)
	}
	e.insertEvent("events", 1, at(0), "a", 1)
	e.insertEvent("events", 2, at(1), "b", 1)
	got, next := e.readAll(st, "", 10)
	wantIDs(t, "all", got, 1, 2)
	for range 2 {
		if b := e.read(st, next, 10); b.Len() != 0 {
			t.Fatalf("caught up: got %d rows", b.Len())
		}
	}
	e.insertEvent("events", 3, at(2), "c", 1)
	more, _ := e.readAll(st, next, 10)
	wantIDs(t, "new row", more, 3)
}

func slowStream(h SourceHarness) connectors.Stream {
	return connectors.Stream{Name: "suite-slow", Query: h.SlowQuery, TimestampColumn: "ts", KeyColumns: []string{"id"}}
}

func suiteCancel(t *testing.T, h SourceHarness) {
	e := openEnv(t, h, SourceOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	timer := time.AfterFunc(300*time.Millisecond, cancel)
	defer timer.Stop()
	start := time.Now()
	_, err := e.src.Read(ctx, slowStream(h), "", 10)
	took := time.Since(start)
	if err == nil {
		t.Fatal("cancelled read returned no error")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	if errors.Is(err, connectors.ErrUnavailable) {
		t.Errorf("a cancelled read is not an outage: %v", err)
	}
	if took > 5*time.Second {
		t.Errorf("cancelled read returned after %v", took)
	}
	// The source still works afterwards.
	e.createEvents("events")
	e.insertEvent("events", 1, at(0), "a", 1)
	got, _ := e.readAll(eventsStream("events"), "", 10)
	wantIDs(t, "after cancel", got, 1)
}

func suiteQueryTimeout(t *testing.T, h SourceHarness) {
	e := openEnv(t, h, SourceOptions{QueryTimeout: 500 * time.Millisecond})
	start := time.Now()
	_, err := e.src.Read(t.Context(), slowStream(h), "", 10)
	if !errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("query past its timeout: got %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("timed-out read returned after %v", took)
	}
}

func suiteOutage(t *testing.T, h SourceHarness) {
	if h.Outage == nil {
		t.Skip("the harness has no outage for this driver")
	}
	src := h.Outage(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err := src.Read(ctx, eventsStream("events"), "", 10)
	if !errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the outage was only noticed at the test's deadline")
	}
}

func suiteTwoKeys(t *testing.T, h SourceHarness) {
	e := openEnv(t, h, SourceOptions{})
	e.exec(fmt.Sprintf("CREATE TABLE doc_lines (doc %s NOT NULL, line %s NOT NULL, ts %s NOT NULL, PRIMARY KEY (doc, line))",
		h.TextType, h.IntType, h.TimestampType))
	e.exec("CREATE INDEX doc_lines_ts ON doc_lines (ts, doc, line)")
	type key struct {
		ts, doc string
		line    int64
	}
	// Documents of later timestamps sort first, so only the timestamp
	// can put them in order.
	var want []key
	for i, sec := range []int{0, 60, 120} {
		for _, doc := range []string{"JS00" + strconv.Itoa(6-2*i), "JS00" + strconv.Itoa(7-2*i)} {
			for line := int64(1); line <= 3; line++ {
				want = append(want, key{at(sec), doc, line})
			}
		}
	}
	// Insert in reverse so that no physical order helps.
	for i := len(want) - 1; i >= 0; i-- {
		k := want[i]
		e.exec(fmt.Sprintf("INSERT INTO doc_lines (doc, line, ts) VALUES (%s, %s, %s)", h.Placeholder(1), h.Placeholder(2), h.Placeholder(3)), k.doc, k.line, k.ts)
	}
	st := connectors.Stream{Name: "suite-lines", Table: "doc_lines", TimestampColumn: "ts", KeyColumns: []string{"doc", "line"}}
	for _, limit := range []int{1, 4, 5, 100} {
		got, _ := e.readAll(st, "", limit)
		var keys []key
		for _, r := range got {
			keys = append(keys, key{r.ts, asString(r.all["doc"]), asInt(t, r.all["line"])})
		}
		if !slices.Equal(keys, want) {
			t.Fatalf("limit %d: got %v, want %v", limit, keys, want)
		}
	}
}

func suiteSnapshot(t *testing.T, h SourceHarness) {
	e := openEnv(t, h, SourceOptions{SettleDelay: time.Hour})
	e.createEvents("events")
	future := e.now().Add(time.Hour).Format(tsLayout)
	for id := int64(1); id <= 10; id++ {
		ts := at(int(100 - id)) // timestamps descend as ids ascend
		switch id {
		case 4:
			ts = "" // NULL
		case 7:
			ts = future // inside the settle delay
		}
		e.insertEvent("events", id, ts, "n", 1)
	}
	st := connectors.Stream{Name: "suite-snap", Table: "events", Mode: "snapshot", KeyColumns: []string{"id"}}
	got, next := e.readAll(st, "", 3)
	wantIDs(t, "snapshot", got, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	e.insertEvent("events", 11, at(0), "n", 1)
	more, _ := e.readAll(st, next, 3)
	wantIDs(t, "snapshot continued", more, 11)
	again, _ := e.readAll(st, "", 4)
	wantIDs(t, "second snapshot", again, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
}

func suiteNullTimestamps(t *testing.T, h SourceHarness) {
	e := openEnv(t, h, SourceOptions{})
	e.createEvents("events")
	e.insertEvent("events", 1, at(0), "a", 1)
	e.insertEvent("events", 2, "", "null", 1)
	e.insertEvent("events", 3, "", "null", 1)
	e.insertEvent("events", 4, at(1), "b", 1)
	st := eventsStream("events")
	got, _ := e.readAll(st, "", 10)
	wantIDs(t, "incremental", got, 1, 4)
	if h.NullTimestamps != nil {
		if n := h.NullTimestamps(e.src, st.Name); n != 2 {
			t.Errorf("null-timestamp count: got %d, want 2", n)
		}
	}
	// The documented way to read them: a snapshot mapping over them.
	snap := connectors.Stream{Name: "suite-null", Table: "events", Mode: "snapshot", KeyColumns: []string{"id"}, Where: "ts IS NULL"}
	nulls, _ := e.readAll(snap, "", 10)
	wantIDs(t, "snapshot of null timestamps", nulls, 2, 3)
}

func suiteBytes(t *testing.T, h SourceHarness) {
	e := openEnv(t, h, SourceOptions{})
	lit := h.BytesLiteral
	if lit == nil {
		lit = func(b []byte) string { return "X'" + hex.EncodeToString(b) + "'" }
	}
	e.exec(fmt.Sprintf("CREATE TABLE people (id %s NOT NULL PRIMARY KEY, ts %s NOT NULL, raw %s NULL, name %s NULL)",
		h.IntType, h.TimestampType, h.BytesType, h.TextType))
	values := [][]byte{
		{0xd5, 0xc5, 0xc8, 0xfd},             // 张三 in GBK
		{0xc0, 0xee, 0xcb, 0xc4, 0x00, 0xff}, // 李四 in GBK, then NUL and 0xff
		{0x80, 0x81, 0x8d, 0x8f, 0x90, 0x9d}, // the holes of cp1252
		{},
	}
	for i, v := range values {
		e.exec(fmt.Sprintf("INSERT INTO people (id, ts, raw, name) VALUES (%d, '%s', %s, %s)",
			i+1, at(i), lit(v), h.Placeholder(1)), "王五·Ⅱ")
	}
	got, _ := e.readAll(connectors.Stream{Name: "suite-bytes", Table: "people", TimestampColumn: "ts", KeyColumns: []string{"id"}}, "", 2)
	wantIDs(t, "rows", got, 1, 2, 3, 4)
	for i, r := range got {
		if len(values[i]) == 0 && h.EmptyBytesAreNull && r.all["raw"] == nil {
			continue
		}
		raw, ok := r.all["raw"].([]byte)
		if !ok {
			t.Fatalf("row %d: raw is %T, want []byte", i+1, r.all["raw"])
		}
		if string(raw) != string(values[i]) {
			t.Errorf("row %d: raw % x, want % x", i+1, raw, values[i])
		}
		if name := asString(r.all["name"]); name != "王五·Ⅱ" {
			t.Errorf("row %d: name %q", i+1, name)
		}
	}
	// Values are copies: changing one changes nothing else.
	b := e.read(connectors.Stream{Name: "suite-bytes", Table: "people", TimestampColumn: "ts", KeyColumns: []string{"id"}}, "", 10)
	for _, r := range b.Rows {
		for _, v := range r {
			if bs, ok := v.([]byte); ok {
				for i := range bs {
					bs[i] = 'x'
				}
				if cap(bs) != len(bs) {
					t.Errorf("a []byte value has spare capacity %d > %d: an append would overwrite its neighbour", cap(bs), len(bs))
				}
			}
		}
	}
	again := e.read(connectors.Stream{Name: "suite-bytes", Table: "people", TimestampColumn: "ts", KeyColumns: []string{"id"}}, "", 10)
	if raw := again.Rows[0][slices.IndexFunc(again.Columns, func(c string) bool { return strings.EqualFold(c, "raw") })]; string(raw.([]byte)) != string(values[0]) {
		t.Error("a changed value reached the next batch")
	}
}

func suiteFilters(t *testing.T, h SourceHarness) {
	e := openEnv(t, h, SourceOptions{})
	e.createEvents("events")
	for id := int64(1); id <= 8; id++ {
		e.insertEvent("events", id, at(int(id)), "n"+strconv.FormatInt(id, 10), id%2)
	}
	t.Run("columns", func(t *testing.T) {
		st := eventsStream("events")
		st.Columns = []string{"name", "id"}
		b := e.read(st, "", 3)
		if len(b.Columns) != 2 || !strings.EqualFold(b.Columns[0], "name") || !strings.EqualFold(b.Columns[1], "id") {
			t.Fatalf("columns %v, want [name id]", b.Columns)
		}
		got, _ := e.readAll(st, b.Next, 3)
		wantIDs(t, "rest", got, 4, 5, 6, 7, 8)
	})
	t.Run("where", func(t *testing.T) {
		st := eventsStream("events")
		st.Where = "grp = 0 AND name <> 'n4'"
		got, _ := e.readAll(st, "", 2)
		wantIDs(t, "even ids but 4", got, 2, 6, 8)
	})
	t.Run("custom query", func(t *testing.T) {
		st := connectors.Stream{Name: "suite-query", Query: "SELECT id, ts, name FROM events WHERE grp = 1;", TimestampColumn: "ts", KeyColumns: []string{"id"}}
		got, _ := e.readAll(st, "", 3)
		wantIDs(t, "odd ids", got, 1, 3, 5, 7)
		if len(got[0].all) != 3 {
			t.Errorf("custom query columns %v, want id, ts, name", got[0].all)
		}
	})
	t.Run("custom query and where", func(t *testing.T) {
		st := connectors.Stream{Name: "suite-query", Query: "SELECT id, ts, name FROM events WHERE grp = 1", Where: "id > 3", TimestampColumn: "ts", KeyColumns: []string{"id"}}
		got, _ := e.readAll(st, "", 3)
		wantIDs(t, "odd ids above 3", got, 5, 7)
	})
}

func suiteMistakes(t *testing.T, h SourceHarness) {
	e := openEnv(t, h, SourceOptions{})
	e.createEvents("events")
	e.insertEvent("events", 1, at(0), "a", 1)
	for _, tc := range []struct {
		name  string
		st    connectors.Stream
		after connectors.Position
	}{
		{name: "unknown column", st: connectors.Stream{Name: "m", Table: "events", TimestampColumn: "ts", KeyColumns: []string{"nope"}}},
		{name: "unknown table", st: eventsStream("nope")},
		{name: "no key columns", st: connectors.Stream{Name: "m", Table: "events", TimestampColumn: "ts"}},
		{name: "no timestamp column", st: connectors.Stream{Name: "m", Table: "events", KeyColumns: []string{"id"}}},
		{name: "unknown mode", st: connectors.Stream{Name: "m", Table: "events", Mode: "cdc", TimestampColumn: "ts", KeyColumns: []string{"id"}}},
		{name: "malformed position", st: eventsStream("events"), after: "370282199001011234"},
		{name: "position of another cursor", st: eventsStream("events"), after: `k1:["2019-03-01 10:00:00"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.src.Read(t.Context(), tc.st, tc.after, 10)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, connectors.ErrUnavailable) {
				t.Fatalf("a mistake reported as an outage: %v", err)
			}
			if tc.after != "" && strings.Contains(err.Error(), string(tc.after)) {
				t.Errorf("error quotes the position: %v", err)
			}
		})
	}
}

func suiteClosed(t *testing.T, h SourceHarness) {
	e := openEnv(t, h, SourceOptions{})
	if err := e.src.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.src.Read(t.Context(), eventsStream("events"), "", 10); !errors.Is(err, connectors.ErrClosed) {
		t.Fatalf("read after close: got %v, want ErrClosed", err)
	}
}
