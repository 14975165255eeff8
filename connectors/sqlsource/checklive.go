package sqlsource

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/hpgate/hpgate/connectors"
)

// CheckLive checks st against the live database, for hpgate check --live:
// it runs the stream's first page as Read would (at most one row, read and
// discarded; quiet hours and the rate cap do not apply) and, for a stream
// reading a table, whether an index serves the cursor. A missing table or
// column, a missing privilege, a query the database refuses or a database
// that cannot be reached is an error; a cursor no index serves is a
// *Warning naming the CREATE INDEX that would serve it.
func (s *Source) CheckLive(ctx context.Context, st connectors.Stream) []error {
	if s.closed.Load() {
		return []error{connectors.ErrClosed}
	}
	p, err := newPlan(s.d, st)
	if err != nil {
		return []error{err}
	}
	qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	d, tp, err := s.prepare(qctx, p)
	if err != nil {
		return []error{s.classify(ctx, "describe the cursor columns of "+st.Name, err)}
	}
	var cutoff any
	if tp.incremental {
		now, err := s.now(qctx)
		if err != nil {
			return []error{s.classify(ctx, "read the database clock", err)}
		}
		cutoff = d.timeArg(s.cutoff(now))
	}
	if _, err := s.page(qctx, d, tp, tp.page(d, nil, cutoff, 1), 1); err != nil {
		s.forgetTypes(p)
		return []error{s.classify(ctx, "read the first page of "+st.Name, err)}
	}
	if w := s.checkIndex(qctx, d, p); w != nil {
		return []error{w}
	}
	return nil
}

// checkIndex returns a *Warning when no index of the stream's table leads
// with its cursor columns (timestamp then keys, or keys in snapshot mode).
func (s *Source) checkIndex(ctx context.Context, d dialect, p *plan) error {
	st := p.st
	cols := strings.Join(p.cursor, ", ")
	switch {
	case st.Table == "":
		return warnf("index not checked: %s reads a custom query; make sure its base table has an index on the columns behind (%s)", st.Name, cols)
	case st.TimestampFallback != "":
		return warnf("the cursor of %s is COALESCE(%s, %s), which no index serves: every page scans %s; map the rows without %s in snapshot mode instead where the table is large",
			st.Name, st.TimestampColumn, st.TimestampFallback, st.Table, st.TimestampColumn)
	}
	q := d.indexQuery(st.Table)
	s.stats.update(func(c *Stats) { c.Queries++ })
	rows, err := s.db.QueryContext(ctx, q.text, q.args...)
	if err != nil {
		return warnf("cannot read the indexes of %s to check the cursor (%s): %v", st.Table, cols, err)
	}
	defer rows.Close()
	var order []string
	indexes := map[string][]string{}
	for rows.Next() {
		var name, col sql.NullString
		if err := rows.Scan(&name, &col); err != nil {
			return warnf("cannot read the indexes of %s: %v", st.Table, err)
		}
		if _, ok := indexes[name.String]; !ok {
			order = append(order, name.String)
		}
		indexes[name.String] = append(indexes[name.String], col.String)
	}
	if err := rows.Err(); err != nil {
		return warnf("cannot read the indexes of %s: %v", st.Table, err)
	}
	best, bestN := "", 0
	for _, name := range order {
		n := leadingMatch(indexes[name], p.cursor)
		if n == len(p.cursor) {
			return nil
		}
		if n > bestN {
			best, bestN = name, n
		}
	}
	quoted := make([]string, len(p.cursor))
	for i, c := range p.cursor {
		quoted[i] = d.quoteIdent(c)
	}
	create := fmt.Sprintf("CREATE INDEX %s ON %s (%s)", suggestedIndexName(st.Table), quoteName(d, st.Table), strings.Join(quoted, ", "))
	if bestN > 0 {
		return warnf("index %s of %s serves only (%s) of the cursor (%s): pages get slower as the table grows; create one that leads with all of it: %s",
			best, st.Table, strings.Join(p.cursor[:bestN], ", "), cols, create)
	}
	return warnf("no index of %s leads with the cursor (%s): every page scans the table; create one: %s", st.Table, cols, create)
}

// leadingMatch returns how many leading columns of an index are the
// cursor's columns, in order.
func leadingMatch(index, cursor []string) int {
	n := 0
	for n < len(index) && n < len(cursor) && strings.EqualFold(index[n], unquoteName(cursor[n])) {
		n++
	}
	return n
}

// suggestedIndexName names a cursor index for table within Oracle 11g's 30
// characters.
func suggestedIndexName(table string) string {
	_, name := splitTable(table)
	var b strings.Builder
	for _, r := range strings.ToLower(unquoteName(name)) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteRune('_')
		}
	}
	base := b.String()
	if len(base) > 30-len("hp__cursor") {
		base = base[:30-len("hp__cursor")]
	}
	return "hp_" + base + "_cursor"
}
