package filedrop

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/xuri/excelize/v2"
)

// dateCase is one cell of a date-format workbook: a serial number under a
// number format (a built-in id or a custom code).
type dateCase struct {
	numFmt int
	custom string
	serial float64
}

// writeDates writes one row per case under a header row, in the 1900 or
// the 1904 date system.
func writeDates(t *testing.T, path string, date1904 bool, cases []dateCase) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &date1904}); err != nil {
		t.Fatal(err)
	}
	_ = f.SetSheetRow("Sheet1", "A1", &[]any{"日期"})
	for i, c := range cases {
		st := &excelize.Style{NumFmt: c.numFmt}
		if c.custom != "" {
			st = &excelize.Style{CustomNumFmt: &c.custom}
		}
		id, err := f.NewStyle(st)
		if err != nil {
			t.Fatal(err)
		}
		cell := fmt.Sprintf("A%d", i+2)
		if err := f.SetCellFloat("Sheet1", cell, c.serial, -1, 64); err != nil {
			t.Fatal(err)
		}
		if err := f.SetCellStyle("Sheet1", cell, cell, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

// readColumn reads the first column of the data rows through the table.
func readColumn(t *testing.T, path string) []string {
	t.Helper()
	tb, err := openTable(path, filepath.Base(path), Options{HeaderRow: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.close()
	var out []string
	for {
		cells, _, err := tb.next()
		if err != nil {
			break
		}
		v, _ := tb.value(cells[0])
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// TestXLSXDates: date cells come out as Excel shows them, dates in the
// built-in short date format (14, and 22 with a time) as ISO text, in both
// date systems, Excel's phantom 1900-02-29 included.
func TestXLSXDates(t *testing.T) {
	cases := []struct {
		name     string
		date1904 bool
		cases    []dateCase
		want     []string
	}{
		{"1900", false, []dateCase{
			{numFmt: 14, serial: 42430},    // 2016-03-01
			{numFmt: 14, serial: 1},        // 1900-01-01
			{numFmt: 14, serial: 59},       // 1900-02-28
			{numFmt: 14, serial: 60},       // Excel's 1900-02-29
			{numFmt: 14, serial: 61},       // 1900-03-01
			{numFmt: 22, serial: 42430.75}, // with a time
			{numFmt: 14, serial: 42430.75}, // time dropped
			{numFmt: 21, serial: 0.5},      // h:mm:ss
			{numFmt: 20, serial: 0.75},     // h:mm
			{custom: `yyyy"年"m"月"d"日"`, serial: 42430},
			{custom: "yyyy/m/d", serial: 43789},
			{custom: "yyyy-mm-dd hh:mm:ss", serial: 43789.25},
			{numFmt: 0, serial: 42430}, // General: a number
		}, []string{
			"2016-03-01", "1900-01-01", "1900-02-28", "1900-02-29", "1900-03-01",
			"2016-03-01 18:00", "2016-03-01", "12:00:00", "18:00",
			"2016年3月1日", "2019/11/20", "2019-11-20 06:00:00", "42430",
		}},
		{"1904", true, []dateCase{
			{numFmt: 14, serial: 366},   // 1905-01-01 (1904 is a leap year)
			{numFmt: 14, serial: 40968}, // 2016-03-01
			{custom: `yyyy"年"m"月"d"日"`, serial: 40968},
		}, []string{"1905-01-01", "2016-03-01", "2016年3月1日"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "dates.xlsx")
			writeDates(t, p, tc.date1904, tc.cases)
			got := readColumn(t, p)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			// The same cells read by excelize with the patterns before the
			// locale tag was added: nothing changed.
			f, err := excelize.OpenFile(p, excelize.Options{ShortDatePattern: "yyyy-mm-dd", LongDatePattern: "yyyy-mm-dd", LongTimePattern: "hh:mm:ss"})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rows, err := f.GetRows("Sheet1")
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rows[1:] {
				if i < len(got) && r[0] != got[i] {
					t.Errorf("row %d: %q, untagged patterns give %q", i+2, got[i], r[0])
				}
			}
		})
	}
}
