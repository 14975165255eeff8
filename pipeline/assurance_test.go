package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
)

// Tests of data assurance: the source-to-Kafka audit, the DLQ re-drive,
// replays and the catch-up report.

var cst = time.FixedZone("CST", 8*3600)

// insertAt adds settlement id updated (and settled) at ts, in level level.
func (e *env) insertAt(id string, ts time.Time, level string) {
	e.t.Helper()
	s := ts.Format(time.DateTime)
	e.exec(`INSERT INTO yb_jsxx VALUES (?,?,?,?,?,?,?,?,?,?)`, id, goodID, []byte{0xd5, 0xc5}, level, s, 1000, 10, "I10", "0", s)
}

// scanner reads the test's topics through a transport of its own, closed
// when the test ends.
func (e *env) scanner() *pipeline.Scanner {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &kafka.Transport{Context: ctx}
	e.t.Cleanup(func() {
		cancel()
		tr.CloseIdleConnections()
	})
	return &pipeline.Scanner{Client: &kafka.Client{Addr: kafka.TCP(e.broker), Timeout: 10 * time.Second, Transport: tr}}
}

func countRecords(t *testing.T, broker string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range connectortest.ReadAll(t, broker, "hp.settlement.v1", 0, 10*time.Second) {
		var env canonical.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		out[env.ID]++
	}
	return out
}

func dayOf(rep *pipeline.AuditReport, day string) pipeline.AuditDay {
	for _, d := range rep.Days {
		if d.Day == day {
			return d
		}
	}
	return pipeline.AuditDay{}
}

// TestAuditFindsLostRows: a row the pipeline skipped (its checkpoint was
// set past it), a row changed behind the cursor's back and a row deleted
// from the source are each found, on their day; a row updated after
// delivery (superseded on the topic) and a rejected row are not gaps.
func TestAuditFindsLostRows(t *testing.T) {
	e := newEnv(t)
	for i := range 25 {
		id := goodID
		if i == 7 {
			id = "110105194912310021" // bad check digit: DLQ
		}
		e.insert(i, id, "0")
	}
	p, _, stop := e.start(e.maps)
	waitFor(t, "day one delivered", func() bool { return idle(p) && p.Status()[0].Rows == 25 })
	// Row 4 changes with its cursor: a second record supersedes the first.
	e.exec(`UPDATE yb_jsxx SET ZFY = 5, GXSJ = '2019-03-01 18:00:00' WHERE JSID = 'JS0004'`)
	waitFor(t, "the update delivered", func() bool { return idle(p) && p.Status()[0].Rows == 26 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Day two: three rows, of which the operator skips the first two by
	// setting the checkpoint past them.
	day2 := time.Date(2019, 3, 2, 9, 0, 0, 0, time.UTC)
	for i, id := range []string{"JS2001", "JS2002", "JS2003"} {
		e.insertAt(id, day2.Add(time.Duration(i)*time.Minute), "2")
	}
	pos, err := sqlsource.PositionOf("2019-03-02 09:01:00", "JS2002")
	if err != nil {
		t.Fatal(err)
	}
	st, err := checkpoint.Open(e.state, e.key.SealKey(), checkpoint.Options{Algorithms: e.key.Algorithms()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Set("e2e-ins-settlement", pos, "2019-03-02 09:01:00|JS2002"); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	p, _, stop = e.start(e.maps)
	defer func() { _ = stop() }()
	waitFor(t, "day two delivered", func() bool {
		return idle(p) && strings.HasPrefix(p.Status()[0].Position, "2019-03-02 09:02:00")
	})
	// Behind the cursor's back: row 3 changes without a new timestamp,
	// row 5 disappears.
	e.exec(`UPDATE yb_jsxx SET ZFY = 7 WHERE JSID = 'JS0003'`)
	e.exec(`DELETE FROM yb_jsxx WHERE JSID = 'JS0005'`)

	rep, err := p.Audit(context.Background(), e.scanner(), pipeline.AuditRequest{
		From: time.Date(2019, 3, 1, 0, 0, 0, 0, cst), To: time.Date(2019, 3, 3, 0, 0, 0, 0, cst),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Days) != 2 {
		t.Fatalf("days %+v", rep.Days)
	}
	d1, d2 := dayOf(rep, "2019-03-01"), dayOf(rep, "2019-03-02")
	want1 := pipeline.AuditDay{Mapping: "e2e-ins-settlement", County: "370282", Day: "2019-03-01",
		Source: 24, Topic: 23, DLQ: 1, Extra: 1, HashMismatch: 1, HashChecked: 23}
	if d1 != want1 {
		t.Errorf("day one\n got %+v\nwant %+v", d1, want1)
	}
	want2 := pipeline.AuditDay{Mapping: "e2e-ins-settlement", County: "370282", Day: "2019-03-02",
		Source: 3, Topic: 1, Missing: 2, HashChecked: 1}
	if d2 != want2 {
		t.Errorf("day two\n got %+v\nwant %+v", d2, want2)
	}
	if !rep.Gap() {
		t.Error("no gap reported")
	}
	// A sample compares fewer hashes, and the counts stay.
	rep, err = p.Audit(context.Background(), e.scanner(), pipeline.AuditRequest{
		From: time.Date(2019, 3, 2, 0, 0, 0, 0, cst), To: time.Date(2019, 3, 3, 0, 0, 0, 0, cst), Sample: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := dayOf(rep, "2019-03-02"); d.Missing != 2 || d.HashChecked > 1 {
		t.Errorf("sampled day two %+v", d)
	}
	noPersonalData(t, e.logs.String(), string(mustJSON(t, rep)))
}

// noPersonalData fails if any text holds the clear ID numbers of the tests.
func noPersonalData(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, clear := range []string{goodID, "110105194912310021", "19491231"} {
			if strings.Contains(s, clear) {
				t.Errorf("personal data %q in %.200s", clear, s)
			}
		}
	}
}

// TestRedriveAfterMappingFix: rows rejected for a code the mapping did not
// know are delivered once the code is added, exactly once.
func TestRedriveAfterMappingFix(t *testing.T) {
	e := newEnv(t)
	for i := range 10 {
		level := "2"
		if i%3 == 0 {
			level = "4" // not in the code table: unknown_code
		}
		e.insertAt(mkID(i), time.Date(2019, 3, 1, 10, 0, i, 0, time.UTC), level)
	}
	p, _, stop := e.start(e.maps)
	defer func() { _ = stop() }()
	waitFor(t, "the first run", func() bool { return idle(p) && p.Status()[0].Rows == 10 })
	if n := len(connectortest.ReadAll(t, e.broker, "hp.dlq.v1", 4, 10*time.Second)); n != 4 {
		t.Fatalf("%d DLQ records, want 4", n)
	}
	// Fix the mapping: level 4 is a city hospital.
	fixed := filepath.Join(t.TempDir(), "ins-settlement.yaml")
	text := strings.Replace(string(mustRead(t, e.maps)), `"3": county}`, `"3": county, "4": city}`, 1)
	if err := os.WriteFile(fixed, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ms, err := mappings.Load(mappings.Options{Key: e.key}, fixed)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(ms); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := pipeline.RedriveRequest{Mapping: "e2e-ins-settlement", Reason: "unknown_code", DryRun: true}
	res, err := p.Redrive(ctx, e.scanner(), "sha256:fixed", req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Scanned != 4 || res.Delivered != 4 {
		t.Errorf("dry run %+v", res)
	}
	if got := countRecords(t, e.broker); len(got) != 6 {
		t.Fatalf("a dry run wrote: %v", got)
	}
	req.DryRun = false
	if res, err = p.Redrive(ctx, e.scanner(), "sha256:fixed", req); err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 4 || res.Done != 0 || len(res.Rejected) != 0 {
		t.Errorf("re-drive %+v", res)
	}
	got := countRecords(t, e.broker)
	for i := range 10 {
		if got["insurance:370282:"+mkID(i)] != 1 {
			t.Errorf("%s: %d records, want 1", mkID(i), got["insurance:370282:"+mkID(i)])
		}
	}
	// Again: nothing left to deliver.
	if res, err = p.Redrive(ctx, e.scanner(), "sha256:fixed", req); err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 0 || res.Done != 4 {
		t.Errorf("second re-drive %+v", res)
	}
	if n := len(countRecords(t, e.broker)); n != 10 {
		t.Errorf("%d ids after the second re-drive", n)
	}
	sum, err := pipeline.SummarizeDLQ(ctx, e.scanner(), "hp.", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum) != 1 || sum[0].Records != 4 || sum[0].Reason != "unknown_code" || sum[0].Redriven != 0 {
		t.Errorf("summary %+v", sum)
	}
	noPersonalData(t, e.logs.String(), string(mustJSON(t, sum)), string(mustJSON(t, res)))
}

func mkID(i int) string { return fmt.Sprintf("JSR%03d", i) }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReplayRepeatsRange: a replay writes exactly the rows of its range
// again, paced, and leaves the live checkpoint alone.
func TestReplayRepeatsRange(t *testing.T) {
	e := newEnv(t)
	for i := range 25 {
		e.insert(i, goodID, "0")
	}
	p, store, stop := e.start(e.maps)
	defer func() { _ = stop() }()
	waitFor(t, "the first run", func() bool { return idle(p) && p.Status()[0].Rows == 25 })
	before, err := store.Load("e2e-ins-settlement")
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Replay(context.Background(), pipeline.ReplayRequest{
		Mapping:  "e2e-ins-settlement",
		FromTime: time.Date(2019, 3, 1, 10, 0, 3, 0, cst), ToTime: time.Date(2019, 3, 1, 10, 0, 6, 0, cst),
		Rate: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Seconds 3, 4 and 5 hold rows 9 to 17.
	if res.Rows != 9 || res.Records != 9 || res.First != "2019-03-01 10:00:03|JS0009" || res.Last != "2019-03-01 10:00:05|JS0017" {
		t.Errorf("replay %+v", res)
	}
	got := countRecords(t, e.broker)
	for i := range 25 {
		want := 1
		if i >= 9 && i <= 17 {
			want = 2
		}
		if id := "insurance:370282:" + fmtID(i); got[id] != want {
			t.Errorf("%s: %d records, want %d", id, got[id], want)
		}
	}
	after, err := store.Load("e2e-ins-settlement")
	if err != nil {
		t.Fatal(err)
	}
	if after.Position != before.Position || after.Rows != before.Rows {
		t.Errorf("live checkpoint moved: %+v → %+v", before, after)
	}
	if cp, _ := store.Load(pipeline.ReplayKey("e2e-ins-settlement")); cp.Position != "" {
		t.Errorf("replay progress left behind: %+v", cp)
	}
}

func fmtID(i int) string { return fmt.Sprintf("JS%04d", i) }

// TestCatchupReportsProgress: a mapping years behind its source says so,
// then says when it caught up.
func TestCatchupReportsProgress(t *testing.T) {
	e := newEnv(t)
	for i := range 35 {
		e.insert(i, goodID, "0")
	}
	p, _, stop := e.start(e.maps)
	waitFor(t, "the run", func() bool { return idle(p) && p.Status()[0].Rows == 35 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "far behind the source, catching up") || !strings.Contains(logs, "caught up") {
		t.Errorf("no catch-up lines in the logs")
	}
}
