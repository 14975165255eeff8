package filedrop

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// The XLSX reader streams the chosen worksheet part with encoding/xml's
// token API: excelize's row iterator decodes every cell by reflection,
// which cost most of the time and nearly all the allocations of reading a
// roster. The workbook's small parts (workbook, relationships, styles) are
// decoded whole; the shared strings are held once, as strings.
//
// Cells come out as excelize shows them (the previous reader's output):
// text as is, General numbers as excelize prints them, dates in the
// built-in short date formats as 2006-01-02 (15:04). Any other number
// format is formatted by excelize itself, on a one-cell scratch workbook
// (excelize has no public formatter for one value), with the results
// cached per style. Date formats in the 1904 date system are formatted as
// the same instant in the 1900 system, which excelize gets right, where it
// prints 1904 serials below 61 by 1900 rules.

// xlsxMaxRows is Excel's (and excelize's) limit of rows per sheet.
const xlsxMaxRows = 1048576

// xlsxOptions are the excelize options the cells are formatted with. The
// [$-409] locale tag changes nothing in digits-only patterns, but lets
// excelize find the language by its id: without a tag it searches every
// language it knows for each date cell.
func xlsxOptions() excelize.Options {
	return excelize.Options{ShortDatePattern: xlsxShortDate, LongDatePattern: xlsxShortDate, LongTimePattern: xlsxLongTime}
}

// xlsxStyle is what the reader needs of one cellXfs entry.
type xlsxStyle struct {
	numFmt  int
	code    string // the custom format code, "" for a built-in format
	custom  bool
	general bool // General: numbers as excelize prints them
	text    bool // "@": text as is
	date    bool // a date or time format, not elapsed time ([h])
}

// xlsxBook is an open workbook: its parts and what the sheet needs.
type xlsxBook struct {
	zr       *zip.ReadCloser
	parts    map[string]*zip.File // by lower-case name
	sheets   []string
	paths    []string // worksheet part of each sheet
	date1904 bool
	sst      []string
	styles   []xlsxStyle
}

func (b *xlsxBook) part(name string) *zip.File { return b.parts[strings.ToLower(name)] }

// decodePart decodes a small part whole; a missing part leaves v as is.
func (b *xlsxBook) decodePart(name string, v any) error {
	f := b.part(name)
	if f == nil {
		return nil
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer rc.Close()
	if err := xml.NewDecoder(rc).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

type xlsxRels struct {
	Rels []struct {
		ID     string `xml:"Id,attr"`
		Type   string `xml:"Type,attr"`
		Target string `xml:"Target,attr"`
	} `xml:"Relationship"`
}

type xlsxWorkbookPart struct {
	Pr struct {
		Date1904 string `xml:"date1904,attr"`
	} `xml:"workbookPr"`
	Sheets []struct {
		Name  string     `xml:"name,attr"`
		Attrs []xml.Attr `xml:",any,attr"`
	} `xml:"sheets>sheet"`
}

type xlsxStylesPart struct {
	NumFmts []struct {
		ID   int    `xml:"numFmtId,attr"`
		Code string `xml:"formatCode,attr"`
	} `xml:"numFmts>numFmt"`
	Xfs []struct {
		NumFmt int `xml:"numFmtId,attr"`
	} `xml:"cellXfs>xf"`
}

// openXLSXBook opens the workbook and reads its sheet list, relationships,
// styles and shared strings.
func openXLSXBook(filePath string) (*xlsxBook, error) {
	zr, err := zip.OpenReader(filePath)
	if err != nil {
		return nil, err
	}
	b := &xlsxBook{zr: zr, parts: make(map[string]*zip.File, len(zr.File))}
	for _, f := range zr.File {
		b.parts[strings.ToLower(strings.TrimPrefix(f.Name, "/"))] = f
	}
	if err := b.load(); err != nil {
		zr.Close()
		return nil, err
	}
	return b, nil
}

func (b *xlsxBook) load() error {
	const wbPath = "xl/workbook.xml"
	if b.part(wbPath) == nil {
		return errors.New("no xl/workbook.xml in the file")
	}
	var wb xlsxWorkbookPart
	if err := b.decodePart(wbPath, &wb); err != nil {
		return err
	}
	b.date1904 = wb.Pr.Date1904 == "1" || wb.Pr.Date1904 == "true"
	var rels xlsxRels
	if err := b.decodePart("xl/_rels/workbook.xml.rels", &rels); err != nil {
		return err
	}
	target := map[string]string{}
	sstPath, stylesPath := "xl/sharedStrings.xml", "xl/styles.xml"
	for _, r := range rels.Rels {
		p := r.Target
		if strings.HasPrefix(p, "/") {
			p = strings.TrimPrefix(p, "/")
		} else {
			p = path.Join("xl", p)
		}
		target[r.ID] = p
		switch {
		case strings.HasSuffix(r.Type, "/sharedStrings"):
			sstPath = p
		case strings.HasSuffix(r.Type, "/styles"):
			stylesPath = p
		}
	}
	for _, s := range wb.Sheets {
		p := ""
		for _, a := range s.Attrs {
			if a.Name.Local == "id" && a.Name.Space != "" {
				p = target[a.Value]
			}
		}
		b.sheets = append(b.sheets, s.Name)
		b.paths = append(b.paths, p)
	}
	if err := b.loadStyles(stylesPath); err != nil {
		return err
	}
	return b.loadSharedStrings(sstPath)
}

func (b *xlsxBook) loadStyles(name string) error {
	var st xlsxStylesPart
	if err := b.decodePart(name, &st); err != nil {
		return err
	}
	codes := make(map[int]string, len(st.NumFmts))
	for _, n := range st.NumFmts {
		codes[n.ID] = n.Code
	}
	b.styles = make([]xlsxStyle, len(st.Xfs))
	for i, xf := range st.Xfs {
		s := xlsxStyle{numFmt: xf.NumFmt}
		if code, ok := codes[xf.NumFmt]; ok {
			s.code, s.custom = code, true
			s.general = strings.EqualFold(code, "general")
			s.text = code == "@"
			s.date = isDateFormat(code)
		} else {
			s.general = xf.NumFmt == 0
			s.text = xf.NumFmt == 49
			s.date = xf.NumFmt >= 14 && xf.NumFmt <= 22 || xf.NumFmt == 45 || xf.NumFmt == 47
		}
		b.styles[i] = s
	}
	return nil
}

// isDateFormat reports whether a format code shows a date or a time of
// day: y, m, d, h or s outside quotes, brackets and escapes, and no
// elapsed time ([h], [mm], [ss]), which counts from zero, not a date.
func isDateFormat(code string) bool {
	date := false
	for i := 0; i < len(code); i++ {
		switch c := code[i]; c {
		case '"':
			for i++; i < len(code) && code[i] != '"'; i++ {
			}
		case '\\', '_', '*':
			i++
		case '[':
			j := strings.IndexByte(code[i:], ']')
			if j < 0 {
				return false
			}
			if inner := strings.ToLower(code[i+1 : i+j]); inner != "" && strings.Trim(inner, "hms") == "" {
				return false
			}
			i += j
		case ';':
			return date // the first section decides
		default:
			switch c | 0x20 {
			case 'y', 'm', 'd', 'h', 's':
				if strings.HasPrefix(strings.ToLower(code[i:]), "general") {
					i += len("general") - 1
					continue
				}
				date = true
			}
		}
	}
	return date
}

// loadSharedStrings reads the shared string table with the token API:
// each item's text, its rich text runs joined, phonetic runs left out.
func (b *xlsxBook) loadSharedStrings(name string) error {
	f := b.part(name)
	if f == nil {
		return nil
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer rc.Close()
	d := xml.NewDecoder(rc)
	var buf []byte
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "sst":
				if n, err := strconv.Atoi(attr(el, "uniqueCount")); err == nil && n > 0 && n < 1<<22 {
					b.sst = make([]string, 0, n)
				}
			case "si":
				if buf, err = readText(d, buf[:0], "si"); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				b.sst = append(b.sst, unescapeBSTR(string(buf)))
			}
		}
	}
}

// readText appends the text of the <t> elements inside the element being
// read (a shared string item or an inline string) up to its end, leaving
// out phonetic runs (<rPh>).
func readText(d *xml.Decoder, buf []byte, end string) ([]byte, error) {
	inT, skip := false, 0
	for {
		tok, err := d.RawToken()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "rPh":
				skip++
			case "t":
				inT = skip == 0
			}
		case xml.EndElement:
			switch el.Name.Local {
			case "rPh":
				skip--
			case "t":
				inT = false
			case end:
				return buf, nil
			}
		case xml.CharData:
			if inT {
				buf = append(buf, el...)
			}
		}
	}
}

func attr(el xml.StartElement, name string) string {
	for _, a := range el.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// unescapeBSTR decodes the _xHHHH_ escapes Excel writes for characters
// XML cannot hold (_x005F_ is a literal underscore), as excelize does.
func unescapeBSTR(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var out strings.Builder
	for {
		i := strings.Index(s, "_x")
		if i < 0 || len(s) < i+7 {
			break
		}
		if s[i+6] == '_' {
			if n, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
				out.WriteString(s[:i])
				out.WriteRune(rune(n))
				s = s[i+7:]
				continue
			}
		}
		out.WriteString(s[:i+1])
		s = s[i+1:]
	}
	out.WriteString(s)
	return out.String()
}

func (b *xlsxBook) close() error { return b.zr.Close() }

// sheetReader streams the rows of one worksheet part.
type sheetReader struct {
	book   *xlsxBook
	rc     io.ReadCloser
	d      *xml.Decoder
	row    int // the sheet row last read
	cells  []string
	text   []byte // the row's cell text, one string per row
	ends   []int  // end of each cell's text in text; -1 for a shared string
	cols   []int  // column of each cell
	shared []string
	v      []byte // the current cell's value
	fb     *xlsxFallback
}

func (b *xlsxBook) openSheet(i int) (*sheetReader, error) {
	f := b.part(b.paths[i])
	if f == nil {
		return nil, fmt.Errorf("the sheet's part %q is not in the file", b.paths[i])
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	return &sheetReader{book: b, rc: rc, d: xml.NewDecoder(rc)}, nil
}

func (r *sheetReader) close() error { return r.rc.Close() }

// cellError is a row whose cells cannot be read (a bad reference): the
// row is skipped up to its end and reported bad.
type cellError struct{ err error }

func (e *cellError) Error() string { return e.err.Error() }

// next reads the next row element: its cells (valid until the next call,
// empty cells as "", trailing empty cells left off) and its row number.
// It returns io.EOF after the last row, a *cellError for a row whose cells
// cannot be read, and any other error for a part that cannot be read on.
func (r *sheetReader) next() ([]string, int, error) {
	for {
		tok, err := r.d.RawToken()
		if err != nil {
			return nil, r.row, err
		}
		el, ok := tok.(xml.StartElement)
		if !ok || el.Name.Local != "row" {
			continue
		}
		n := r.row + 1
		if v := attr(el, "r"); v != "" {
			if n, err = strconv.Atoi(v); err != nil || n < 1 {
				return nil, r.row, fmt.Errorf("row %d: row number %q", r.row+1, v)
			}
		}
		if n > xlsxMaxRows {
			return nil, r.row, fmt.Errorf("row %d: more than %d rows", n, xlsxMaxRows)
		}
		r.row = n
		cells, err := r.readRow()
		return cells, n, err
	}
}

func (r *sheetReader) readRow() ([]string, error) {
	r.text, r.ends, r.cols, r.shared = r.text[:0], r.ends[:0], r.cols[:0], r.shared[:0]
	col := 0
	var bad error
	for {
		tok, err := r.d.RawToken()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if el.Name.Local != "c" {
				continue
			}
			col++
			if err := r.readCell(el, &col); err != nil {
				var ce *cellError
				if !errors.As(err, &ce) {
					return nil, err
				}
				if bad == nil {
					bad = err
				}
			}
		case xml.EndElement:
			if el.Name.Local == "row" {
				if bad != nil {
					return nil, bad
				}
				return r.build(), nil
			}
		}
	}
}

// build makes the row's cells from the text read: one string for all the
// text not taken from the shared strings.
func (r *sheetReader) build() []string {
	r.cells = r.cells[:0]
	text := string(r.text)
	start, k := 0, 0
	for i, col := range r.cols {
		for len(r.cells) < col-1 {
			r.cells = append(r.cells, "")
		}
		var s string
		if r.ends[i] < 0 {
			s = r.shared[k]
			k++
		} else {
			s = text[start:r.ends[i]]
			start = r.ends[i]
		}
		if len(r.cells) == col-1 {
			r.cells = append(r.cells, s)
		} else {
			r.cells[col-1] = s // a cell written twice: the last wins
		}
	}
	return r.cells
}

// readCell reads a <c> element up to its end and adds its display text.
func (r *sheetReader) readCell(el xml.StartElement, col *int) error {
	var typ string
	xf := 0
	var refErr error
	for _, a := range el.Attr {
		switch a.Name.Local {
		case "r":
			c, _, err := excelize.CellNameToCoordinates(a.Value)
			if err != nil {
				refErr = err
			} else {
				*col = c
			}
		case "t":
			typ = a.Value
		case "s":
			n, err := strconv.Atoi(a.Value)
			if err != nil {
				refErr = fmt.Errorf("style %q: %w", a.Value, err)
			}
			xf = n
		}
	}
	r.v = r.v[:0]
	formula, inline := false, false
	in := ""
	for done := false; !done; {
		tok, err := r.d.RawToken()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "v":
				in = "v"
			case "f":
				formula, in = true, "f"
			case "is":
				inline = true
				if r.v, err = readText(r.d, r.v[:0], "is"); err != nil {
					return err
				}
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "c":
				done = true
			case "v", "f":
				in = ""
			}
		case xml.CharData:
			if in == "v" && !inline {
				r.v = append(r.v, t...)
			}
		}
	}
	if refErr != nil {
		return &cellError{refErr}
	}
	if len(r.v) == 0 && !formula && typ != "s" {
		return nil
	}
	before := len(r.text)
	switch typ {
	case "s":
		if len(r.v) == 0 {
			if !formula {
				return nil
			}
			break
		}
		i, err := strconv.Atoi(string(bytes.TrimSpace(r.v)))
		if err != nil || i < 0 || i >= len(r.book.sst) {
			return &cellError{fmt.Errorf("shared string %q not in the workbook's %d", r.v, len(r.book.sst))}
		}
		s := r.book.sst[i]
		if st := r.book.style(xf); st != nil && !st.general && !st.text {
			r.text = append(r.text, r.fallback().format(xf, st, s, true)...)
			break
		}
		r.cols = append(r.cols, *col)
		r.ends = append(r.ends, -1)
		r.shared = append(r.shared, s)
		return nil
	case "inlineStr":
		if !inline {
			r.text = append(r.text, r.v...)
			break
		}
		s := r.v
		if bytes.Contains(s, []byte("_x")) {
			s = []byte(unescapeBSTR(string(s)))
		}
		if st := r.book.style(xf); st != nil && !st.general && !st.text {
			r.text = append(r.text, r.fallback().format(xf, st, string(s), true)...)
			break
		}
		r.text = append(r.text, s...)
	case "str", "d", "e":
		// Formula text, an ISO date cell (which Excel does not write) and
		// an error value (#N/A) are shown as stored.
		r.text = append(r.text, r.v...)
	case "b":
		switch string(r.v) {
		case "1":
			r.text = append(r.text, "TRUE"...)
		case "0":
			r.text = append(r.text, "FALSE"...)
		default:
			r.text = append(r.text, r.v...)
		}
	default:
		r.text = r.appendNumber(r.text, xf)
	}
	if len(r.text) == before && !formula {
		return nil
	}
	r.cols = append(r.cols, *col)
	r.ends = append(r.ends, len(r.text))
	return nil
}

func (b *xlsxBook) style(xf int) *xlsxStyle {
	if xf <= 0 || xf >= len(b.styles) {
		return nil // excelize shows the value as stored
	}
	return &b.styles[xf]
}

// appendNumber appends the display text of the number in r.v under the
// style xf.
func (r *sheetReader) appendNumber(dst []byte, xf int) []byte {
	v := r.v
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || bytes.IndexByte(v, '_') >= 0 {
		return append(dst, v...) // not a number: as stored
	}
	st := r.book.style(xf)
	if st == nil || st.general {
		return appendGeneral(dst, v, f, st != nil)
	}
	if !st.custom && (st.numFmt == 14 || st.numFmt == 22) && f >= 0 {
		serial := f
		if r.book.date1904 {
			serial += 1462
		}
		if days := math.Floor(serial); days > 61 && days < 2958466 {
			t := excelTime(serial)
			if st.numFmt == 14 {
				return t.AppendFormat(dst, "2006-01-02")
			}
			return t.AppendFormat(dst, "2006-01-02 15:04")
		}
	}
	return append(dst, r.fallback().format(xf, st, string(v), false)...)
}

// appendGeneral appends a number as excelize shows it in General: as
// stored up to 15 significant digits, and, in a cell that has a style,
// longer numbers (more than 11 digits) with 10 significant digits.
func appendGeneral(dst, v []byte, f float64, styled bool) []byte {
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	digits := len(dst) - start - bytes.Count(dst[start:], []byte("."))
	if digits > 15 && !withinPrecision(v) {
		dst = strconv.AppendFloat(dst[:start], f, 'G', 15, 64)
	}
	if styled {
		g := dst[start:]
		if gf, err := strconv.ParseFloat(string(g), 64); err == nil {
			t := strconv.AppendFloat(nil, gf, 'f', -1, 64)
			if len(t)-bytes.Count(t, []byte(".")) > 11 {
				dst = strconv.AppendFloat(dst[:start], gf, 'G', 10, 64)
			}
		}
	}
	return dst
}

// withinPrecision: an integer whose digits after the 15th are zeros.
func withinPrecision(v []byte) bool {
	if bytes.ContainsAny(v, ".Ee") {
		return false
	}
	v = bytes.TrimLeft(v, "+-0")
	return len(bytes.TrimRight(v, "0")) <= 15
}

var excel1900Epoch = time.Date(1899, time.December, 30, 0, 0, 0, 0, time.UTC)

// excelTime is the time of a 1900-system serial after 1900-03-01, rounded
// to the second as excelize rounds it.
func excelTime(serial float64) time.Time {
	days := math.Floor(serial)
	frac := serial - days + 1e-9
	t := excel1900Epoch.AddDate(0, 0, int(days)).Add(time.Duration(float64(24*time.Hour) * frac))
	if t.Nanosecond()/1e6 > 500 {
		return t.Round(time.Second)
	}
	return t.Truncate(time.Second)
}

func (r *sheetReader) fallback() *xlsxFallback {
	if r.fb == nil {
		r.fb = &xlsxFallback{date1904: r.book.date1904, styles: map[int]int{}, cache: map[int]map[string]string{}}
	}
	return r.fb
}

// xlsxFallback formats values in number formats the reader does not
// format itself with excelize: on a scratch workbook of one cell, whose
// style has the same number format, the results cached per style.
type xlsxFallback struct {
	f        *excelize.File
	date1904 bool
	styles   map[int]int // cellXfs index → scratch style
	cache    map[int]map[string]string
}

const fallbackCacheSize = 4096

func (fb *xlsxFallback) format(xf int, st *xlsxStyle, v string, text bool) string {
	key := xf
	if text {
		key = -1 - xf
	}
	c := fb.cache[key]
	if out, ok := c[v]; ok {
		return out
	}
	out := fb.formatNew(xf, st, v, text)
	if c == nil || len(c) >= fallbackCacheSize {
		c = make(map[string]string)
		fb.cache[key] = c
	}
	c[v] = out
	return out
}

func (fb *xlsxFallback) formatNew(xf int, st *xlsxStyle, v string, text bool) string {
	if fb.f == nil {
		fb.f = excelize.NewFile(xlsxOptions())
	}
	id, ok := fb.styles[xf]
	if !ok {
		s := &excelize.Style{NumFmt: st.numFmt}
		if st.custom {
			s = &excelize.Style{CustomNumFmt: &st.code}
		}
		var err error
		if id, err = fb.f.NewStyle(s); err != nil {
			id = -1
		}
		fb.styles[xf] = id
	}
	if id < 0 {
		return v
	}
	get := func(v string) string {
		var err error
		if text {
			err = fb.f.SetCellStr("Sheet1", "A1", v)
		} else {
			err = fb.f.SetCellDefault("Sheet1", "A1", v)
		}
		if err == nil {
			err = fb.f.SetCellStyle("Sheet1", "A1", "A1", id)
		}
		out, err2 := fb.f.GetCellValue("Sheet1", "A1")
		if err != nil || err2 != nil {
			return v
		}
		return out
	}
	if !text && fb.date1904 && st.date {
		// The same instant in the 1900 system (1904-01-01 is 1462 there),
		// which excelize formats right for every serial.
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
			shifted := strconv.FormatFloat(f+1462, 'f', -1, 64)
			if out := get(shifted); out != shifted {
				return out
			}
		}
	}
	return get(v)
}
