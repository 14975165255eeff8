package filedrop

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hpgate/hpgate/mappings/normalize"
)

// table reads the data rows of one file, in order, one at a time.
type table interface {
	// header returns the column names as written (white space kept).
	header() []string
	// next returns the next row's cells (valid until the next call) and
	// its number for people: the sheet row of an XLSX file, the line of
	// a CSV record. It returns io.EOF after the last row, and a *badRow
	// with the row's number for a row it could not read into columns
	// (the next call goes on with the row after it).
	next() (cells []string, row int, err error)
	// value converts a cell to a row value: nil when empty, the text, or
	// the raw bytes when they are not valid in the file's encoding (the
	// mapping then rejects the row with bad_encoding).
	value(cell string) (v any, bad bool)
	// describe says what was read, for the report.
	describe() (format, encoding, sheet string)
	close() error
}

// fileError is a problem with a whole file: it goes to failed/.
type fileError struct{ msg string }

func (e *fileError) Error() string { return e.msg }

func fileErrorf(format string, args ...any) error {
	return &fileError{msg: fmt.Sprintf(format, args...)}
}

// badRow is a row that could not be read into columns: a CSV line with
// the wrong number of cells (its columns are shifted), an XLSX row that
// cannot be parsed. Its cells are never mapped: the row is handed out
// with nil values and a connectors.RowProblem (CodeBadRow), so the
// mapper rejects it to the DLQ and the rest of the file goes on. msg
// names the line or row and never holds a cell's content.
type badRow struct{ msg string }

func (e *badRow) Error() string { return e.msg }

// openTable opens a CSV or XLSX file and reads up to its header row.
func openTable(path, name string, o Options) (table, error) {
	switch ext := strings.ToLower(fileExt(name)); ext {
	case ".csv", ".txt":
		return openCSV(path, o)
	case ".xlsx", ".xlsm":
		return openXLSX(path, o)
	default:
		return nil, fileErrorf("%s files are not read; save the export as .xlsx or .csv", ext)
	}
}

func fileExt(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i:]
	}
	return ""
}

// headerKey is how a header cell and a mapping column are compared: white
// space (line breaks inside a cell, U+3000) removed, ASCII case folded.
func headerKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsSpace(r) || r == '\uFEFF' {
			continue
		}
		if r < utf8.RuneSelf {
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ---- CSV ----

type csvTable struct {
	f       *os.File
	r       *csv.Reader
	enc     string
	hdr     []string
	records int // records read so far, header and title records included
}

const sniffSize = 64 << 10

func openCSV(path string, o Options) (table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	t := &csvTable{f: f}
	br := bufio.NewReaderSize(f, sniffSize)
	head, _ := br.Peek(sniffSize)
	enc, _ := parseEncoding(o.Encoding)
	switch {
	case bytes.HasPrefix(head, []byte("\xEF\xBB\xBF")):
		enc = EncodingUTF8
		_, _ = br.Discard(3)
	case bytes.HasPrefix(head, []byte("\xFF\xFE")), bytes.HasPrefix(head, []byte("\xFE\xFF")):
		f.Close()
		return nil, fileErrorf("the file is UTF-16 (Excel's \"Unicode text\"); save it as CSV UTF-8 or as .xlsx")
	case enc == EncodingAuto:
		enc = EncodingGBK
		if validUTF8Prefix(head, len(head) == sniffSize) {
			enc = EncodingUTF8
		}
	}
	t.enc = enc
	t.r = csv.NewReader(br)
	t.r.FieldsPerRecord = -1
	t.r.LazyQuotes = true
	t.r.ReuseRecord = true
	t.r.Comma, _ = utf8.DecodeRuneInString(o.Delimiter)
	for t.records < o.HeaderRow {
		rec, err := t.r.Read()
		if err == io.EOF {
			f.Close()
			return nil, fileErrorf("the file has %d records, fewer than header_row %d", t.records, o.HeaderRow)
		}
		if err != nil {
			f.Close()
			return nil, fileErrorf("%s", csvProblem(err))
		}
		t.records++
		if t.records == o.HeaderRow {
			t.hdr = make([]string, len(rec))
			for i, c := range rec {
				v, bad := t.value(c)
				if s, ok := v.(string); ok && !bad {
					t.hdr[i] = s
				}
			}
		}
	}
	return t, nil
}

// validUTF8Prefix reports whether b is valid UTF-8, allowing a rune cut at
// the end when b is a truncated window.
func validUTF8Prefix(b []byte, truncated bool) bool {
	if truncated {
		for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
			if utf8.Valid(b) {
				return true
			}
			b = b[:len(b)-1]
		}
	}
	return utf8.Valid(b)
}

func (t *csvTable) header() []string { return t.hdr }

func (t *csvTable) next() ([]string, int, error) {
	for {
		rec, err := t.r.Read()
		if err != nil {
			if err == io.EOF {
				return nil, 0, io.EOF
			}
			return nil, 0, fileErrorf("%s", csvProblem(err))
		}
		t.records++
		if blank(rec) {
			continue
		}
		line, _ := t.r.FieldPos(0)
		if len(rec) != len(t.hdr) && !(len(rec) > len(t.hdr) && blank(rec[len(t.hdr):])) {
			msg := fmt.Sprintf("line %d has %d cells, the header has %d: a separator is missing or one too many (an unquoted %q inside a value?)",
				line, len(rec), len(t.hdr), t.r.Comma)
			if end, _ := t.r.FieldPos(len(rec) - 1); end > line {
				// A quote opened and never closed swallows the lines after it.
				msg += fmt.Sprintf("; the record runs on to line %d (a quote not closed?)", end)
			}
			return nil, line, &badRow{msg: msg}
		}
		return rec, line, nil
	}
}

func (t *csvTable) value(cell string) (any, bool) {
	if strings.TrimSpace(cell) == "" {
		return nil, false
	}
	if t.enc == EncodingGBK {
		s, err := normalize.TextString(cell, normalize.GBK)
		if err != nil {
			return []byte(cell), true
		}
		return s, false
	}
	if !utf8.ValidString(cell) {
		return []byte(cell), true
	}
	return strings.Clone(cell), false
}

func (t *csvTable) describe() (string, string, string) { return "csv", t.enc, "" }

func (t *csvTable) close() error { return t.f.Close() }

// csvProblem describes a CSV syntax error by its line and kind, never the
// text around it.
func csvProblem(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return "line " + strconv.Itoa(pe.StartLine) + ": " + pe.Err.Error()
	}
	return err.Error()
}

func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// ---- XLSX ----

const (
	xlsxShortDate = "[$-409]yyyy-mm-dd"
	xlsxLongTime  = "[$-409]hh:mm:ss"
)

type xlsxTable struct {
	book  *xlsxBook
	rows  *sheetReader
	sheet string
	hdr   []string
	row   int      // the sheet row last read
	ahead []string // a data row read while looking for the header row
}

func openXLSX(path string, o Options) (table, error) {
	book, err := openXLSXBook(path)
	if err != nil {
		return nil, fileErrorf("not a readable XLSX workbook: %v", err)
	}
	sheets := book.sheets
	idx := -1
	switch {
	case o.Sheet == "" && len(sheets) > 0:
		idx = 0
	case o.Sheet != "":
		for i, s := range sheets {
			if s == o.Sheet {
				idx = i
			}
		}
		if n, err := strconv.Atoi(o.Sheet); idx < 0 && err == nil && n >= 1 && n <= len(sheets) {
			idx = n - 1
		}
	}
	if idx < 0 {
		book.close()
		return nil, fileErrorf("the workbook has no sheet %q (it has %d sheets: %s)", o.Sheet, len(sheets), strings.Join(sheets, ", "))
	}
	sheet := sheets[idx]
	rows, err := book.openSheet(idx)
	if err != nil {
		book.close()
		return nil, fileErrorf("read sheet %q: %v", sheet, err)
	}
	t := &xlsxTable{book: book, rows: rows, sheet: sheet}
	for t.row < o.HeaderRow {
		cells, n, err := rows.next()
		if err == io.EOF {
			t.close()
			return nil, fileErrorf("sheet %q has %d rows, fewer than header_row %d", sheet, t.row, o.HeaderRow)
		}
		var ce *cellError
		if err != nil && !(errors.As(err, &ce) && n != o.HeaderRow) {
			t.close()
			return nil, fileErrorf("read sheet %q row %d: %v", sheet, n, err)
		}
		t.row = n
		switch {
		case n == o.HeaderRow:
			t.hdr = append([]string(nil), cells...)
		case n > o.HeaderRow && err == nil:
			// The header row is empty (not in the sheet): this row is
			// the first data row.
			t.ahead = append([]string(nil), cells...)
		}
	}
	return t, nil
}

func (t *xlsxTable) header() []string { return t.hdr }

func (t *xlsxTable) next() ([]string, int, error) {
	if t.ahead != nil {
		cells := t.ahead
		t.ahead = nil
		if !blank(cells) {
			return cells, t.row, nil
		}
	}
	for {
		cells, n, err := t.rows.next()
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		var ce *cellError
		if errors.As(err, &ce) {
			t.row = n
			return nil, n, &badRow{msg: fmt.Sprintf("sheet %q row %d cannot be read: %v", t.sheet, n, ce.err)}
		}
		if err != nil {
			return nil, t.row, fileErrorf("read sheet %q: %v", t.sheet, err)
		}
		t.row = n
		if blank(cells) {
			continue
		}
		return cells, n, nil
	}
}

func (t *xlsxTable) value(cell string) (any, bool) {
	if strings.TrimSpace(cell) == "" {
		return nil, false
	}
	return cell, false
}

func (t *xlsxTable) describe() (string, string, string) { return "xlsx", EncodingUTF8, t.sheet }

func (t *xlsxTable) close() error {
	err := t.rows.close()
	if e := t.book.close(); err == nil {
		err = e
	}
	return err
}
