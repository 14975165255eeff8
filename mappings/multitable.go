package mappings

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Multi-table inputs. A mapping on a header table may pivot one detail
// table into columns (`detail:`) and join dictionary tables (`lookups:`).
// Both compile into one SELECT over the header that the source reads like
// a custom `query:`, so everything after the source (field rules,
// fixtures, the cursor) sees plain columns.
//
// The SQL is dialect-neutral: identifiers are written unquoted (so they
// must be plain identifiers, and the database folds their case as it does
// for any unquoted name), constants are string literals, and the only
// constructs are correlated scalar subqueries, LEFT JOIN and the
// aggregates SUM, MIN, MAX and COUNT. It runs unchanged on MySQL, MariaDB,
// PostgreSQL, SQLite, Oracle and SQL Server.

// detailSpec is a `detail:` block: a table with several rows per header
// row, pivoted into one column per code.
type detailSpec struct {
	Table string             `yaml:"table"`
	On    map[string]string  `yaml:"on"`
	Where map[string]*string `yaml:"where"`
	Pivot *pivotSpec         `yaml:"pivot"`
}

type pivotSpec struct {
	Key       string            `yaml:"key"`
	Value     string            `yaml:"value"`
	Aggregate string            `yaml:"aggregate"`
	Columns   map[string]string `yaml:"columns"`
	Ignore    []string          `yaml:"ignore"`
	Unknown   string            `yaml:"unknown"`
}

// lookupSpec is one entry of `lookups:`: a LEFT JOIN to a dictionary.
type lookupSpec struct {
	Table   string             `yaml:"table"`
	On      map[string]string  `yaml:"on"`
	Where   map[string]*string `yaml:"where"`
	Columns map[string]string  `yaml:"columns"`
}

// UnknownColumn is the column of a pivot with `unknown: reject` (the
// default): the generated SELECT fills it with a detail code that is
// neither a pivot column nor ignored (NULL when there is none), and a row
// with a value there is rejected with code unknown_code. A fixture gives
// it to test that rejection.
const UnknownColumn = "hpgate_unknown"

// Aliases of the generated SELECT.
const (
	headerAlias = "h"
	detailAlias = "d"
	lookupAlias = "l" // l1, l2, … in lookups order
)

var (
	// reIdent is a plain identifier, written unquoted: a letter or _, then
	// letters, digits, _, $ and # ($ and # are Oracle and SQL Server
	// habits: MySQL reads # as a comment and PostgreSQL refuses it).
	reIdent = regexp.MustCompile(`^[\p{L}_][\p{L}\p{N}_$#]*$`)
	// aggregates of a pivot; the first is the default.
	aggregates = []string{"sum", "min", "max", "count"}
)

const (
	maxIdentLen = 128
	maxConstLen = 100
)

// unknownCheck rejects an upsert whose detail rows hold an undeclared
// pivot code, so no amount of a new fund type is silently lost.
type unknownCheck struct {
	ref  int
	what string // TABLE.KEY, for the message
}

func (u *unknownCheck) check(st *rowState) *rowError {
	v := appendRaw(st.tmp[:0], st.value(u.ref))
	st.tmp = v
	if len(v) == 0 {
		return nil
	}
	s := string(v)
	if utf8.RuneCountInString(s) > 40 {
		s = string([]rune(s)[:40]) + "…"
	}
	return reject("", "unknown_code", "%s code %q is neither a pivot column nor listed under ignore", u.what, s)
}

// plainIdent reports whether name is a plain identifier, or with parts > 1
// a name of at most that many dot-separated plain identifiers
// (schema.table).
func plainIdent(name string, parts int) bool {
	ps := strings.Split(name, ".")
	if len(ps) > parts {
		return false
	}
	for _, p := range ps {
		if len(p) > maxIdentLen || !reIdent.MatchString(p) {
			return false
		}
	}
	return true
}

// sqlString renders a constant as a string literal, or says why it cannot
// be one: a backslash is an escape in MySQL string literals and plain text
// elsewhere, so no single spelling works everywhere.
func sqlString(v string) (string, error) {
	switch {
	case v == "":
		return "", fmt.Errorf("empty value (write null for IS NULL)")
	case utf8.RuneCountInString(v) > maxConstLen:
		return "", fmt.Errorf("value longer than %d characters", maxConstLen)
	case !utf8.ValidString(v):
		return "", fmt.Errorf("value is not valid UTF-8")
	case strings.ContainsRune(v, '\\'):
		return "", fmt.Errorf("value %q has a backslash, which databases read differently", v)
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", fmt.Errorf("value has a control character")
	}
	return "'" + strings.ReplaceAll(v, "'", "''") + "'", nil
}

// output is a column the generated SELECT computes.
type output struct {
	name string
	path []string // where it is declared
}

// multiTable compiles `detail:` and `lookups:` into c.query. It runs after
// every column reference of the file is known (rules, cursor, identity,
// expressions).
func (c *compiler) multiTable() {
	s := c.spec
	if s.Detail == nil && len(s.Lookups) == 0 {
		return
	}
	what := []string{"detail"}
	if s.Detail == nil {
		what = []string{"lookups"}
	}
	switch {
	case s.Query != "":
		c.keyErrorf(what, "with %s, hpgate builds the query from table: remove query, or write the joins in the query yourself", what[0])
		return
	case s.Table == "":
		return // header() reported it
	case !plainIdent(s.Table, 3):
		c.errorf([]string{"table"}, "with %s, table must be a plain identifier (letters, digits, _, $, #; optionally schema.table), got %q", what[0], s.Table)
	}

	var (
		outs    []output
		byName  = map[string]int{} // upper-case name -> index in outs
		joins   []string
		headers = map[string][]string{} // header columns named by on keys -> path
		sel     []string                // computed select items
	)
	declare := func(name string, path []string) bool {
		if !plainIdent(name, 1) {
			c.errorf(path, "output column %q must be a plain identifier (letters, digits, _, $, #)", name)
			return false
		}
		k := strings.ToUpper(name)
		if i, dup := byName[k]; dup {
			c.errorf(path, "output column %s is already declared at %s", name, c.where(outs[i].path))
			return false
		}
		byName[k] = len(outs)
		outs = append(outs, output{name: name, path: path})
		return true
	}
	ident := func(path []string, role, name string, parts int) string {
		if name == "" {
			c.keyErrorf(path[:len(path)-1], "missing %s", role)
			return ""
		}
		if !plainIdent(name, parts) {
			c.errorf(path, "%s %q must be a plain identifier (letters, digits, _, $, #)", role, name)
		}
		return name
	}
	// on renders the join condition of alias against the header, and
	// where its constant conditions, in key order.
	on := func(path []string, alias, table string, cond map[string]string, where map[string]*string) []string {
		var out []string
		if len(cond) == 0 {
			c.keyErrorf(path, "missing on: map header columns to the columns of %s that match them", table)
		}
		for _, hc := range sortedKeys(cond) {
			p := append(slices.Clone(path), "on", hc)
			if !plainIdent(hc, 1) {
				c.keyErrorf(p, "header column %q must be a plain identifier (letters, digits, _, $, #)", hc)
			}
			dc := ident(p, "column", cond[hc], 1)
			headers[strings.ToUpper(hc)] = p
			out = append(out, alias+"."+dc+" = "+headerAlias+"."+hc)
		}
		for _, col := range sortedKeys(where) {
			p := append(slices.Clone(path), "where", col)
			if !plainIdent(col, 1) {
				c.keyErrorf(p, "column %q must be a plain identifier (letters, digits, _, $, #)", col)
			}
			v := where[col]
			if v == nil {
				out = append(out, alias+"."+col+" IS NULL")
				continue
			}
			lit, err := sqlString(*v)
			if err != nil {
				c.errorf(p, "%s: %v", col, err)
				continue
			}
			out = append(out, alias+"."+col+" = "+lit)
		}
		return out
	}

	if d := s.Detail; d != nil {
		base := []string{"detail"}
		table := ident(append(base, "table"), "table", d.Table, 3)
		conds := on(base, detailAlias, d.Table, d.On, d.Where)
		if p := d.Pivot; p == nil {
			c.keyErrorf(base, "detail needs a pivot: key, value and columns")
		} else {
			sel = append(sel, c.pivot(p, table, conds, declare, ident)...)
		}
	}
	for i, l := range s.Lookups {
		base := []string{"lookups", fmt.Sprint(i)}
		alias := lookupAlias + fmt.Sprint(i+1)
		table := ident(append(base, "table"), "table", l.Table, 3)
		conds := on(base, alias, l.Table, l.On, l.Where)
		if len(l.Columns) == 0 {
			c.keyErrorf(base, "lookup needs columns: dictionary columns and the names they take")
		}
		for _, dc := range sortedKeys(l.Columns) {
			p := append(slices.Clone(base), "columns", dc)
			if !plainIdent(dc, 1) {
				c.keyErrorf(p, "column %q of %s must be a plain identifier (letters, digits, _, $, #)", dc, l.Table)
			}
			if out := l.Columns[dc]; declare(out, p) {
				sel = append(sel, alias+"."+dc+" AS "+out)
			}
		}
		joins = append(joins, " LEFT JOIN "+table+" "+alias+" ON "+strings.Join(conds, " AND "))
	}

	// The header columns: every referenced column that is not computed.
	isOut := func(col string) bool { _, ok := byName[strings.ToUpper(col)]; return ok }
	cur := c.spec.Cursor
	for i, k := range append([]string{cur.Timestamp, cur.FallbackTimestamp}, cur.Keys...) {
		if k != "" && isOut(k) {
			path := []string{"cursor", "keys", fmt.Sprint(i - 2)}
			switch i {
			case 0:
				path = []string{"cursor", "timestamp"}
			case 1:
				path = []string{"cursor", "fallback_timestamp"}
			}
			c.errorf(path, "cursor column %s is the output column declared at %s: the cursor stays on the header table's own columns", k, c.where(outs[byName[strings.ToUpper(k)]].path))
		}
	}
	for _, k := range sortedKeys(headers) {
		if i, ok := byName[k]; ok {
			c.keyErrorf(headers[k], "header column %s clashes with the output column declared at %s", outs[i].name, c.where(outs[i].path))
		}
	}
	used := map[string]bool{}
	var cols []string
	seen := map[string]bool{}
	for _, col := range c.m.columns {
		k := strings.ToUpper(col)
		if isOut(col) {
			used[k] = true
			continue
		}
		if seen[k] {
			continue // the same column written in another case
		}
		seen[k] = true
		if !plainIdent(col, 1) {
			c.keyErrorf(what, "column %q is not a plain identifier (letters, digits, _, $, #): with %s, header columns are written into SQL unquoted", col, what[0])
			continue
		}
		cols = append(cols, headerAlias+"."+col)
	}
	for _, o := range outs {
		if o.name != UnknownColumn && !used[strings.ToUpper(o.name)] {
			c.errorf(o.path, "output column %s is not used by any field rule, expression or identity", o.name)
		}
	}
	c.query = "SELECT " + strings.Join(append(cols, sel...), ", ") + " FROM " + s.Table + " " + headerAlias + strings.Join(joins, "")
	c.m.tables = c.tables(cols, isOut(UnknownColumn))
}

// Tables are the tables a multi-table mapping reads, as its `detail:` and
// `lookups:` declare them: for tools that build or inspect its source (the
// demo grows them). The source itself reads Stream.Query.
type Tables struct {
	// Header is the header table (`table:`).
	Header string
	// HeaderColumns are the header table's columns the generated SELECT
	// reads or joins on, in the file's spelling, each once.
	HeaderColumns []string
	// Detail is the pivoted detail table; nil without `detail:`.
	Detail *DetailTable
	// Lookups are the dictionary tables, in `lookups:` order.
	Lookups []LookupTable
}

// DetailTable is a `detail:` block.
type DetailTable struct {
	Table string
	// On maps header columns to the detail columns that match them.
	On map[string]string
	// Where holds the detail rows' constant conditions (nil: IS NULL).
	Where map[string]*string
	// Key holds the code and Value the amount; Aggregate is sum, min, max
	// or count.
	Key, Value, Aggregate string
	// Columns maps each code to the output column it becomes.
	Columns map[string]string
	// Ignore are the codes deliberately left out.
	Ignore []string
	// Unknown reports whether the SELECT computes UnknownColumn (an
	// undeclared code rejects the row).
	Unknown bool
}

// Code returns the first code, in sort order, that the pivot puts into
// output column col, or "" if none does.
func (d *DetailTable) Code(col string) string {
	for _, code := range sortedKeys(d.Columns) {
		if strings.EqualFold(d.Columns[code], col) {
			return code
		}
	}
	return ""
}

// LookupTable is one entry of `lookups:`, a LEFT JOIN to a dictionary.
type LookupTable struct {
	Table string
	// On maps header columns to the dictionary columns that match them.
	On map[string]string
	// Where holds the dictionary rows' constant conditions (nil: IS NULL).
	Where map[string]*string
	// Columns maps dictionary columns to the output columns they become.
	Columns map[string]string
}

// Tables returns the tables of a mapping with `detail:` or `lookups:`, nil
// for a mapping of one table or query. The result must not be modified.
func (m *Mapping) Tables() *Tables { return m.tables }

// tables describes the compiled spec; cols are the SELECT's header items.
func (c *compiler) tables(cols []string, unknown bool) *Tables {
	s := c.spec
	t := &Tables{Header: s.Table}
	seen := map[string]bool{}
	add := func(col string) {
		if k := strings.ToUpper(col); !seen[k] {
			seen[k] = true
			t.HeaderColumns = append(t.HeaderColumns, col)
		}
	}
	for _, col := range cols {
		add(strings.TrimPrefix(col, headerAlias+"."))
	}
	if d := s.Detail; d != nil && d.Pivot != nil {
		p := d.Pivot
		agg := p.Aggregate
		if agg == "" {
			agg = aggregates[0]
		}
		t.Detail = &DetailTable{Table: d.Table, On: maps.Clone(d.On), Where: maps.Clone(d.Where),
			Key: p.Key, Value: p.Value, Aggregate: agg, Columns: maps.Clone(p.Columns),
			Ignore: slices.Clone(p.Ignore), Unknown: unknown}
		for _, hc := range sortedKeys(d.On) {
			add(hc)
		}
	}
	for _, l := range s.Lookups {
		t.Lookups = append(t.Lookups, LookupTable{Table: l.Table, On: maps.Clone(l.On), Where: maps.Clone(l.Where), Columns: maps.Clone(l.Columns)})
		for _, hc := range sortedKeys(l.On) {
			add(hc)
		}
	}
	return t
}

// pivot returns the select items of a detail pivot: one correlated scalar
// subquery per output column, and the unknown-code check.
func (c *compiler) pivot(p *pivotSpec, table string, conds []string,
	declare func(string, []string) bool, ident func([]string, string, string, int) string) []string {
	base := []string{"detail", "pivot"}
	key := ident(append(base, "key"), "key column", p.Key, 1)
	value := ident(append(base, "value"), "value column", p.Value, 1)
	agg := p.Aggregate
	if agg == "" {
		agg = aggregates[0]
	} else if !slices.Contains(aggregates, agg) {
		c.errorf(append(base, "aggregate"), "aggregate must be one of %s", strings.Join(aggregates, ", "))
	}
	if len(p.Columns) == 0 {
		c.keyErrorf(base, "pivot needs columns: each detail code and the column it becomes, e.g. {\"310100\": FUND_BASIC}")
	}
	from := " FROM " + table + " " + detailAlias + " WHERE "
	corr := strings.Join(conds, " AND ")
	if corr != "" {
		corr += " AND "
	}
	// Codes by output column, in the order columns are first declared.
	var order []string
	codes := map[string][]string{}
	var all []string
	for _, code := range sortedKeys(p.Columns) {
		path := append(slices.Clone(base), "columns", code)
		lit, err := sqlString(code)
		if err != nil {
			c.keyErrorf(path, "pivot code: %v", err)
			continue
		}
		all = append(all, lit)
		out := p.Columns[code]
		if _, again := codes[out]; !again {
			if !declare(out, path) {
				continue
			}
			order = append(order, out)
		}
		codes[out] = append(codes[out], lit)
	}
	for i, code := range p.Ignore {
		path := append(slices.Clone(base), "ignore", fmt.Sprint(i))
		lit, err := sqlString(code)
		switch {
		case err != nil:
			c.errorf(path, "ignored code: %v", err)
			continue
		case p.Columns[code] != "":
			c.errorf(path, "code %s is both a pivot column and ignored", code)
		}
		all = append(all, lit)
	}
	var sel []string
	aggExpr := strings.ToUpper(agg) + "(" + detailAlias + "." + value + ")"
	for _, out := range order {
		lits := codes[out]
		match := " = " + lits[0]
		if len(lits) > 1 {
			match = " IN (" + strings.Join(lits, ", ") + ")"
		}
		sel = append(sel, "(SELECT "+aggExpr+from+corr+detailAlias+"."+key+match+") AS "+out)
	}
	switch p.Unknown {
	case "", "reject":
		if len(all) == 0 {
			break
		}
		if declare(UnknownColumn, append(slices.Clone(base), "unknown")) {
			sel = append(sel, "(SELECT MIN("+detailAlias+"."+key+")"+from+corr+detailAlias+"."+key+" NOT IN ("+strings.Join(all, ", ")+")) AS "+UnknownColumn)
			c.m.unknown = &unknownCheck{ref: c.ref(UnknownColumn), what: table + "." + key}
		}
	case "ignore":
	default:
		c.errorf(append(base, "unknown"), "unknown must be reject (the default: a row with an undeclared code goes to the DLQ) or ignore")
	}
	return sel
}

// where formats the position of a path of the file as line:col.
func (c *compiler) where(path []string) string {
	n := c.doc.LookupKey(path...)
	return fmt.Sprintf("%d:%d", n.Line, n.Column)
}
