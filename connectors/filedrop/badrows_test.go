package filedrop

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
)

// take reads the first batch of the file just dropped: the first read sees
// it, the second, a minute later, finds it stable and takes it.
func take(t *testing.T, s *Source, st connectors.Stream, now *time.Time, limit int) *connectors.Batch {
	t.Helper()
	read(t, s, st, "", limit)
	*now = now.Add(time.Minute)
	return read(t, s, st, "", limit)
}

// TestBadLinesAreRejectedRows: a CSV line with an extra or a missing cell
// is handed out in its place with nil values and a bad_row problem naming
// the file and line; the rows around it are read as usual and the file
// goes to done/, its report counting the bad rows and, from the pipeline's
// acknowledgements, the rejections by reason.
func TestBadLinesAreRejectedRows(t *testing.T) {
	s, dir, now := newSource(t, Options{})
	drop(t, dir, "a.csv", []byte("人员编号,姓名,证件号码\n"+
		"P1,张三,370282194902030311\n"+
		"P2,李,四,37028219330609092X\n"+ // line 3: an unquoted comma in the name
		"P3,王五,370282580312013\n"+
		"P4,赵六\n"+ // line 5: a cell missing
		"P5,钱七,370282194902030311\n"), mtime)
	st := stream("*.csv", "人员编号", "姓名", "证件号码")
	b := take(t, s, st, now, 10)
	want := "P1|张三|370282194902030311|a.csv|2|2024-06-15T02:00:00+08:00\n" +
		"∅|∅|∅|a.csv|3|2024-06-15T02:00:00+08:00\n" +
		"P3|王五|370282580312013|a.csv|4|2024-06-15T02:00:00+08:00\n" +
		"∅|∅|∅|a.csv|5|2024-06-15T02:00:00+08:00\n" +
		"P5|钱七|370282194902030311|a.csv|6|2024-06-15T02:00:00+08:00"
	if got := cells(b); got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
	wantProblems := []connectors.RowProblem{
		{Row: 1, Code: CodeBadRow, Message: `a.csv: line 3 has 4 cells, the header has 3: a separator is missing or one too many (an unquoted ',' inside a value?)`},
		{Row: 3, Code: CodeBadRow, Message: `a.csv: line 5 has 2 cells, the header has 3: a separator is missing or one too many (an unquoted ',' inside a value?)`},
	}
	if len(b.Problems) != 2 || b.Problems[0] != wantProblems[0] || b.Problems[1] != wantProblems[1] {
		t.Errorf("problems\n%+v\nwant\n%+v", b.Problems, wantProblems)
	}
	// The pipeline acknowledges the batch: the two bad rows and a row the
	// mapping rejected went to the DLQ. A batch acknowledged twice (read
	// again after a restart) counts once.
	rejected := map[string]int{CodeBadRow: 2, "bad_id_length": 1}
	s.Acked(st, b, rejected)
	s.Acked(st, b, rejected)
	read(t, s, st, b.Next, 10)
	rep := readReport(t, filepath.Join(dir, "done"), "a.csv")
	raw, _ := json.Marshal(rep)
	if rep["outcome"] != OutcomeDone || rep["rows_read"] != 5.0 || rep["rows_delivered"] != 5.0 || rep["rows_bad"] != 2.0 ||
		rep["rows_rejected"] != 3.0 {
		t.Errorf("report %s", raw)
	}
	if got, _ := json.Marshal(rep["rejected"]); string(got) != `{"bad_id_length":1,"bad_row":2}` {
		t.Errorf("rejected by reason %s", got)
	}
	if got, _ := json.Marshal(rep["bad_rows"]); !strings.Contains(string(got), "line 3 has 4 cells") || !strings.Contains(string(got), "line 5 has 2 cells") {
		t.Errorf("bad rows %s", got)
	}
	for _, clear := range []string{"张三", "李", "赵六", "370282", "P2"} {
		if strings.Contains(string(raw), clear) {
			t.Errorf("report holds %q: %s", clear, raw)
		}
	}
}

// TestBadRowAcrossBatchesAndRestart: a bad row's problem is indexed in
// the batch that carries it, also when it is the first row after a
// checkpoint a new process resumes from.
func TestBadRowAcrossBatchesAndRestart(t *testing.T) {
	s, dir, now := newSource(t, Options{})
	drop(t, dir, "a.csv", []byte("人员编号,姓名\nP1,甲\nP2,乙\nP3,丙,x\nP4,丁\n"), mtime)
	st := stream("*.csv", "人员编号", "姓名")
	b := take(t, s, st, now, 2)
	if b.Len() != 2 || len(b.Problems) != 0 {
		t.Fatalf("first batch: %d rows, problems %+v", b.Len(), b.Problems)
	}
	_ = s.Close()
	s2 := restart(t, dir, now)
	b2 := read(t, s2, st, b.Next, 2)
	if got := cells(b2); got != "∅|∅|a.csv|4|2024-06-15T02:00:00+08:00\nP4|丁|a.csv|5|2024-06-15T02:00:00+08:00" {
		t.Errorf("resumed with\n%s", got)
	}
	if len(b2.Problems) != 1 || b2.Problems[0].Row != 0 || !strings.HasPrefix(b2.Problems[0].Message, "a.csv: line 4 has 3 cells") {
		t.Errorf("problems %+v", b2.Problems)
	}
}

// TestRecordOverSeveralLinesIsNamed: a bad record that runs over several
// lines (a quote closed too late) is named by its first line, and the
// problem says where it ends.
func TestRecordOverSeveralLinesIsNamed(t *testing.T) {
	s, dir, now := newSource(t, Options{})
	drop(t, dir, "a.csv", []byte("人员编号,姓名\nP1,甲\nP2,\"乙\nP3\",丙,x\nP4,丁\n"), mtime)
	st := stream("*.csv", "人员编号", "姓名")
	b := take(t, s, st, now, 10)
	if b.Len() != 3 || len(b.Problems) != 1 || b.Problems[0].Row != 1 ||
		!strings.HasPrefix(b.Problems[0].Message, "a.csv: line 3 has 4 cells") || !strings.HasSuffix(b.Problems[0].Message, "the record runs on to line 4 (a quote not closed?)") {
		t.Errorf("%d rows, problems %+v", b.Len(), b.Problems)
	}
}

// TestMostlyBadFileFails: a file more than MaxBadRowPercent of whose rows
// are bad goes to failed/ before any row is sent; at the threshold itself
// it is read, and a stricter threshold per mapping fails it.
func TestMostlyBadFileFails(t *testing.T) {
	half := "人员编号,姓名\nP1,甲\nP2,乙,x\nP3,丙\nP4,丁;x,y\n" // 2 of 4 bad
	for _, tc := range []struct {
		name, content string
		pct           int
		want          string // "" : read
	}{
		{"three of four bad", "人员编号,姓名\nP1,甲\nP2,乙,x\nP3\nP4,丁,x\n", 0, "3 of 4 data rows (75%) cannot be read into columns, more than max_bad_row_percent 50%"},
		{"half bad, the default", half, 0, ""},
		{"half bad, at most 25%", half, 25, "2 of 4 data rows (50%)"},
		{"all bad, 100%", "人员编号,姓名\nP1\nP2\n", 100, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dir, now := newSource(t, Options{})
			s.cfg.Files = map[string]Options{"*.csv": {MaxBadRowPercent: tc.pct}}
			drop(t, dir, "bad.csv", []byte(tc.content), mtime)
			st := stream("*.csv", "人员编号", "姓名")
			b := take(t, s, st, now, 10)
			if tc.want == "" {
				if b.Len() == 0 || len(b.Problems) == 0 {
					t.Fatalf("%d rows, problems %v", b.Len(), b.Problems)
				}
				return
			}
			if b.Len() != 0 {
				t.Fatalf("%d rows of a failed file", b.Len())
			}
			rep := readReport(t, filepath.Join(dir, "failed"), "bad.csv")
			errText, _ := rep["error"].(string)
			if rep["outcome"] != OutcomeFailed || !strings.Contains(errText, tc.want) || !strings.Contains(errText, "the first: line 3 has 3 cells") {
				t.Errorf("report %v", rep)
			}
			if strings.Contains(errText, "乙") {
				t.Error("cell content in the report")
			}
		})
	}
}

// breakCells rewrites an XLSX file so that the cells of the given sheet
// rows have a malformed reference, which the sheet reader refuses.
func breakCells(t *testing.T, path string, rows ...string) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if f.Name == "xl/worksheets/sheet1.xml" {
			for _, r := range rows {
				if !bytes.Contains(b, []byte(`r="B`+r+`"`)) {
					t.Fatalf("no cell B%s in the sheet", r)
				}
				b = bytes.ReplaceAll(b, []byte(`r="B`+r+`"`), []byte(`r="B`+r+`?"`))
			}
		}
		w, _ := zw.Create(f.Name)
		_, _ = w.Write(b)
	}
	zr.Close()
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(path, mtime, mtime)
}

// TestUnreadableSheetRow: an XLSX row the sheet reader refuses is a bad
// row, and the rows after it are read; a workbook found mostly unreadable
// at its end goes to failed/ (its good rows are delivered by then: an XLSX
// file is streamed, not read twice).
func TestUnreadableSheetRow(t *testing.T) {
	rows := [][]any{{"P001", "张三"}, {"P002", "李四"}, {"P003", "王五"}}
	st := stream("花名册*.xlsx", "人员编号", "姓名")
	opts := map[string]Options{"花名册*.xlsx": {Sheet: "花名册", HeaderRow: 3}}

	s, dir, now := newSource(t, Options{})
	s.cfg.Files = opts
	p := filepath.Join(dir, "花名册.xlsx")
	writeRoster(t, p, rows)
	breakCells(t, p, "5")
	b := take(t, s, st, now, 10)
	want := "P001|张三|花名册.xlsx|4|2024-06-15T02:00:00+08:00\n" +
		"∅|∅|花名册.xlsx|5|2024-06-15T02:00:00+08:00\n" +
		"P003|王五|花名册.xlsx|6|2024-06-15T02:00:00+08:00"
	if got := cells(b); got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
	if len(b.Problems) != 1 || b.Problems[0].Row != 1 || !strings.HasPrefix(b.Problems[0].Message, `花名册.xlsx: sheet "花名册" row 5 cannot be read`) {
		t.Errorf("problems %+v", b.Problems)
	}
	read(t, s, st, b.Next, 10)
	if rep := readReport(t, filepath.Join(dir, "done"), "花名册.xlsx"); rep["rows_bad"] != 1.0 || rep["outcome"] != OutcomeDone {
		t.Errorf("report %v", rep)
	}

	s, dir, now = newSource(t, Options{})
	s.cfg.Files = opts
	p = filepath.Join(dir, "花名册.xlsx")
	writeRoster(t, p, rows)
	breakCells(t, p, "4", "6")
	b = take(t, s, st, now, 10)
	if b.Len() != 3 || len(b.Problems) != 2 {
		t.Fatalf("%d rows, problems %+v", b.Len(), b.Problems)
	}
	read(t, s, st, b.Next, 10)
	rep := readReport(t, filepath.Join(dir, "failed"), "花名册.xlsx")
	if errText, _ := rep["error"].(string); rep["outcome"] != OutcomeFailed || rep["rows_delivered"] != 3.0 ||
		!strings.Contains(errText, "2 of 3 data rows (66%)") {
		t.Errorf("report %v", rep)
	}
}

func TestMaxBadRowPercentRange(t *testing.T) {
	_, err := New("x", Config{Dir: t.TempDir(), Options: Options{MaxBadRowPercent: 101}}, nil)
	if err == nil || !strings.Contains(err.Error(), "max_bad_row_percent: must be 1 to 100, got 101") {
		t.Errorf("error %v", err)
	}
}

var _ connectors.AckObserver = (*Source)(nil)
