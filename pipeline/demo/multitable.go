package demo

import (
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hpgate/hpgate/mappings"
)

// Multi-table mappings (`detail:`, `lookups:`) read a SELECT over a header
// table, a detail table pivoted into columns and dictionary tables. Their
// fixtures, and so the rows grown from them, are in terms of the SELECT's
// output columns; writeRow takes such a row apart again: the header
// columns go into the header table, each pivot output becomes a detail row
// (its layer code and amount), each lookup output a dictionary row. All of
// it is written in the header row's transaction, so a poll never sees a
// header without its detail.

// sideTable is a detail or dictionary table of a source.
type sideTable struct {
	source, name string
	columns      []string
	index        []string // the join columns
}

// dictionary remembers the rows written to one dictionary table: one row
// per join key, and the key given to each (key, outputs) pair.
type dictionary struct {
	rows  map[string]string // join key -> outputs
	rekey map[string][]any  // join key + outputs -> join key values used
	n     int
}

// tableOf returns the table a mapping reads rows from: its table, or the
// header table of a multi-table mapping.
func tableOf(m *mappings.Mapping) string {
	if tb := m.Tables(); tb != nil {
		return tb.Header
	}
	return m.Stream.Table
}

// planSide collects the detail and dictionary tables of the multi-table
// mappings of t and the header columns of t (every column but the
// outputs of the SELECT).
func (c *County) planSide(t *table) error {
	outputs := map[string]bool{}
	for _, m := range t.maps {
		tb := m.Tables()
		if tb == nil {
			continue
		}
		if d := tb.Detail; d != nil {
			cols := append(mapValues(d.On), d.Key, d.Value)
			cols = append(cols, sortedKeys(d.Where)...)
			if err := c.side(t, d.Table, cols, mapValues(d.On)); err != nil {
				return err
			}
			for _, o := range d.Columns {
				outputs[strings.ToUpper(o)] = true
			}
			if d.Unknown {
				outputs[strings.ToUpper(mappings.UnknownColumn)] = true
			}
		}
		for _, l := range tb.Lookups {
			cols := append(mapValues(l.On), sortedKeys(l.Columns)...)
			cols = append(cols, sortedKeys(l.Where)...)
			if err := c.side(t, l.Table, cols, mapValues(l.On)); err != nil {
				return err
			}
			for _, o := range l.Columns {
				outputs[strings.ToUpper(o)] = true
			}
		}
	}
	t.colIdx = map[string]int{}
	for i, col := range t.columns {
		t.colIdx[strings.ToUpper(col)] = i
		if !outputs[strings.ToUpper(col)] {
			t.stored = append(t.stored, col)
		}
	}
	return nil
}

// side declares a detail or dictionary table of t's source with columns.
func (c *County) side(t *table, name string, cols, index []string) error {
	key := strings.ToUpper(t.source + "/" + name)
	for _, h := range c.tables {
		if strings.ToUpper(h.source+"/"+h.name) == key {
			return fmt.Errorf("demo: %s of %s is both a mapping's table and a detail or dictionary table: not supported", name, t.source)
		}
	}
	s := c.sides[key]
	if s == nil {
		s = &sideTable{source: t.source, name: name, index: index}
		c.sides[key] = s
		c.sideOrder = append(c.sideOrder, s)
	}
	for _, col := range cols {
		if !slices.ContainsFunc(s.columns, func(x string) bool { return strings.EqualFold(x, col) }) {
			s.columns = append(s.columns, col)
		}
	}
	return nil
}

func (c *County) createSide(s *sideTable) error {
	db, err := c.db(s.source)
	if err != nil {
		return err
	}
	ddl := fmt.Sprintf(`CREATE TABLE "%s" (%s)`, s.name, quoted(s.columns))
	if _, err := db.Exec(ddl); err != nil {
		return fmt.Errorf("demo: %s: %w", ddl, err)
	}
	_, err = db.Exec(fmt.Sprintf(`CREATE INDEX "%s_join" ON "%s" (%s)`, s.name, s.name, quoted(s.index)))
	return err
}

// sqlExecer is a *sql.DB or *sql.Tx.
type sqlExecer interface {
	Exec(query string, args ...any) (sql.Result, error)
}

// writeRow writes a row grown for mapping m (vals in t.columns order):
// for a multi-table mapping its detail and dictionary rows, then the
// header row.
func (c *County) writeRow(ex sqlExecer, t *table, m *mappings.Mapping, vals []any) error {
	if tb := m.Tables(); tb != nil {
		for _, l := range tb.Lookups {
			if err := c.writeLookup(ex, t, l, vals); err != nil {
				return err
			}
		}
		if tb.Detail != nil {
			if err := c.writeDetail(ex, t, tb.Detail, vals); err != nil {
				return err
			}
		}
	}
	row := make([]any, len(t.stored))
	for i, col := range t.stored {
		row[i] = vals[t.colIdx[strings.ToUpper(col)]]
	}
	if _, err := ex.Exec(insertSQL(t.name, t.stored), row...); err != nil {
		return fmt.Errorf("demo: insert into %s: %w", t.name, err)
	}
	c.Rows[t.source+"/"+t.name]++
	return nil
}

// writeDetail writes one detail row per non-empty pivot output: the
// output's (first) code as the key and its amount as the value (for a
// count, that many rows), plus a row with the fixture's undeclared code.
func (c *County) writeDetail(ex sqlExecer, t *table, d *mappings.DetailTable, vals []any) error {
	on := sortedKeys(d.On)
	keys := make([]any, len(on))
	for i, hc := range on {
		if keys[i] = t.get(vals, hc); keys[i] == nil {
			// The join needs a value: give the header one.
			c.seq++
			keys[i] = fmt.Sprintf("D%d", c.seq)
			t.set(vals, hc, keys[i])
		}
	}
	var outs []string
	for _, code := range sortedKeys(d.Columns) {
		if o := d.Columns[code]; !slices.Contains(outs, o) {
			outs = append(outs, o)
		}
	}
	type line struct{ code, value any }
	var lines []line
	for _, o := range outs {
		v := t.get(vals, o)
		if v == nil {
			continue
		}
		if b, ok := v.([]byte); ok { // a {decimal: …} fixture value
			v = string(b)
		}
		n := 1
		if d.Aggregate == "count" {
			n, _ = strconv.Atoi(text(v))
			v = 1
		}
		for range n {
			lines = append(lines, line{d.Code(o), v})
		}
	}
	if d.Unknown {
		if v := t.get(vals, mappings.UnknownColumn); v != nil {
			lines = append(lines, line{text(v), nil})
		}
	}
	for _, ln := range lines {
		cols := append(mapValuesOf(d.On, on), d.Key, d.Value)
		args := append(slices.Clone(keys), ln.code, ln.value)
		for _, w := range sortedKeys(d.Where) {
			cols = append(cols, w)
			args = append(args, strOrNil(d.Where[w]))
		}
		if _, err := ex.Exec(insertSQL(d.Table, cols), args...); err != nil {
			return fmt.Errorf("demo: insert into %s: %w", d.Table, err)
		}
		c.Rows[t.source+"/"+d.Table]++
	}
	return nil
}

// writeLookup makes sure the dictionary holds the row's lookup outputs
// under the row's join key. A key already holding other outputs (a health
// record number seen with another person's ID) gets a new key, changed in
// the header row too; a row with no outputs writes nothing, so its LEFT
// JOIN finds nothing, as its fixture meant.
func (c *County) writeLookup(ex sqlExecer, t *table, l mappings.LookupTable, vals []any) error {
	dcols := sortedKeys(l.Columns)
	outs := make([]any, len(dcols))
	empty := true
	for i, dc := range dcols {
		if outs[i] = t.get(vals, l.Columns[dc]); outs[i] != nil {
			empty = false
		}
	}
	if empty {
		return nil
	}
	on := sortedKeys(l.On)
	keys := make([]any, len(on))
	missing := false
	for i, hc := range on {
		if keys[i] = t.get(vals, hc); keys[i] == nil {
			missing = true
		}
	}
	name := strings.ToUpper(t.source + "/" + l.Table)
	dict := c.dicts[name]
	if dict == nil {
		dict = &dictionary{rows: map[string]string{}, rekey: map[string][]any{}}
		c.dicts[name] = dict
	}
	sig, k := fmt.Sprintf("%q", outs), fmt.Sprintf("%q", keys)
	if have, ok := dict.rows[k]; ok && have == sig && !missing {
		return nil // the dictionary has it
	} else if ok || missing {
		if nk, ok := dict.rekey[k+sig]; ok {
			for i, hc := range on {
				t.set(vals, hc, nk[i])
			}
			return nil
		}
		orig := k
		base := text(keys[0])
		if base == "" {
			base = "L"
		}
		for i := range keys {
			if keys[i] == nil {
				keys[i] = base
			}
		}
		for {
			dict.n++
			keys[0] = fmt.Sprintf("%s-%d", base, dict.n)
			if k = fmt.Sprintf("%q", keys); dict.rows[k] == "" {
				break
			}
		}
		dict.rekey[orig+sig] = slices.Clone(keys)
		for i, hc := range on {
			t.set(vals, hc, keys[i])
		}
	}
	dict.rows[k] = sig
	cols := append(mapValuesOf(l.On, on), dcols...)
	args := append(slices.Clone(keys), outs...)
	for _, w := range sortedKeys(l.Where) {
		cols = append(cols, w)
		args = append(args, strOrNil(l.Where[w]))
	}
	if _, err := ex.Exec(insertSQL(l.Table, cols), args...); err != nil {
		return fmt.Errorf("demo: insert into %s: %w", l.Table, err)
	}
	c.Rows[t.source+"/"+l.Table]++
	return nil
}

func (t *table) get(vals []any, col string) any {
	if i, ok := t.colIdx[strings.ToUpper(col)]; ok {
		return vals[i]
	}
	return nil
}

func (t *table) set(vals []any, col string, v any) {
	if i, ok := t.colIdx[strings.ToUpper(col)]; ok {
		vals[i] = v
	}
}

func insertSQL(table string, cols []string) string {
	return fmt.Sprintf(`INSERT INTO "%s" (%s) VALUES (%s)`, table, quoted(cols),
		strings.TrimSuffix(strings.Repeat("?,", len(cols)), ","))
}

func quoted(cols []string) string {
	q := make([]string, len(cols))
	for i, col := range cols {
		q[i] = `"` + col + `"`
	}
	return strings.Join(q, ", ")
}

func strOrNil(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// mapValues returns the values of m in key order.
func mapValues(m map[string]string) []string { return mapValuesOf(m, sortedKeys(m)) }

func mapValuesOf(m map[string]string, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}
