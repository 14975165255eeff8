package filedrop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/hpgate/hpgate/connectors"
)

// stream is a roster mapping's stream as the mapping engine builds it.
func stream(table string, cols ...string) connectors.Stream {
	return connectors.Stream{Name: "roster", Table: table, Mode: "incremental", TimestampColumn: ColumnFileTime,
		KeyColumns: []string{"人员编号"}, Columns: append(cols, ColumnFileTime)}
}

// newSource returns a source on a fresh drop directory with a fake clock.
func newSource(t *testing.T, opts Options) (*Source, string, *time.Time) {
	t.Helper()
	dir := t.TempDir()
	s, err := New("drop", Config{Dir: dir, QuietPeriod: time.Minute, Options: opts}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := new(time.Date(2024, 6, 15, 9, 0, 0, 0, time.UTC))
	s.now = func() time.Time { return *now }
	t.Cleanup(func() { _ = s.Close() })
	return s, dir, now
}

// restart returns a new source on dir, as a new process would open it,
// on the same fake clock.
func restart(t *testing.T, dir string, now *time.Time) *Source {
	t.Helper()
	s, err := New("drop", Config{Dir: dir, QuietPeriod: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return *now }
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// drop writes a file with the given modification time.
func drop(t *testing.T, dir, name string, content []byte, mtime time.Time) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func gbk(t *testing.T, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func read(t *testing.T, s *Source, st connectors.Stream, after connectors.Position, limit int) *connectors.Batch {
	t.Helper()
	b, err := s.Read(context.Background(), st, after, limit)
	if err != nil {
		t.Fatalf("Read after %q: %v", after, err)
	}
	return b
}

// cells renders a batch's rows as text, one row per line, cells joined by |.
func cells(b *connectors.Batch) string {
	var lines []string
	for _, r := range b.Rows {
		var c []string
		for _, v := range r {
			switch x := v.(type) {
			case nil:
				c = append(c, "∅")
			case time.Time:
				c = append(c, x.Format(time.RFC3339))
			case []byte:
				c = append(c, fmt.Sprintf("bytes:%d", len(x)))
			default:
				c = append(c, strings.ReplaceAll(fmt.Sprint(v), "|", "/"))
			}
		}
		lines = append(lines, strings.Join(c, "|"))
	}
	return strings.Join(lines, "\n")
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if !e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

func readReport(t *testing.T, dir, suffix string) map[string]any {
	t.Helper()
	for _, n := range files(t, dir) {
		if strings.HasSuffix(n, suffix+".report.json") {
			m, err := ReadReport(filepath.Join(dir, n))
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("no report for %s in %s: %v", suffix, dir, files(t, dir))
	return nil
}

var mtime = time.Date(2024, 6, 14, 18, 0, 0, 0, time.UTC)

func TestCSVEncodings(t *testing.T) {
	const text = "序号,人员编号,姓名,证件号码\n1,P001,张三,370282194902030311\n2,P002,\"李,四\",37028219330609092X\n"
	for _, tc := range []struct {
		name, enc, wantEnc string
		content            []byte
	}{
		{"gbk declared", "gbk", "gbk", nil},
		{"gbk detected", "", "gbk", nil},
		{"utf-8 with a byte order mark, gbk declared", "gbk", "utf8", append([]byte("\xEF\xBB\xBF"), text...)},
		{"utf-8 detected", "", "utf8", []byte(text)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dir, now := newSource(t, Options{Encoding: tc.enc})
			content := tc.content
			if content == nil {
				content = gbk(t, text)
			}
			drop(t, dir, "花名册.csv", content, mtime)
			st := stream("花名册*.csv", "人员编号", "姓名", "证件号码")
			if b := read(t, s, st, "", 10); b.Len() != 0 {
				t.Fatalf("a file seen for the first time was taken: %d rows", b.Len())
			}
			*now = now.Add(time.Minute)
			b := read(t, s, st, "", 10)
			want := "P001|张三|370282194902030311|花名册.csv|2|2024-06-15T02:00:00+08:00\n" +
				"P002|李,四|37028219330609092X|花名册.csv|3|2024-06-15T02:00:00+08:00"
			if got := strings.ReplaceAll(cells(b), "/", "|"); got != want {
				t.Errorf("rows:\n%s\nwant:\n%s", got, want)
			}
			if !slices.Equal(b.Columns, []string{"人员编号", "姓名", "证件号码", ColumnFile, ColumnRow, ColumnFileTime}) {
				t.Errorf("columns %v", b.Columns)
			}
			if b.Len() != 2 || b.Next != b.Positions[1] {
				t.Fatalf("positions %v next %q", b.Positions, b.Next)
			}
			// The batch was short: the next read is after an acknowledgement.
			if b2 := read(t, s, st, b.Next, 10); b2.Len() != 0 {
				t.Fatalf("%d rows after the end", b2.Len())
			}
			rep := readReport(t, filepath.Join(dir, "done"), "花名册.csv")
			if rep["encoding"] != tc.wantEnc || rep["rows_read"] != 2.0 || rep["rows_delivered"] != 2.0 || rep["outcome"] != "done" {
				t.Errorf("report %v", rep)
			}
			raw, _ := json.Marshal(rep)
			for _, clear := range []string{"张三", "370282194902030311", "P001"} {
				if strings.Contains(string(raw), clear) {
					t.Errorf("report holds %q", clear)
				}
			}
		})
	}
}

// writeRoster writes an XLSX roster: a merged title row, an export-date
// row, the header on row 3, then rows; dates as Excel date cells.
func writeRoster(t testing.TB, path string, rows [][]any) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sh := "花名册"
	if err := f.SetSheetName("Sheet1", sh); err != nil {
		t.Fatal(err)
	}
	_ = f.SetCellValue(sh, "A1", "即墨区建档立卡贫困人口花名册")
	_ = f.MergeCell(sh, "A1", "E1")
	_ = f.SetCellValue(sh, "A2", "导出时间：2024-06-14")
	hdr := []any{"人员编号", "姓名", "证件号码", "状态\n变更日期", "脱贫年度"}
	_ = f.SetSheetRow(sh, "A3", &hdr)
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+4)
		_ = f.SetSheetRow(sh, cell, &r)
		if len(r) > 3 {
			if _, ok := r[3].(float64); ok {
				d, _ := excelize.CoordinatesToCellName(4, i+4)
				_ = f.SetCellStyle(sh, d, d, dateStyle)
			}
		}
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

func TestXLSXRoster(t *testing.T) {
	s, dir, now := newSource(t, Options{})
	s.cfg.Files = map[string]Options{"花名册*.xlsx": {Sheet: "花名册", HeaderRow: 3}}
	p := filepath.Join(dir, "花名册202406.xlsx")
	writeRoster(t, p, [][]any{
		{"P001", "张三", "370282194902030311", 42430.0, ""},        // 2016-03-01 as a date cell
		{"P002", "李四", "37028219330609092X", "2019/11/20", 2019}, // a date typed as text
		{},
		{"P003", "王五", "370282580312013"},
	})
	_ = os.Chtimes(p, mtime, mtime)
	st := stream("花名册*.xlsx", "人员编号", "姓名", "证件号码", "状态变更日期", "脱贫年度")
	read(t, s, st, "", 2)
	*now = now.Add(time.Minute)
	b := read(t, s, st, "", 2)
	want := "P001|张三|370282194902030311|2016-03-01|∅|花名册202406.xlsx|4|2024-06-15T02:00:00+08:00\n" +
		"P002|李四|37028219330609092X|2019/11/20|2019|花名册202406.xlsx|5|2024-06-15T02:00:00+08:00"
	if got := cells(b); got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
	// A full batch: the next read may be a read-ahead, so the file stays
	// until a read shows the end acknowledged.
	b2 := read(t, s, st, b.Next, 2)
	if got := cells(b2); got != "P003|王五|370282580312013|∅|∅|花名册202406.xlsx|7|2024-06-15T02:00:00+08:00" {
		t.Errorf("third row %q", got)
	}
	if len(files(t, filepath.Join(dir, "done"))) != 0 {
		t.Fatal("moved before the last rows were acknowledged")
	}
	read(t, s, st, b2.Next, 2)
	if got := files(t, dir); len(got) != 0 {
		t.Errorf("drop directory still holds %v", got)
	}
	rep := readReport(t, filepath.Join(dir, "done"), "花名册202406.xlsx")
	if rep["sheet"] != "花名册" || rep["rows_read"] != 3.0 || rep["format"] != "xlsx" {
		t.Errorf("report %v", rep)
	}
}

func TestAcknowledgementAfterFullBatchAtTheEnd(t *testing.T) {
	s, dir, now := newSource(t, Options{})
	drop(t, dir, "a.csv", []byte("人员编号\nP1\nP2\n"), mtime)
	st := stream("*.csv", "人员编号")
	read(t, s, st, "", 2)
	*now = now.Add(time.Minute)
	b := read(t, s, st, "", 2) // full: P1 P2
	if b.Len() != 2 {
		t.Fatalf("%d rows", b.Len())
	}
	// The pipeline reads ahead while the batch is written: not acknowledged.
	if b2 := read(t, s, st, b.Next, 2); b2.Len() != 0 || b2.Next != b.Next {
		t.Fatalf("read-ahead gave %d rows, next %q", b2.Len(), b2.Next)
	}
	if len(files(t, dir)) != 1 {
		t.Fatal("moved on a read-ahead")
	}
	// The batch acknowledged, the pipeline reads from its end again.
	read(t, s, st, b.Next, 2)
	if len(files(t, filepath.Join(dir, "done"))) != 3 { // the file, its report, the ledger
		t.Errorf("done holds %v", files(t, filepath.Join(dir, "done")))
	}
}

func TestRestartResumesInTheSameFile(t *testing.T) {
	s, dir, now := newSource(t, Options{})
	var sb strings.Builder
	sb.WriteString("人员编号\n")
	for i := range 10 {
		sb.WriteString("P" + string(rune('0'+i)) + "\n")
	}
	drop(t, dir, "a.csv", []byte(sb.String()), mtime)
	st := stream("*.csv", "人员编号")
	read(t, s, st, "", 4)
	*now = now.Add(time.Minute)
	b := read(t, s, st, "", 4)
	_ = s.Close()

	// A new process: a fresh source, resumed from the checkpoint.
	s2 := restart(t, dir, now)
	b2 := read(t, s2, st, b.Next, 4)
	if got := cells(b2); !strings.HasPrefix(got, "P4|a.csv|6|") || b2.Len() != 4 {
		t.Errorf("resumed with\n%s", got)
	}
	// Going back (a checkpoint reset) reads the file again from its start,
	// once it is seen stable by this process.
	read(t, s2, st, "", 4)
	*now = now.Add(time.Minute)
	if got := cells(read(t, s2, st, "", 4)); !strings.HasPrefix(got, "P0|a.csv|2|") {
		t.Errorf("after a reset\n%s", got)
	}
}

func TestDuplicateIsNotSentAgain(t *testing.T) {
	s, dir, now := newSource(t, Options{})
	content := []byte("人员编号\nP1\n")
	drop(t, dir, "a.csv", content, mtime)
	st := stream("*.csv", "人员编号")
	read(t, s, st, "", 10)
	*now = now.Add(time.Minute)
	b := read(t, s, st, "", 10)
	read(t, s, st, b.Next, 10)
	drop(t, dir, "a-again.csv", content, mtime.Add(time.Hour))
	read(t, s, st, b.Next, 10)
	*now = now.Add(time.Minute)
	if b2 := read(t, s, st, b.Next, 10); b2.Len() != 0 {
		t.Fatalf("a duplicate was sent again: %d rows", b2.Len())
	}
	rep := readReport(t, filepath.Join(dir, "done"), "a-again.csv")
	if rep["outcome"] != OutcomeDuplicate || !strings.HasSuffix(rep["duplicate_of"].(string), "_a.csv") {
		t.Errorf("report %v", rep)
	}
	// The ledger survives a restart.
	s2 := restart(t, dir, now)
	drop(t, dir, "a-third.csv", content, mtime.Add(2*time.Hour))
	read(t, s2, st, b.Next, 10)
	*now = now.Add(time.Minute)
	if b3 := read(t, s2, st, b.Next, 10); b3.Len() != 0 {
		t.Errorf("a duplicate was sent after a restart")
	}
	if len(files(t, dir)) != 0 {
		t.Errorf("left in the drop directory: %v", files(t, dir))
	}
}

func TestFilesThatFail(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"missing column", "人员编号,姓名\nP1,张三\n", "lacks the column(s) 证件号码"},
		{"mostly lines with an extra separator", "人员编号,姓名,证件号码\nP1,张三,370282194902030311\nP2,李,四,37028219330609092X\nP3,王,五,37028219330609092X\n",
			"2 of 3 data rows (66%) cannot be read into columns, more than max_bad_row_percent 50%"},
		{"utf-16", "\xFF\xFEa\x00", "UTF-16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dir, now := newSource(t, Options{})
			drop(t, dir, "bad.csv", []byte(tc.content), mtime)
			st := stream("*.csv", "人员编号", "姓名", "证件号码")
			read(t, s, st, "", 10)
			*now = now.Add(time.Minute)
			if b := read(t, s, st, "", 10); b.Len() != 0 {
				t.Fatalf("%d rows of a failed file", b.Len())
			}
			rep := readReport(t, filepath.Join(dir, "failed"), "bad.csv")
			if rep["outcome"] != OutcomeFailed || !strings.Contains(rep["error"].(string), tc.want) {
				t.Errorf("report %v", rep)
			}
			if strings.Contains(rep["error"].(string), "张三") {
				t.Error("cell content in the report")
			}
		})
	}
}

func TestHalfWrittenAndTemporaryFilesWait(t *testing.T) {
	s, dir, now := newSource(t, Options{})
	st := stream("*.csv", "人员编号")
	drop(t, dir, "~$roster.csv", []byte("人员编号\nP9\n"), mtime)
	drop(t, dir, "roster.csv.part", []byte("人员编号\nP9\n"), mtime)
	drop(t, dir, "growing.csv", []byte("人员编号\nP1\n"), mtime)
	read(t, s, st, "", 10)
	for range 3 {
		*now = now.Add(40 * time.Second)
		f, _ := os.OpenFile(filepath.Join(dir, "growing.csv"), os.O_APPEND|os.O_WRONLY, 0)
		_, _ = f.WriteString("P2\n")
		_ = f.Close()
		if b := read(t, s, st, "", 10); b.Len() != 0 {
			t.Fatalf("a growing file was taken: %d rows", b.Len())
		}
	}
	*now = now.Add(time.Minute)
	if b := read(t, s, st, "", 10); b.Len() != 4 {
		t.Fatalf("%d rows once stable, want 4", b.Len())
	}
}

func TestUndecodableCellIsHandedRaw(t *testing.T) {
	s, dir, now := newSource(t, Options{Encoding: "gbk"})
	content := append(gbk(t, "人员编号,姓名\nP1,张三\nP2,"), 0xd5, 0xff, '\n')
	content = append(content, gbk(t, "P3,王五\n")...)
	drop(t, dir, "a.csv", content, mtime)
	st := stream("*.csv", "人员编号", "姓名")
	read(t, s, st, "", 10)
	*now = now.Add(time.Minute)
	b := read(t, s, st, "", 10)
	if b.Len() != 3 {
		t.Fatalf("%d rows", b.Len())
	}
	if raw, ok := b.Rows[1][1].([]byte); !ok || string(raw) != "\xd5\xff" {
		t.Errorf("undecodable cell %#v", b.Rows[1][1])
	}
	read(t, s, st, b.Next, 10)
	if rep := readReport(t, filepath.Join(dir, "done"), "a.csv"); rep["rows_undecodable"] != 1.0 {
		t.Errorf("report %v", rep)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := New("x", Config{Options: Options{Encoding: "latin1", Delimiter: ";;"}, TimeZone: "CST"}, nil)
	for _, want := range []string{"dir: the drop directory is required", "encoding: unknown encoding", "time_zone:", "delimiter:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
