package sqlsource

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hpgate/hpgate/connectors"
)

// Stream modes (connectors.Stream.Mode).
const (
	ModeIncremental = "incremental"
	ModeSnapshot    = "snapshot"
)

// Aliases of the generated SQL. Cursor columns are selected a second time,
// after the stream's own columns, as cursorAlias0, cursorAlias1, …: the
// position is built from those copies whatever Columns lists, and the
// dialect may read them in a form that binds back exactly (cursorExpr).
const (
	queryAlias  = "hpgate_q"
	cursorAlias = "hpgate_c"
)

// stmt is a statement with its arguments, in placeholder order.
type stmt struct {
	text string
	args []any
}

// plan is a validated stream, ready to render statements.
type plan struct {
	st          connectors.Stream
	incremental bool
	cursor      []string // timestamp column (incremental) then key columns
	cursorSQL   []string // the same as SQL: quoted, the timestamp with its fallback
	from        string   // quoted table, or the custom query as a derived table
	columns     string   // the stream columns of the select list
	selectList  string   // stream columns, then the cursor copies
	order       string   // " ORDER BY …"
	where       string   // "(…)" or ""

	// Set by typed for dialects that bind by column type (cursorTyper);
	// nil entries bind bare placeholders.
	valueWrap  []func(string) string
	cutoffWrap func(string) string
}

// newPlan validates st and prepares the parts of its statements. Its errors
// are configuration mistakes (never ErrUnavailable).
func newPlan(d dialect, st connectors.Stream) (*plan, error) {
	p := &plan{st: st}
	var problems []error
	switch st.Mode {
	case ModeIncremental, "":
		p.incremental = true
		if st.TimestampColumn == "" {
			problems = append(problems, errors.New("incremental mode needs a timestamp column"))
		}
		p.cursor = append(p.cursor, st.TimestampColumn)
	case ModeSnapshot:
	default:
		problems = append(problems, fmt.Errorf("unknown mode %q (want %s or %s)", st.Mode, ModeIncremental, ModeSnapshot))
	}
	if len(st.KeyColumns) == 0 {
		problems = append(problems, errors.New("no key columns: the cursor needs one or more unique key columns"))
	}
	p.cursor = append(p.cursor, st.KeyColumns...)
	if st.TimestampFallback != "" && !p.incremental {
		problems = append(problems, errors.New("a timestamp fallback needs incremental mode"))
	}
	// A fresh slice: appending to st.Columns would write into the caller's
	// array, which concurrent reads of the same stream share.
	names := slices.Concat(p.cursor, st.Columns, []string{st.TimestampFallback})
	for _, c := range names {
		if c == st.TimestampFallback && c == "" {
			continue
		}
		if strings.TrimSpace(c) == "" || strings.ContainsRune(c, 0) {
			problems = append(problems, fmt.Errorf("invalid column name %q", c))
		}
	}

	query := strings.TrimSpace(st.Query)
	for strings.HasSuffix(query, ";") {
		query = strings.TrimSpace(strings.TrimSuffix(query, ";"))
	}
	switch {
	case st.Table != "" && query != "":
		problems = append(problems, errors.New("both table and query are set"))
	case st.Table != "":
		p.from = quoteName(d, st.Table)
	case query != "":
		p.from = "(" + query + ") " + queryAlias
	default:
		problems = append(problems, errors.New("neither table nor query is set"))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("stream %s: %w", st.Name, err)
	}
	for i, c := range p.cursor {
		sql := d.quoteIdent(c)
		if i == 0 && p.incremental && st.TimestampFallback != "" {
			sql = "COALESCE(" + sql + ", " + d.quoteIdent(st.TimestampFallback) + ")"
		}
		p.cursorSQL = append(p.cursorSQL, sql)
	}

	var b strings.Builder
	switch {
	case len(st.Columns) > 0:
		for i, c := range st.Columns {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteName(d, c))
		}
	case st.Table != "":
		b.WriteString(p.from + ".*")
	default:
		b.WriteString(queryAlias + ".*")
	}
	p.columns = b.String()
	reads := make([]string, len(p.cursorSQL))
	for i, c := range p.cursorSQL {
		reads[i] = d.cursorExpr(c, p.incremental && i == 0)
	}
	p.setCursorReads(reads)

	b.Reset()
	b.WriteString(" ORDER BY ")
	for i, c := range p.cursorSQL {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c)
	}
	p.order = b.String()

	if w := strings.TrimSpace(st.Where); w != "" {
		p.where = "(" + w + ")"
	}
	return p, nil
}

// setCursorReads completes the select list with the cursor copies.
func (p *plan) setCursorReads(reads []string) {
	var b strings.Builder
	b.WriteString(p.columns)
	for i, r := range reads {
		b.WriteString(", " + r + " AS " + cursorAlias + strconv.Itoa(i))
	}
	p.selectList = b.String()
}

// describe renders a statement returning no row whose columns are the
// cursor columns as stored: the Source reads their types from it for a
// cursorTyper dialect.
func (p *plan) describe() stmt {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, c := range p.cursorSQL {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " AS " + cursorAlias + strconv.Itoa(i))
	}
	b.WriteString(" FROM " + p.from + " WHERE 1 = 0")
	return stmt{text: b.String()}
}

// typed returns a copy of p whose cursor copies are read, and whose cursor
// values and cut-off are bound, as the dialect says for the cursor
// columns' types (one per cursor column, from describe).
func (p *plan) typed(d cursorTyper, types []colType) *plan {
	q := *p
	reads := make([]string, len(p.cursorSQL))
	q.valueWrap = make([]func(string) string, len(p.cursorSQL))
	for i, c := range p.cursorSQL {
		ts := p.incremental && i == 0
		tc := d.typedCursor(c, types[i], ts)
		reads[i] = tc.read
		q.valueWrap[i] = tc.value
		if ts {
			q.cutoffWrap = tc.cutoff
		}
	}
	q.setCursorReads(reads)
	return &q
}

// page renders the statement reading up to limit rows strictly after the
// cursor values after (nil: from the start). In incremental mode only rows
// with a timestamp at or before cutoff are read.
//
// The "after" condition is the expanded form
//
//	ts > ? OR (ts = ? AND (k1 > ? OR (k1 = ? AND k2 > ?)))
//
// and never the row constructor (ts, k1, k2) > (?, ?, ?): MariaDB turns the
// expanded form into index ranges on (ts, k1, k2) and does not for the row
// constructor, which measured 35× slower and quadratic in table size.
func (p *plan) page(d dialect, after []any, cutoff any, limit int) stmt {
	var q stmt
	var b strings.Builder
	bind := func(v any, wrap func(string) string) {
		q.args = append(q.args, v)
		ph := d.placeholder(len(q.args))
		if wrap != nil {
			ph = wrap(ph)
		}
		b.WriteString(ph)
	}
	b.WriteString("SELECT " + p.selectList + " FROM " + p.from)
	var conds int
	and := func() {
		if conds == 0 {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		conds++
	}
	if p.where != "" {
		and()
		b.WriteString(p.where)
	}
	if p.incremental {
		and()
		b.WriteString(p.cursorSQL[0] + " <= ")
		bind(cutoff, p.cutoffWrap)
	}
	if after != nil {
		and()
		b.WriteString("(")
		p.expand(d, &b, bind, after, 0)
		b.WriteString(")")
	}
	b.WriteString(p.order)
	q.text = d.limit(b.String(), limit)
	return q
}

// expand writes the expanded "after" condition for the cursor columns from
// i on: c > ? OR (c = ? AND <the same for the next column>).
func (p *plan) expand(d dialect, b *strings.Builder, bind func(any, func(string) string), after []any, i int) {
	col := p.cursorSQL[i]
	var wrap func(string) string
	if p.valueWrap != nil {
		wrap = p.valueWrap[i]
	}
	b.WriteString(col + " > ")
	bind(after[i], wrap)
	last := len(p.cursor) - 1
	if i == last {
		return
	}
	b.WriteString(" OR (" + col + " = ")
	bind(after[i], wrap)
	b.WriteString(" AND ")
	if i+1 < last {
		b.WriteString("(")
		p.expand(d, b, bind, after, i+1)
		b.WriteString(")")
	} else {
		p.expand(d, b, bind, after, i+1)
	}
	b.WriteString(")")
}

// nullCount renders the count of rows that incremental reads cannot see
// because their timestamp is NULL.
func (p *plan) nullCount(d dialect) stmt {
	text := "SELECT COUNT(*) FROM " + p.from + " WHERE "
	if p.where != "" {
		text += p.where + " AND "
	}
	return stmt{text: text + p.cursorSQL[0] + " IS NULL"}
}
