package sqlsource

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hpgate/hpgate/connectors"
)

// Warning is a finding of a check that does not make a mapping wrong, such
// as a select list whose columns cannot be known without the database, or
// a cursor no index serves. Check commands print it and carry on.
type Warning struct{ Msg string }

func (w *Warning) Error() string { return w.Msg }

func warnf(format string, args ...any) error { return &Warning{Msg: fmt.Sprintf(format, args...)} }

// CheckStream checks a stream's custom query (Stream.Query) without a
// database, for driver (one of Drivers(), or "" when unknown: then every
// placeholder style counts). hpgate wraps the query as a derived table,
// adds its own WHERE with bound values, ORDER BY and row limit, so the
// query must be one SELECT (or WITH … SELECT) with no bind placeholders
// (?, :1, @p1, $1 outside string literals and comments), no trailing ';',
// no ORDER BY, LIMIT, OFFSET, FETCH, TOP, ROWNUM or FOR UPDATE at its top
// level, and must select the cursor's timestamp, fallback and key columns
// and the stream's columns (by name or alias). A select list with * makes
// that unknowable statically: a *Warning says so. Other problems are
// plain errors. A stream reading a table gives nil.
func CheckStream(driver string, st connectors.Stream) []error {
	q := strings.TrimSpace(st.Query)
	if q == "" {
		return nil
	}
	toks := lexSQL(driver, q)
	var errs []error
	for _, tk := range toks {
		if tk.kind == tokPlaceholder {
			errs = append(errs, fmt.Errorf("query has the bind placeholder %s: hpgate binds its own values; write constants in the query, or filter with where:", tk.text))
		}
	}
	for i, tk := range toks {
		if tk.kind == tokPunct && tk.text == ";" {
			if i == len(toks)-1 {
				errs = append(errs, fmt.Errorf("query ends with ';': remove it, hpgate wraps the query in its own statement"))
			} else {
				errs = append(errs, fmt.Errorf("query holds more than one statement (';' inside): give a single SELECT"))
			}
			break
		}
	}
	main := -1 // the main SELECT
	if len(toks) == 0 || !(toks[0].is("SELECT") || toks[0].is("WITH")) {
		return append(errs, fmt.Errorf("query must be a single SELECT (or WITH … SELECT)"))
	}
	for i, tk := range toks {
		if tk.depth != 0 || tk.kind != tokWord {
			continue
		}
		switch strings.ToUpper(tk.text) {
		case "SELECT":
			if main < 0 {
				main = i
			}
		case "INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "ALTER", "TRUNCATE", "EXEC", "EXECUTE", "CALL", "GRANT":
			if !(strings.EqualFold(tk.text, "UPDATE") && i > 0 && toks[i-1].is("FOR")) {
				errs = append(errs, fmt.Errorf("query must only read: %s is not allowed", strings.ToUpper(tk.text)))
			}
		case "INTO":
			errs = append(errs, fmt.Errorf("query must only read: SELECT … INTO is not allowed"))
		case "ORDER":
			if i+1 < len(toks) && toks[i+1].is("BY") {
				errs = append(errs, fmt.Errorf("query has ORDER BY at its top level: remove it, hpgate orders by the cursor"))
			}
		case "LIMIT", "OFFSET", "FETCH", "ROWNUM":
			errs = append(errs, fmt.Errorf("query has %s at its top level: remove it, hpgate limits the rows of each page", strings.ToUpper(tk.text)))
		case "TOP":
			errs = append(errs, fmt.Errorf("query has TOP at its top level: remove it, hpgate limits the rows of each page"))
		case "FOR":
			if i+1 < len(toks) && toks[i+1].is("UPDATE") {
				errs = append(errs, fmt.Errorf("query has FOR UPDATE: hpgate only reads, and must not lock the source's rows"))
			}
		}
	}
	if main < 0 {
		return append(errs, fmt.Errorf("query must be a single SELECT (or WITH … SELECT)"))
	}
	names, star := selectNames(toks, main)
	var need []string
	what := map[string]string{}
	add := func(col, role string) {
		if col == "" {
			return
		}
		if _, ok := what[strings.ToLower(col)]; !ok {
			need = append(need, col)
			what[strings.ToLower(col)] = role
		}
	}
	add(st.TimestampColumn, "the cursor's timestamp")
	add(st.TimestampFallback, "the cursor's fallback timestamp")
	for _, k := range st.KeyColumns {
		add(k, "a cursor key")
	}
	for _, c := range st.Columns {
		add(c, "a mapped column")
	}
	var missing []string
	for _, c := range need {
		if !names[strings.ToLower(unquoteName(c))] {
			missing = append(missing, c)
		}
	}
	switch {
	case len(missing) == 0:
	case star:
		errs = append(errs, warnf("query selects *: whether it yields %s cannot be known without the database (hpgate check --live tells)", strings.Join(missing, ", ")))
	default:
		for _, c := range missing {
			errs = append(errs, fmt.Errorf("query does not select %s (%s): add it to the select list, or alias an expression AS %s", c, what[strings.ToLower(c)], c))
		}
	}
	return errs
}

// selectNames returns the output names of the select list of the SELECT at
// toks[at] (lower-cased) and whether it has a * item.
func selectNames(toks []sqlToken, at int) (map[string]bool, bool) {
	names := map[string]bool{}
	star := false
	i := at + 1
	for i < len(toks) && (toks[i].is("DISTINCT") || toks[i].is("ALL") || toks[i].is("UNIQUE")) {
		i++
	}
	var item []sqlToken
	flush := func() {
		if n := len(item); n > 0 {
			last := item[n-1]
			switch {
			case last.kind == tokPunct && last.text == "*":
				star = true
			case last.kind == tokWord || last.kind == tokQuoted:
				if n == 1 || (item[n-2].kind != tokPunct || item[n-2].text == "." || item[n-2].text == ")") && !last.is("END") {
					names[strings.ToLower(last.name())] = true
				}
			}
		}
		item = item[:0]
	}
	for ; i < len(toks); i++ {
		tk := toks[i]
		if tk.depth == 0 && (tk.is("FROM") || tk.is("INTO") || tk.is("UNION") || tk.is("EXCEPT") || tk.is("MINUS") || tk.is("INTERSECT") || tk.is("WHERE")) {
			break
		}
		if tk.depth == 0 && tk.kind == tokPunct && tk.text == "," {
			flush()
			continue
		}
		item = append(item, tk)
	}
	flush()
	return names, star
}

// unquoteName strips the quotes of a name written quoted in a mapping.
func unquoteName(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '`' && s[len(s)-1] == '`' || s[0] == '[' && s[len(s)-1] == ']') {
		return s[1 : len(s)-1]
	}
	return s
}

type tokKind int

const (
	tokWord tokKind = iota
	tokQuoted
	tokString
	tokNumber
	tokPlaceholder
	tokPunct
)

type sqlToken struct {
	kind  tokKind
	text  string
	depth int // parentheses around the token
}

func (t sqlToken) is(word string) bool { return t.kind == tokWord && strings.EqualFold(t.text, word) }

// name is the identifier a word or quoted identifier names.
func (t sqlToken) name() string {
	if t.kind == tokQuoted {
		return unquoteName(t.text)
	}
	return t.text
}

// lexSQL splits a query into tokens, skipping comments, with string
// literals, quoted identifiers and dollar-quoted bodies as single tokens.
// It knows enough SQL to find placeholders, statement separators and the
// top-level clauses; it is not a parser.
func lexSQL(driver string, q string) []sqlToken {
	var toks []sqlToken
	depth := 0
	anyDriver := driver == ""
	emit := func(k tokKind, s string) { toks = append(toks, sqlToken{kind: k, text: s, depth: depth}) }
	i := 0
	for i < len(q) {
		c := q[i]
		rest := q[i:]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case strings.HasPrefix(rest, "--") || (driver == "mysql" && c == '#'):
			end := strings.IndexByte(rest, '\n')
			if end < 0 {
				end = len(rest)
			}
			i += end
		case strings.HasPrefix(rest, "/*"):
			end := strings.Index(rest[2:], "*/")
			if end < 0 {
				i = len(q)
			} else {
				i += end + 4
			}
		case c == '\'':
			n := quotedLen(rest, '\'', driver == "mysql")
			emit(tokString, rest[:n])
			i += n
		case c == '"':
			n := quotedLen(rest, '"', driver == "mysql")
			if driver == "mysql" {
				emit(tokString, rest[:n])
			} else {
				emit(tokQuoted, rest[:n])
			}
			i += n
		case c == '`':
			n := quotedLen(rest, '`', false)
			emit(tokQuoted, rest[:n])
			i += n
		case c == '[' && (driver == "sqlserver" || anyDriver):
			n := quotedLen(rest, ']', false)
			emit(tokQuoted, rest[:n])
			i += n
		case c == '$' && (driver == "postgres" || anyDriver) && dollarTag(rest) != "":
			tag := dollarTag(rest)
			end := strings.Index(rest[len(tag):], tag)
			if end < 0 {
				i = len(q)
			} else {
				n := len(tag) + end + len(tag)
				emit(tokString, rest[:n])
				i += n
			}
		case c == '$' && len(rest) > 1 && isDigit(rest[1]):
			n := 1 + digitsLen(rest[1:])
			emit(tokPlaceholder, rest[:n])
			i += n
		case c == '?':
			emit(tokPlaceholder, "?")
			i++
		case c == ':' && len(rest) > 1 && rest[1] == ':':
			emit(tokPunct, "::")
			i += 2
		case c == ':' && len(rest) > 1 && (isDigit(rest[1]) || isIdentStart(rest[1:])) && driver != "mysql":
			n := 1 + identLen(rest[1:])
			emit(tokPlaceholder, rest[:n])
			i += n
		case c == '@' && len(rest) > 1 && rest[1] == '@':
			n := 2 + identLen(rest[2:])
			emit(tokWord, rest[:n]) // a system function such as @@VERSION
			i += n
		case c == '@' && len(rest) > 1 && isIdentStart(rest[1:]) && (driver == "sqlserver" || anyDriver):
			n := 1 + identLen(rest[1:])
			emit(tokPlaceholder, rest[:n])
			i += n
		case isDigit(c):
			n := digitsLen(rest)
			emit(tokNumber, rest[:n])
			i += n
		case isIdentStart(rest):
			n := identLen(rest)
			emit(tokWord, rest[:n])
			i += n
		case c == '(':
			emit(tokPunct, "(")
			depth++
			i++
		case c == ')':
			if depth > 0 {
				depth--
			}
			emit(tokPunct, ")")
			i++
		default:
			_, n := utf8.DecodeRuneInString(rest)
			emit(tokPunct, rest[:n])
			i += n
		}
	}
	return toks
}

// quotedLen returns the length of the quoted token at the start of s,
// closing quote included; a doubled closing quote (and, with backslash, an
// escaped one) stays inside. An unterminated one runs to the end.
func quotedLen(s string, closing byte, backslash bool) int {
	for i := 1; i < len(s); i++ {
		switch {
		case backslash && s[i] == '\\':
			i++
		case s[i] == closing:
			if i+1 < len(s) && s[i+1] == closing {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(s)
}

// dollarTag returns the $tag$ opening a PostgreSQL dollar-quoted string at
// the start of s, or "".
func dollarTag(s string) string {
	end := strings.IndexByte(s[1:], '$')
	if end < 0 {
		return ""
	}
	tag := s[:end+2]
	for _, r := range tag[1 : len(tag)-1] {
		if !(r == '_' || unicode.IsLetter(r) || (unicode.IsDigit(r) && r != rune(tag[1]))) {
			return ""
		}
	}
	if len(tag) > 2 && isDigit(tag[1]) {
		return ""
	}
	return tag
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digitsLen(s string) int {
	n := 0
	for n < len(s) && (isDigit(s[n]) || s[n] == '.') {
		n++
	}
	return n
}

func isIdentStart(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r == '_' || unicode.IsLetter(r)
}

func identLen(s string) int {
	n := 0
	for n < len(s) {
		r, size := utf8.DecodeRuneInString(s[n:])
		if !(r == '_' || r == '$' || r == '#' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			break
		}
		n += size
	}
	return n
}
