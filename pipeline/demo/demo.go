// Package demo builds the synthetic county that `hpgate demo` runs on: one
// SQLite database per source instance of a county pack, with tables shaped
// as the pack's mapping files read them and rows grown from the pack's own
// fixtures, plus the config file that wires them to a Kafka broker.
//
// Rows are made from each mapping's fixtures that map cleanly (templates):
// the generator gives every row its own key, a fresh valid ID number from a
// synthetic population, and a cursor timestamp in the template's own
// layout. A few of the fixtures that are meant to be rejected are copied
// too, so the demo shows the dead-letter queue at work. Update adds rows
// later in time, as a live system would, to show incremental pulls.
package demo

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/normalize"
)

// County is a built synthetic county.
type County struct {
	Dir        string
	ConfigPath string
	Mappings   []*mappings.Mapping
	// Rows counts the rows written per mapping table (source/table).
	Rows map[string]int

	dbs    map[string]*sql.DB // by source instance
	tables []*table
	// The detail and dictionary tables of multi-table mappings
	// (multitable.go), by upper-case source/table.
	sides     map[string]*sideTable
	sideOrder []*sideTable
	dicts     map[string]*dictionary
	seq       int
	people    []string
	round     int

	registry *registryServer // the registry API simulator, if the pack maps it
	cases    int             // rows of the pack's demo cases (scenarios.go)
}

type table struct {
	source, name string
	columns      []string // of the rows grown: for a multi-table mapping, the SELECT's
	stored       []string // the table's own columns (columns but the SELECT's outputs)
	colIdx       map[string]int
	maps         []*mappings.Mapping
	templates    []template
	bad          []template
	last, next   time.Time // latest cursor time before this round, and so far
}

type template struct {
	m   *mappings.Mapping
	row map[string]any
}

// Options size the county.
type Options struct {
	// People is the size of the synthetic population. The default is 200.
	People int
	// RowsPerTable is the number of rows per table in the first load. The
	// default is 400.
	RowsPerTable int
	// Brokers is the Kafka bootstrap list written into the config.
	Brokers []string
	// HTTPListen is the config's http.listen ("" disables it).
	HTTPListen string
	// Cases adds the pack's demo cases (demo.yaml, see scenarios.go): rows
	// that show every discrepancy kind and policy rule.
	Cases bool
}

// Build creates the county in dir from the mapping pack at packDir.
func Build(dir, packDir string, opts Options) (*County, error) {
	if opts.People <= 0 {
		opts.People = 200
	}
	if opts.RowsPerTable <= 0 {
		opts.RowsPerTable = 400
	}
	ms, err := mappings.Load(mappings.Options{}, packDir)
	if err != nil {
		return nil, err
	}
	c := &County{Dir: dir, Mappings: ms, Rows: map[string]int{}, dbs: map[string]*sql.DB{},
		sides: map[string]*sideTable{}, dicts: map[string]*dictionary{}, people: population(opts.People, packCounty(ms))}
	if err := c.plan(); err != nil {
		return nil, err
	}
	for _, t := range c.tables {
		if err := c.create(t); err != nil {
			c.Close()
			return nil, err
		}
	}
	for _, s := range c.sideOrder {
		if err := c.createSide(s); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.fill(opts.RowsPerTable, true); err != nil {
		c.Close()
		return nil, err
	}
	if opts.Cases {
		if err := c.addScenarios(packDir); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.startRegistry(opts.People); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.writeConfig(packDir, opts); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// plan groups the mappings by table and collects their templates.
func (c *County) plan() error {
	byName := map[string]*table{}
	for _, m := range c.Mappings {
		name := tableOf(m)
		if name == "" || fileDrop(m) || registryAPI(m) {
			continue // custom queries need hand-made tables; file drops a directory
		}
		key := m.Source + "/" + name
		t := byName[key]
		if t == nil {
			t = &table{source: m.Source, name: name}
			byName[key] = t
			c.tables = append(c.tables, t)
		}
		t.maps = append(t.maps, m)
		t.columns = append(t.columns, m.Columns()...)
		for _, fx := range m.Fixtures {
			row := map[string]any{}
			for i, col := range fx.Columns {
				row[col] = fx.Row[i]
				t.columns = append(t.columns, col)
			}
			tp := template{m: m, row: row}
			switch {
			case fx.Reject != nil:
				t.bad = append(t.bad, tp)
			case fx.Filtered || fx.Op == "delete":
			default:
				t.templates = append(t.templates, tp)
			}
		}
	}
	for _, t := range c.tables {
		slices.Sort(t.columns)
		t.columns = slices.Compact(t.columns)
		if len(t.templates) == 0 {
			return fmt.Errorf("demo: table %s of %s: no fixture maps cleanly, nothing to grow rows from", t.name, t.source)
		}
	}
	for _, t := range c.tables {
		if err := c.planSide(t); err != nil {
			return err
		}
	}
	return nil
}

func (c *County) db(source string) (*sql.DB, error) {
	if db := c.dbs[source]; db != nil {
		return db, nil
	}
	db, err := sql.Open("sqlite", c.dsn(source))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	c.dbs[source] = db
	return db, nil
}

func (c *County) dsn(source string) string {
	return "file:" + filepath.Join(c.Dir, source+".db") + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)"
}

func (c *County) create(t *table) error {
	db, err := c.db(t.source)
	if err != nil {
		return err
	}
	ddl := fmt.Sprintf(`CREATE TABLE "%s" (%s)`, t.name, quoted(t.stored))
	if _, err := db.Exec(ddl); err != nil {
		return fmt.Errorf("demo: %s: %w", ddl, err)
	}
	m := t.maps[0]
	idx := append([]string{m.Stream.TimestampColumn}, m.Stream.KeyColumns...)
	if idx[0] == "" {
		idx = idx[1:]
	}
	for i := range idx {
		idx[i] = `"` + idx[i] + `"`
	}
	_, err = db.Exec(fmt.Sprintf(`CREATE INDEX "%s_cursor" ON "%s" (%s)`, t.name, t.name, strings.Join(idx, ", ")))
	return err
}

// base is the first cursor time of the synthetic county.
var base = time.Date(2019, 3, 1, 8, 0, 0, 0, normalize.CST())

// fill writes n rows per table; with bad, also the rejected fixtures.
func (c *County) fill(n int, bad bool) error {
	c.round++
	for _, t := range c.tables {
		db, err := c.db(t.source)
		if err != nil {
			return err
		}
		// One transaction per table: a poll never sees a header row
		// without its detail and dictionary rows.
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		for i := range n {
			tp := t.templates[i%len(t.templates)]
			if err := c.writeRow(tx, t, tp.m, c.row(t, tp, i)); err != nil {
				_ = tx.Rollback()
				return err
			}
		}
		if bad {
			for i, tp := range t.bad {
				if err := c.writeRow(tx, t, tp.m, c.row(t, tp, n+i)); err != nil {
					_ = tx.Rollback()
					return err
				}
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		t.last = t.next
	}
	return nil
}

// row grows one row from a template: unique keys, the i-th person, and a
// cursor time after every earlier row, in the template's layout.
func (c *County) row(t *table, tp template, i int) []any {
	m := tp.m
	vals := make([]any, len(t.columns))
	// The first load keeps each template's own era (its codes are valid
	// then); later rounds come after everything before, as new rows do.
	at := base
	if ts, ok := tp.row[m.Stream.TimestampColumn]; ok && c.round == 1 {
		if t0, err := normalize.Date(ts, m.Zone()); err == nil {
			at = t0
		}
	}
	if c.round > 1 {
		at = t.last
	}
	at = at.Add(time.Duration(i+1) * 17 * time.Minute)
	if at.After(t.next) {
		t.next = at
	}
	for j, col := range t.columns {
		v := tp.row[col]
		switch {
		case t.isTimestamp(col):
			v = formatLike(v, at)
		case t.isKey(col):
			// Every mapping of a shared table (a roster read as persons
			// and as households) needs its own keys filled.
			v = fmt.Sprintf("%v-%d-%d", text(v), c.round, i)
		case v == nil && t.isAnyKey(col):
			v = fmt.Sprintf("K%d-%d", c.round, i) // cursor keys are NOT NULL
		case m.IsPII(col) && looksLikeID(text(v)):
			if _, err := normalize.IDCard(text(v)); err == nil { // keep bad IDs bad
				v = c.people[i%len(c.people)]
			}
		}
		if tm, ok := v.(time.Time); ok {
			v = tm.Format(time.DateTime)
		}
		vals[j] = v
	}
	return vals
}

func (t *table) isTimestamp(col string) bool {
	for _, m := range t.maps {
		if m.Stream.TimestampColumn == col {
			return true
		}
	}
	return false
}

// isKey reports whether col is the first key column of a mapping of the
// table: varying it makes rows unique, and the other key columns (a year
// in (person, year)) keep their meaningful template values.
func (t *table) isKey(col string) bool {
	for _, m := range t.maps {
		if len(m.Stream.KeyColumns) > 0 && m.Stream.KeyColumns[0] == col {
			return true
		}
	}
	return false
}

func (t *table) isAnyKey(col string) bool {
	for _, m := range t.maps {
		if slices.Contains(m.Stream.KeyColumns, col) {
			return true
		}
	}
	return false
}

func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

func looksLikeID(s string) bool { return len(s) >= 15 && len(s) <= 20 }

// formatLike renders at in the layout of the template value v.
func formatLike(v any, at time.Time) any {
	switch x := v.(type) {
	case time.Time:
		return at.Format(time.DateTime)
	case string:
		switch {
		case len(x) == 14:
			return at.Format("20060102150405")
		case len(x) == 8:
			return at.Format("20060102")
		case len(x) == 10:
			return at.Format(time.DateOnly)
		}
	}
	return at.Format(time.DateTime)
}

// packCounty returns the county code of the pack's mappings (370282 for
// an empty pack).
func packCounty(ms []*mappings.Mapping) string {
	for _, m := range ms {
		if len(m.County) == 6 {
			return m.County
		}
	}
	return "370282"
}

// population makes n valid, fictitious ID numbers of the county.
func population(n int, county string) []string {
	out := make([]string, n)
	for i := range n {
		birth := time.Date(1935+i%70, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC)
		first17 := fmt.Sprintf("%s%s%03d", county, birth.Format("20060102"), 100+i%900)
		out[i] = first17 + string(normalize.CheckDigit(first17))
	}
	return out
}

// Update adds n more rows per table, later than every row before, as a
// live source would between two polls, and makes n changes in the
// registry simulator.
func (c *County) Update(n int) error {
	c.mutateRegistry(n)
	return c.fill(n, false)
}

// Total is the number of rows written so far.
func (c *County) Total() int {
	t := 0
	for _, n := range c.Rows {
		t += n
	}
	return t
}

// TableRows returns the rows written to the table a mapping reads.
func (c *County) TableRows(m *mappings.Mapping) int {
	if n, ok := c.registryRows(m); ok {
		return n
	}
	return c.Rows[m.Source+"/"+tableOf(m)]
}

// writeConfig writes the DSN files, a random pseudonymisation key and
// the config file.
func (c *County) writeConfig(packDir string, opts Options) error {
	var b strings.Builder
	b.WriteString("# hpgate demo: a synthetic county on SQLite, written by `hpgate demo`.\nsources:\n")
	var sources []string
	for s := range c.dbs {
		sources = append(sources, s)
	}
	slices.Sort(sources)
	for _, s := range sources {
		dsnFile := filepath.Join(c.Dir, s+".dsn")
		if err := os.WriteFile(dsnFile, []byte(c.dsn(s)), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(&b, "  %s:\n    driver: sqlite\n    dsn_file: %q\n    poll_interval: 200ms\n    batch_size: 500\n    settle_delay: 0s\n", s, dsnFile)
	}
	// File-drop mappings (a roster export read from a directory) get an
	// empty drop directory: they run, idle, beside the SQL sources.
	var drops []string
	for _, m := range c.Mappings {
		if fileDrop(m) && !slices.Contains(drops, m.Source) && !slices.Contains(sources, m.Source) {
			drops = append(drops, m.Source)
		}
	}
	slices.Sort(drops)
	for _, s := range drops {
		dir := filepath.Join(c.Dir, "drop", s)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		fmt.Fprintf(&b, "  %s:\n    driver: filedrop\n    dir: %q\n    poll_interval: 200ms\n", s, dir)
	}
	if err := c.writeRegistry(&b); err != nil {
		return err
	}
	keyFile := filepath.Join(c.Dir, "pii.key")
	if err := os.WriteFile(keyFile, []byte(randomHex(32)), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(&b, "kafka:\n  brokers: [%s]\n  topic_prefix: \"hp.\"\n  create_topics: {enabled: true, partitions: 3, replication_factor: 1}\n", quoteList(opts.Brokers))
	fmt.Fprintf(&b, "state:\n  dir: %q\npii:\n  key_id: demo\n  key_file: %q\n", filepath.Join(c.Dir, "state"), keyFile)
	fmt.Fprintf(&b, "http:\n  listen: %q\nmappings:\n  paths: [%q]\n", opts.HTTPListen, packDir)
	c.ConfigPath = filepath.Join(c.Dir, "hpgate.yaml")
	return os.WriteFile(c.ConfigPath, []byte(b.String()), 0o600)
}

// fileDrop reports a mapping of the file-drop source, whose table is a
// file-name glob such as 花名册*.xlsx.
func fileDrop(m *mappings.Mapping) bool {
	t := strings.ToLower(m.Stream.Table)
	return strings.ContainsAny(t, "*?[") || strings.HasSuffix(t, ".csv") || strings.HasSuffix(t, ".xlsx")
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// Close closes the databases.
func (c *County) Close() {
	c.stopRegistry()
	for _, db := range c.dbs {
		_ = db.Close()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
