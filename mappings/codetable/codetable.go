// Package codetable translates a county's local codes into canonical values.
//
// A table is written inline in a mapping file or kept as a CSV file beside
// it (columns code,value[,valid_from,valid_to] with a header row). Entries
// may carry validity dates, because codes change: Jimo's area code was
// 370282 until 2017 and 370215 after. Lookups are allocation-free.
package codetable

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

type entry struct {
	value    string
	from, to time.Time // zero: open-ended; from inclusive, to exclusive
}

// Table maps local codes to canonical values.
type Table struct {
	Name    string
	entries map[string][]entry
}

// New returns an empty table.
func New(name string) *Table { return &Table{Name: name, entries: make(map[string][]entry)} }

// FromMap builds a table from inline pairs, valid at all times.
func FromMap(name string, m map[string]string) *Table {
	t := New(name)
	for k, v := range m {
		t.entries[k] = []entry{{value: v}}
	}
	return t
}

// Add adds an entry valid from from (inclusive) until to (exclusive); a
// zero time leaves that end open. Overlapping entries for one code are
// rejected.
func (t *Table) Add(code, value string, from, to time.Time) error {
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		return fmt.Errorf("code %q: valid_to %s is not after valid_from %s", code, to.Format(time.DateOnly), from.Format(time.DateOnly))
	}
	for _, e := range t.entries[code] {
		if overlaps(e.from, e.to, from, to) {
			return fmt.Errorf("code %q: validity overlaps an earlier row", code)
		}
	}
	t.entries[code] = append(t.entries[code], entry{value: value, from: from, to: to})
	return nil
}

func overlaps(af, at, bf, bt time.Time) bool {
	// [af,at) and [bf,bt) with zero meaning infinite.
	aEndsBeforeB := !at.IsZero() && !bf.IsZero() && !at.After(bf)
	bEndsBeforeA := !bt.IsZero() && !af.IsZero() && !bt.After(af)
	return !aEndsBeforeB && !bEndsBeforeA
}

// Len returns the number of codes.
func (t *Table) Len() int { return len(t.entries) }

// Values returns the distinct values of the table, sorted (to check them
// against a canonical enumeration).
func (t *Table) Values() []string {
	var out []string
	for _, es := range t.entries {
		for _, e := range es {
			out = append(out, e.value)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Lookup returns the value of code valid at `at` (a zero `at` matches any
// entry whose validity is open or takes the latest entry).
func (t *Table) Lookup(code string, at time.Time) (string, bool) {
	es := t.entries[code]
	switch {
	case len(es) == 0:
		return "", false
	case len(es) == 1 && es[0].from.IsZero() && es[0].to.IsZero():
		return es[0].value, true
	case at.IsZero():
		return es[len(es)-1].value, true
	}
	for _, e := range es {
		if (e.from.IsZero() || !at.Before(e.from)) && (e.to.IsZero() || at.Before(e.to)) {
			return e.value, true
		}
	}
	return "", false
}

// LineError is a problem on one line of a CSV code table.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// ReadCSV reads a table from CSV (UTF-8, optional BOM) with a header row
// naming the columns code and value, and optionally valid_from and valid_to
// (dates as 2006-01-02). Every bad line is reported.
func ReadCSV(name string, r io.Reader) (*Table, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &LineError{Line: 1, Err: errors.New("empty file: want a header row code,value[,valid_from,valid_to]")}
		}
		return nil, &LineError{Line: 1, Err: err}
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		col[h] = i
	}
	ci, okc := col["code"]
	vi, okv := col["value"]
	if !okc || !okv {
		return nil, &LineError{Line: 1, Err: fmt.Errorf("header %q must name the columns code and value", strings.Join(header, ","))}
	}
	fi, hasFrom := col["valid_from"]
	ti, hasTo := col["valid_to"]
	t := New(name)
	var errs []error
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			errs = append(errs, &LineError{Line: line, Err: err})
			continue
		}
		get := func(i int, ok bool) string {
			if !ok || i >= len(rec) {
				return ""
			}
			return strings.TrimSpace(rec[i])
		}
		code, value := get(ci, true), get(vi, true)
		if code == "" {
			errs = append(errs, &LineError{Line: line, Err: errors.New("empty code")})
			continue
		}
		var from, to time.Time
		if s := get(fi, hasFrom); s != "" {
			if from, err = time.Parse(time.DateOnly, s); err != nil {
				errs = append(errs, &LineError{Line: line, Err: fmt.Errorf("valid_from %q is not a date like 2017-09-01", s)})
				continue
			}
		}
		if s := get(ti, hasTo); s != "" {
			if to, err = time.Parse(time.DateOnly, s); err != nil {
				errs = append(errs, &LineError{Line: line, Err: fmt.Errorf("valid_to %q is not a date like 2017-09-01", s)})
				continue
			}
		}
		if err := t.Add(code, value, from, to); err != nil {
			errs = append(errs, &LineError{Line: line, Err: err})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// ReadCSVFile reads a CSV table from a file.
func ReadCSVFile(name, path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadCSV(name, f)
}
