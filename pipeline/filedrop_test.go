package pipeline_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/filedrop"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/dlq"
)

// The roster mapping of the Jimo pack, as shipped, reads 花名册*.xlsx; the
// test derives a CSV twin of it (same rules, table 花名册*.csv).
const rosterMapping = "../mappings/counties/370282-jimo/jimo-roster-person.yaml"

var rosterHeader = []string{"序号", "人员编号", "户编号", "姓名", "证件号码", "与户主关系", "行政区划代码", "贫困户状态",
	"状态变更日期", "脱贫年度", "主要致贫原因", "次要致贫原因", "贫困户属性", "是否残疾", "残疾等级", "是否计生特殊家庭",
	"是否易地扶贫搬迁", "注销标志", "注销原因", "注销日期", "联系电话"}

// rosterID returns a valid 18-digit ID number (GB 11643) for member i.
func rosterID(i int) string {
	base := fmt.Sprintf("37028219500101%03d", i%1000)
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for k, w := range weights {
		sum += int(base[k]-'0') * w
	}
	return base + string("10X98765432"[sum%11])
}

// rosterRow is member i of the synthetic roster; bad gives a wrong check
// digit.
func rosterRow(i int, bad bool) []string {
	id := rosterID(i)
	if bad {
		last := id[17]
		if last == '0' {
			last = '1'
		} else {
			last = '0'
		}
		id = id[:17] + string(last)
	}
	rel := "之子"
	if i%4 == 0 {
		rel = "户主"
	}
	return []string{fmt.Sprint(i + 1), fmt.Sprintf("P3702821012%08d", i), fmt.Sprintf("37021510120%05d", i/4), "张德山",
		id, rel, "370215101201", "未脱贫", "2016-03-01", "", "因病", "缺劳力", "低保贫困户", "否", "", "否", "否", "否", "", "",
		"13905321234"}
}

// writeRosterXLSX writes the export as the registry makes it: a merged
// title, an export-date row, the header on row 3, a date column of Excel
// date cells, and a subtotal row at the bottom.
func writeRosterXLSX(t testing.TB, path string, n int, bad map[int]bool) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	const sh = "花名册"
	_ = f.SetSheetName("Sheet1", sh)
	sw, err := f.NewStreamWriter(sh)
	if err != nil {
		t.Fatal(err)
	}
	date, _ := f.NewStyle(&excelize.Style{NumFmt: 14})
	title := []any{"即墨区建档立卡贫困人口花名册"}
	_ = sw.SetRow("A1", title, excelize.RowOpts{})
	_ = sw.SetRow("A2", []any{"导出日期：2024年6月14日"})
	_ = sw.MergeCell("A1", "U1")
	hdr := make([]any, len(rosterHeader))
	for i, h := range rosterHeader {
		hdr[i] = h
	}
	_ = sw.SetRow("A3", hdr)
	for i := range n {
		r := rosterRow(i, bad[i])
		vals := make([]any, len(r))
		for k, v := range r {
			vals[k] = v
		}
		vals[8] = excelize.Cell{StyleID: date, Value: 42430} // 2016-03-01
		cell, _ := excelize.CoordinatesToCellName(1, i+4)
		if err := sw.SetRow(cell, vals); err != nil {
			t.Fatal(err)
		}
	}
	cell, _ := excelize.CoordinatesToCellName(1, n+4)
	_ = sw.SetRow(cell, []any{"合计", "", "", fmt.Sprintf("%d人", n)})
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	// Written through an io.Writer: SaveAs insists on an .xlsx name, and
	// the file is written under a temporary one.
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteTo(out); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeRosterCSV writes the same roster as CSV: GBK, or UTF-8 with a byte
// order mark (Excel's "CSV UTF-8").
func writeRosterCSV(t testing.TB, path string, n int, bad map[int]bool, enc string) {
	t.Helper()
	var b strings.Builder
	b.WriteString(strings.Join(rosterHeader, ",") + "\n")
	for i := range n {
		b.WriteString(strings.Join(rosterRow(i, bad[i]), ",") + "\n")
	}
	b.WriteString(fmt.Sprintf("合计,,,%d人", n) + strings.Repeat(",", len(rosterHeader)-4) + "\n")
	out := []byte(b.String())
	switch enc {
	case "gbk":
		var err error
		if out, err = simplifiedchinese.GB18030.NewEncoder().Bytes(out); err != nil {
			t.Fatal(err)
		}
	case "bom":
		out = append([]byte("\xEF\xBB\xBF"), out...)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

type dropEnv struct {
	t      *testing.T
	dir    string
	state  string
	maps   []string
	broker string
	key    *pii.Key
	logs   *syncBuffer
}

func newDropEnv(t *testing.T) (*dropEnv, *atomic.Bool) {
	addr, cluster := connectortest.Broker(t, "hp.person.v1", "hp.dlq.v1")
	var down atomic.Bool
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if down.Load() {
			return nil, errors.New("broker down"), true
		}
		return nil, nil, false
	})
	e := &dropEnv{t: t, dir: t.TempDir(), state: t.TempDir(), broker: addr, key: pii.TestKey(), logs: &syncBuffer{}}
	src, err := os.ReadFile(rosterMapping)
	if err != nil {
		t.Fatal(err)
	}
	csvMap := strings.NewReplacer("name: jimo-roster-person", "name: jimo-roster-person-csv",
		`table: "花名册*.xlsx"`, `table: "花名册*.csv"`).Replace(string(src))
	mapsDir := t.TempDir()
	if err := os.CopyFS(filepath.Join(mapsDir, "codes"), os.DirFS("../mappings/counties/370282-jimo/codes")); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"xlsx.yaml": string(src), "csv.yaml": csvMap} {
		p := filepath.Join(mapsDir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		e.maps = append(e.maps, p)
	}
	return e, &down
}

// start runs a pipeline on a new file-drop source (as a new process would)
// until stop is called.
func (e *dropEnv) start(batch int) (*pipeline.Pipeline, func() error) {
	e.t.Helper()
	r := startPipeline(e.t, "jimo-roster", func(log *slog.Logger) (connectors.Source, error) {
		return filedrop.New("jimo-roster", filedrop.Config{
			Dir: e.dir, QuietPeriod: 150 * time.Millisecond,
			Files: map[string]filedrop.Options{"花名册*.xlsx": {Sheet: "花名册", HeaderRow: 3}},
		}, log)
	}, pipeOpts{maps: loadMaps(e.t, e.key, e.maps...), broker: e.broker, state: e.state, key: e.key, logs: e.logs, batch: batch, poll: 50 * time.Millisecond})
	return r.Pipeline, r.stop
}

// dropFile writes a file under a temporary name and renames it into the
// drop directory, as writers should.
func (e *dropEnv) dropFile(name string, write func(path string)) {
	tmp := filepath.Join(e.dir, name+".part")
	write(tmp)
	if err := os.Rename(tmp, filepath.Join(e.dir, name)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *dropEnv) names(sub string) []string {
	es, _ := os.ReadDir(filepath.Join(e.dir, sub))
	var out []string
	for _, x := range es {
		if !x.IsDir() && !strings.HasPrefix(x.Name(), ".") {
			out = append(out, x.Name())
		}
	}
	return out
}

func (e *dropEnv) report(sub, file string) map[string]any {
	e.t.Helper()
	for _, n := range e.names(sub) {
		if strings.HasSuffix(n, "_"+file+".report.json") {
			m, err := filedrop.ReadReport(filepath.Join(e.dir, sub, n))
			if err != nil {
				e.t.Fatal(err)
			}
			return m
		}
	}
	e.t.Fatalf("no report of %s in %s/: %v", file, sub, e.names(sub))
	return nil
}

// rosterData is the canonical data of member i of the synthetic roster
// (rosterRow), as written by hand.
func (e *dropEnv) rosterData(i int, updated string) map[string]any {
	gender, rel := "2", "child"
	if i%2 == 1 {
		gender = "1"
	}
	if i%4 == 0 {
		rel = "head"
	}
	return map[string]any{
		"area_code": "370282101201", "birth_year": 1950.0, "county": "370282", "deceased": false,
		"destitute_support": false, "disabled": false, "family_planning_special": false, "gender": gender,
		"household_key": e.key.PersonKey(fmt.Sprintf("household_key:37021510120%05d", i/4)), "id_masked": "370282********" + rosterID(i)[14:],
		"id_quality": "valid", "min_living": true, "name_masked": "张**", "person_key": e.key.PersonKey(rosterID(i)),
		"poverty_cause": "illness", "poverty_status": "registered", "relation_to_head": rel, "relocated": false,
		"secondary_cause": "lack_of_labour", "source_id": fmt.Sprintf("P3702821012%08d", i), "source_system": "registry",
		"status_since": "2016-03-01", "updated_at": updated,
	}
}

func envelopes(t *testing.T, recs []connectortest.Record) map[string][]canonical.Envelope {
	t.Helper()
	out := map[string][]canonical.Envelope{}
	for _, r := range recs {
		if err := canonical.ValidateEnvelope(r.Value); err != nil {
			t.Errorf("invalid envelope: %v", err)
		}
		var env canonical.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		out[env.ID] = append(out[env.ID], env)
	}
	return out
}

// TestFileDropFormatsReachKafka: the same roster as XLSX, GBK CSV and
// UTF-8-BOM CSV gives the same canonical records, with exact content; a
// bad row goes to the DLQ and the rest of its file is delivered; a file
// dropped again is not sent again.
func TestFileDropFormatsReachKafka(t *testing.T) {
	e, _ := newDropEnv(t)
	const n = 23
	bad := map[int]bool{7: true}
	e.dropFile("花名册202406.xlsx", func(p string) { writeRosterXLSX(t, p, n, bad) })
	e.dropFile("花名册202406-gbk.csv", func(p string) { writeRosterCSV(t, p, n, bad, "gbk") })
	e.dropFile("花名册202406-utf8.csv", func(p string) { writeRosterCSV(t, p, n, bad, "bom") })
	p, stop := e.start(10)
	waitFor(t, "three files done", func() bool { return len(e.names("done")) == 6 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_ = p

	recs := connectortest.ReadAll(t, e.broker, "hp.person.v1", 3*(n-1), 10*time.Second)
	byID := envelopes(t, recs)
	if len(recs) != 3*(n-1) || len(byID) != n-1 {
		t.Fatalf("%d records of %d ids, want %d of %d", len(recs), len(byID), 3*(n-1), n-1)
	}
	if _, ok := byID["registry:370282:P370282101200000007"]; ok {
		t.Error("the row with a bad check digit was sent")
	}
	first := byID["registry:370282:P370282101200000000"]
	if len(first) != 3 {
		t.Fatalf("member 0: %d records", len(first))
	}
	mt := first[0].Source.Position
	for _, env := range first[1:] {
		if string(env.Data) != string(first[0].Data) || env.Hash != first[0].Hash {
			t.Errorf("formats disagree:\n%s\n%s", env.Data, first[0].Data)
		}
	}
	// Exact content: the XLSX's Excel date cell and the CSV's text date
	// give the same date; updated_at is the file's modification time.
	var got map[string]any
	_ = json.Unmarshal(first[0].Data, &got)
	updated, _ := got["updated_at"].(string)
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(e.rosterData(0, updated))
	if string(gj) != string(wj) {
		t.Errorf("data\n got %s\nwant %s", gj, wj)
	}
	if !strings.HasSuffix(mt, "|P370282101200000000") || updated == "" {
		t.Errorf("position %q updated_at %q", mt, updated)
	}

	dl := connectortest.ReadAll(t, e.broker, "hp.dlq.v1", 3, 10*time.Second)
	if len(dl) != 3 {
		t.Fatalf("%d DLQ messages, want 3 (one per file)", len(dl))
	}
	for _, m := range dl {
		v, cols, row, err := dlq.Open(e.key, m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if v.Code != "bad_check_digit" || !strings.HasSuffix(v.Source.Position, "|P370282101200000007") {
			t.Errorf("DLQ %+v", v)
		}
		// The sealed raw row carries the file and its row (line) number.
		where := map[string]any{}
		for i, c := range cols {
			where[c] = row[i]
		}
		if f, _ := where[filedrop.ColumnFile].(string); !strings.HasPrefix(f, "花名册202406") {
			t.Errorf("raw row without its file: %v", where[filedrop.ColumnFile])
		}
		if r, _ := where[filedrop.ColumnRow].(int64); r != 9 && r != 11 { // line 9 of a CSV, sheet row 11
			t.Errorf("raw row %v", where[filedrop.ColumnRow])
		}
		if strings.Contains(string(m.Value), rosterRow(7, true)[4]) || strings.Contains(string(m.Value), "张德山") {
			t.Error("personal data in clear in the DLQ")
		}
	}
	for _, f := range []string{"花名册202406.xlsx", "花名册202406-gbk.csv", "花名册202406-utf8.csv"} {
		rep := e.report("done", f)
		// n members and the subtotal row, which the mapping's filter skips.
		if rep["rows_read"] != float64(n+1) || rep["rows_delivered"] != float64(n+1) || rep["outcome"] != "done" {
			t.Errorf("%s: report %v", f, rep)
		}
	}
	if logs := e.logs.String(); strings.Contains(logs, rosterID(0)) || strings.Contains(logs, "张德山") {
		t.Error("personal data in the logs")
	}

	// The same export dropped again is recognised and not sent again.
	e.dropFile("花名册202406-again.xlsx", func(p string) {
		b, _ := os.ReadFile(filepath.Join(e.dir, "done", e.report("done", "花名册202406.xlsx")["stored_as"].(string)))
		_ = os.WriteFile(p, b, 0o644)
	})
	_, stop = e.start(10)
	waitFor(t, "the duplicate to be recognised", func() bool { return len(e.names("done")) == 8 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if rep := e.report("done", "花名册202406-again.xlsx"); rep["outcome"] != "duplicate" {
		t.Errorf("report %v", rep)
	}
	if again := connectortest.ReadAll(t, e.broker, "hp.person.v1", 0, 5*time.Second); len(again) != len(recs) {
		t.Errorf("%d records after the duplicate, want %d", len(again), len(recs))
	}
}

// TestFileDropMissingColumnFails: a file without a column the mapping
// reads goes to failed/ with a report, and sends nothing.
func TestFileDropMissingColumnFails(t *testing.T) {
	e, _ := newDropEnv(t)
	e.dropFile("花名册-old.csv", func(p string) {
		writeRosterCSV(t, p, 3, nil, "bom")
		b, _ := os.ReadFile(p)
		_ = os.WriteFile(p, []byte(strings.Replace(string(b), "贫困户状态", "贫困状态", 1)), 0o644)
	})
	_, stop := e.start(10)
	waitFor(t, "the file to fail", func() bool { return len(e.names("failed")) == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.report("failed", "花名册-old.csv")
	if errText, _ := rep["error"].(string); !strings.Contains(errText, "lacks the column(s) 贫困户状态") {
		t.Errorf("report %v", rep)
	}
	if recs := connectortest.ReadAll(t, e.broker, "hp.person.v1", 0, 3*time.Second); len(recs) != 0 {
		t.Errorf("%d records from a failed file", len(recs))
	}
}

// TestFileDropWaitsForAcknowledgement: with the broker down the file stays
// in the drop directory; once it is back every row arrives and only then
// does the file move to done/.
func TestFileDropWaitsForAcknowledgement(t *testing.T) {
	e, down := newDropEnv(t)
	down.Store(true)
	e.dropFile("花名册.xlsx", func(p string) { writeRosterXLSX(t, p, 30, nil) })
	p, stop := e.start(10)
	defer func() { _ = stop() }()
	waitFor(t, "the mapping to back off", func() bool {
		for _, s := range p.Status() {
			if s.State == "backoff" {
				return true
			}
		}
		return false
	})
	time.Sleep(500 * time.Millisecond)
	if got := e.names(""); len(got) != 1 || len(e.names("done")) != 0 {
		t.Fatalf("during the outage: drop dir %v, done %v", got, e.names("done"))
	}
	down.Store(false)
	waitFor(t, "the file done", func() bool { return len(e.names("done")) == 2 })
	if recs := connectortest.ReadAll(t, e.broker, "hp.person.v1", 30, 10*time.Second); len(envelopes(t, recs)) != 30 {
		t.Errorf("%d distinct records after the outage", len(envelopes(t, recs)))
	}
}

// TestFileDropRestartMidFile: a pipeline stopped in the middle of a big
// file resumes, in a new source, after the last acknowledged row of the
// same file: nothing lost, at most the batch in flight repeated.
func TestFileDropRestartMidFile(t *testing.T) {
	e, _ := newDropEnv(t)
	const n, batch = 3000, 100
	e.dropFile("花名册-big.csv", func(p string) { writeRosterCSV(t, p, n, nil, "gbk") })
	p, stop := e.start(batch)
	defer func() {
		if t.Failed() {
			t.Logf("logs:\n%s\nstatus %+v\ndrop dir %v", e.logs.String()[:min(4000, len(e.logs.String()))], p.Status(), e.names(""))
		}
	}()
	waitFor(t, "the file half way", func() bool {
		for _, s := range p.Status() {
			if s.Rows >= n/3 {
				return true
			}
		}
		return false
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(e.names("done")) != 0 {
		t.Fatal("the file finished before the stop")
	}
	_, stop = e.start(batch)
	waitFor(t, "the file done", func() bool { return len(e.names("done")) == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	recs := connectortest.ReadAll(t, e.broker, "hp.person.v1", n, 10*time.Second)
	ids := envelopes(t, recs)
	if len(ids) != n {
		t.Fatalf("%d distinct records, want %d", len(ids), n)
	}
	if repeats := len(recs) - n; repeats > batch {
		t.Errorf("%d repeats, more than one batch", repeats)
	}
}

// writeRosterLines writes the roster as UTF-8 CSV with a byte order mark,
// each member's line passed through edit (which may damage it).
func writeRosterLines(t testing.TB, path string, n int, edit func(i int, line string) string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("\xEF\xBB\xBF" + strings.Join(rosterHeader, ",") + "\n")
	for i := range n {
		b.WriteString(edit(i, strings.Join(rosterRow(i, false), ",")) + "\n")
	}
	b.WriteString(fmt.Sprintf("合计,,,%d人", n) + strings.Repeat(",", len(rosterHeader)-4) + "\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFileDropBadLinesGoToTheDLQ: a CSV roster with a shifted line (an
// unquoted comma in a name) and a line with a name not valid UTF-8 is
// delivered but for those two rows, which go to the DLQ with a reason
// naming the line and nothing personal in clear; the file goes to done/
// with a report counting the rejections by reason. A file mostly made of
// shifted lines goes to failed/ and sends nothing.
func TestFileDropBadLinesGoToTheDLQ(t *testing.T) {
	e, _ := newDropEnv(t)
	const n = 10
	e.dropFile("花名册-bad.csv", func(p string) {
		writeRosterLines(t, p, n, func(i int, line string) string {
			switch i {
			case 3: // line 5
				return strings.Replace(line, "张德山", "张,德山", 1)
			case 6: // line 8
				return strings.Replace(line, "张德山", "张\xff山", 1)
			}
			return line
		})
	})
	_, stop := e.start(4)
	waitFor(t, "the file done", func() bool { return len(e.names("done")) == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	recs := connectortest.ReadAll(t, e.broker, "hp.person.v1", n-2, 10*time.Second)
	byID := envelopes(t, recs)
	if len(recs) != n-2 || len(byID) != n-2 {
		t.Fatalf("%d records of %d ids, want %d", len(recs), len(byID), n-2)
	}
	for i := range n {
		envs := byID[fmt.Sprintf("registry:370282:P3702821012%08d", i)]
		if i == 3 || i == 6 {
			if len(envs) != 0 {
				t.Errorf("member %d, on a bad line, was sent: %s", i, envs[0].Data)
			}
			continue
		}
		if len(envs) != 1 {
			t.Errorf("member %d: %d records", i, len(envs))
			continue
		}
		var got map[string]any
		_ = json.Unmarshal(envs[0].Data, &got)
		updated, _ := got["updated_at"].(string)
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(e.rosterData(i, updated))
		if string(gj) != string(wj) || updated == "" {
			t.Errorf("member %d data\n got %s\nwant %s", i, gj, wj)
		}
	}

	dl := connectortest.ReadAll(t, e.broker, "hp.dlq.v1", 2, 10*time.Second)
	if len(dl) != 2 {
		t.Fatalf("%d DLQ messages, want 2", len(dl))
	}
	byCode := map[string]*canonical.DLQ{}
	for _, m := range dl {
		v, cols, row, err := dlq.Open(e.key, m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if err := canonical.ValidateDLQ(m.Value); err != nil {
			t.Errorf("invalid DLQ message: %v", err)
		}
		byCode[v.Code] = v
		where := map[string]any{}
		for i, c := range cols {
			where[c] = row[i]
		}
		wantRow := map[string]int64{"bad_row": 5, "bad_encoding": 8}[v.Code]
		if where[filedrop.ColumnFile] != "花名册-bad.csv" || where[filedrop.ColumnRow] != wantRow {
			t.Errorf("%s: raw row at %v line %v, want line %d", v.Code, where[filedrop.ColumnFile], where[filedrop.ColumnRow], wantRow)
		}
		if v.Code == "bad_row" {
			// Nothing of a shifted line is handed to the mapping.
			for c, x := range where {
				if x != nil && !strings.HasPrefix(c, "_") {
					t.Errorf("bad row: column %s holds a value", c)
				}
			}
		}
		for _, clear := range []string{rosterID(3), rosterID(6), "张德山", "德山", "P370282101200000003", "13905321234"} {
			if strings.Contains(string(m.Value), clear) || strings.Contains(string(m.Key), clear) {
				t.Errorf("%s: %q in clear in the DLQ", v.Code, clear)
			}
		}
	}
	if v := byCode["bad_row"]; v == nil || v.Field != "" ||
		v.Message != `花名册-bad.csv: line 5 has 22 cells, the header has 21: a separator is missing or one too many (an unquoted ',' inside a value?)` {
		t.Errorf("bad_row DLQ message %+v", v)
	}
	if v := byCode["bad_encoding"]; v == nil || !strings.HasSuffix(v.Source.Position, "|P370282101200000006") {
		t.Errorf("bad_encoding DLQ message %+v", v)
	}

	rep := e.report("done", "花名册-bad.csv")
	rj, _ := json.Marshal(rep["rejected"])
	if rep["outcome"] != "done" || rep["rows_read"] != float64(n+1) || rep["rows_rejected"] != 2.0 || rep["rows_bad"] != 1.0 ||
		rep["rows_undecodable"] != 1.0 || string(rj) != `{"bad_encoding":1,"bad_row":1}` {
		t.Errorf("report %v", rep)
	}
	if logs := e.logs.String(); strings.Contains(logs, rosterID(3)) || strings.Contains(logs, "德山") {
		t.Error("personal data in the logs")
	}

	// Mostly shifted: the file fails whole, before any row is sent.
	e.dropFile("花名册-shifted.csv", func(p string) {
		writeRosterLines(t, p, 4, func(i int, line string) string {
			if i < 3 {
				return strings.Replace(line, "张德山", "张,德山", 1)
			}
			return line
		})
	})
	_, stop = e.start(4)
	waitFor(t, "the file to fail", func() bool { return len(e.names("failed")) == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	rep = e.report("failed", "花名册-shifted.csv")
	if errText, _ := rep["error"].(string); !strings.Contains(errText, "3 of 5 data rows (60%) cannot be read into columns") ||
		!strings.Contains(errText, "the first: line 2 has 22 cells") {
		t.Errorf("report %v", rep)
	}
	if recs := connectortest.ReadAll(t, e.broker, "hp.person.v1", 0, 3*time.Second); len(recs) != n-2 {
		t.Errorf("%d records after the failed file, want %d", len(recs), n-2)
	}
}
