package pipeline_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/pipeline/dlq"
)

// The multi-table tests run testdata/multitable (a settlement header, its
// fund-detail rows pivoted per payer layer, and a facility dictionary
// joined for the level) through the real source, pipeline and broker, on
// each database the SQL source serves here.

// mtTypes are the column types of one database.
type mtTypes struct {
	text, money, datetime, date, placeholder string
}

func TestMultiTableMariaDB(t *testing.T) {
	e := newEnv(t)
	runMultiTable(t, e, mtTypes{text: "VARCHAR(40)", money: "DECIMAL(14,2)", datetime: "DATETIME", date: "DATE", placeholder: "?"})
}

func TestMultiTableSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ins.db")
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	e := newMultiTableEnv(t, db, dsn, "sqlite")
	runMultiTable(t, e, mtTypes{text: "TEXT", money: "NUMERIC", datetime: "DATETIME", date: "DATE", placeholder: "?"})
}

func TestMultiTablePostgres(t *testing.T) {
	db, dsn := connectortest.Postgres(t)
	e := newMultiTableEnv(t, db, dsn, "postgres")
	runMultiTable(t, e, mtTypes{text: "varchar(40)", money: "numeric(14,2)", datetime: "timestamp", date: "date", placeholder: "$"})
}

func newMultiTableEnv(t *testing.T, db *sql.DB, dsn, driver string) *env {
	addr, cluster := connectortest.Broker(t, "hp.settlement.v1", "hp.dlq.v1")
	return &env{t: t, cluster: cluster, db: db, dsn: dsn, broker: addr, state: t.TempDir(), key: pii.TestKey(), logs: &syncBuffer{}, driver: driver}
}

func runMultiTable(t *testing.T, e *env, ty mtTypes) {
	bind := func(q string) string { // ? placeholders in the database's style
		if ty.placeholder == "?" {
			return q
		}
		var b strings.Builder
		n := 0
		for _, r := range q {
			if r == '?' {
				n++
				fmt.Fprintf(&b, "$%d", n)
				continue
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	e.exec(fmt.Sprintf(`CREATE TABLE setl_d (setl_id %[1]s PRIMARY KEY, certno %[1]s, hosp_code %[1]s,
		setl_time %[3]s, medfee_sumamt %[2]s, updt_time %[3]s NOT NULL)`, ty.text, ty.money, ty.datetime))
	e.exec(fmt.Sprintf(`CREATE TABLE fund_detail (id INTEGER PRIMARY KEY, setl_id %[1]s, fund_pay_type %[1]s,
		fund_payamt %[2]s, vali_flag CHAR(1))`, ty.text, ty.money))
	e.exec(`CREATE INDEX fund_detail_setl ON fund_detail (setl_id, fund_pay_type)`)
	e.exec(fmt.Sprintf(`CREATE TABLE dict_hosp (code %[1]s, lv CHAR(1), name %[1]s, stop_date %[2]s)`, ty.text, ty.date))
	header := func(id, hosp, total string, sec int) {
		ts := time.Date(2019, 3, 1, 10, 0, sec, 0, time.UTC).Format(time.DateTime)
		e.exec(bind(`INSERT INTO setl_d VALUES (?, ?, ?, ?, ?, ?)`), id, goodID, hosp, "2019-03-01 09:00:00", total, ts)
	}
	detailID := 0
	detail := func(setl, typ, amt, valid string) {
		detailID++
		e.exec(bind(`INSERT INTO fund_detail VALUES (?, ?, ?, ?, ?)`), detailID, setl, typ, amt, valid)
	}
	e.exec(`INSERT INTO dict_hosp VALUES ('H001', '2', 'chengguan', NULL), ('H001', '9', 'old', '2015-01-01'), ('H002', '3', 'county', NULL)`)

	header("S1", "H001", "1000.00", 0)
	detail("S1", "310100", "500.00", "1")
	detail("S1", "310100", "100.25", "1") // two rows of one layer: summed
	detail("S1", "390200", "100.50", "1")
	detail("S1", "610100", "50.00", "1")
	detail("S1", "999996", "20.00", "1")
	detail("S1", "310100", "999.00", "0") // voided: the where of e2e-mt-reject skips it
	detail("S1", "510100", "30.00", "1")  // ignored by e2e-mt-reject
	header("S2", "H999", "80.00", 1)      // no details, not in the dictionary
	header("S3", "H001", "300.00", 2)
	detail("S3", "310100", "200.00", "1")
	detail("S3", "888888", "10.00", "1") // undeclared: rejected or ignored
	header("S4", "H002", "500.00", 3)
	detail("S4", "620100", "5.00", "1") // two codes into one column
	detail("S4", "999997", "7.50", "1")
	detail("S4", "310100", "300.00", "1")

	maps := "testdata/multitable"
	p, _, stop := e.start(maps)
	waitFor(t, "both mappings to catch up", func() bool {
		st := p.Status()
		return idle(p) && len(st) == 2 && st[0].Rows == 4 && st[1].Rows == 4
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	subject := func(county, id, sec string) map[string]any {
		return map[string]any{
			"person_key": e.key.PersonKey(goodID), "id_masked": "110105********002X", "id_quality": "valid",
			"county": county, "source_system": "insurance", "source_id": id, "settlement_no": id,
			"updated_at": "2019-03-01T10:00:" + sec + "+08:00", "settled_at": "2019-03-01T09:00:00+08:00",
		}
	}
	with := func(m map[string]any, kv ...string) map[string]any {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	want := map[string]map[string]any{
		"insurance:370282:S1": with(subject("370282", "S1", "00"), "facility_code", "H001", "facility_level", "township", "total_cost", "1000.00",
			"basic_insurance", "600.25", "critical_illness", "100.50", "medical_assistance", "50.00", "supplementary", "20.00"),
		"insurance:370282:S2": with(subject("370282", "S2", "01"), "facility_code", "H999", "total_cost", "80.00"),
		"insurance:370282:S4": with(subject("370282", "S4", "03"), "facility_code", "H002", "facility_level", "county", "total_cost", "500.00",
			"basic_insurance", "300.00", "other_funds", "12.50"),
		"insurance:421221:S1": with(subject("421221", "S1", "00"), "facility_level", "township", "total_cost", "1000.00", "basic_insurance", "1599.25"),
		"insurance:421221:S2": with(subject("421221", "S2", "01"), "total_cost", "80.00"),
		"insurance:421221:S3": with(subject("421221", "S3", "02"), "facility_level", "township", "total_cost", "300.00", "basic_insurance", "200.00"),
		"insurance:421221:S4": with(subject("421221", "S4", "03"), "facility_level", "county", "total_cost", "500.00", "basic_insurance", "300.00"),
	}
	got := readSettlements(t, e, len(want))
	if !reflect.DeepEqual(got, want) {
		for id := range want {
			if !reflect.DeepEqual(got[id], want[id]) {
				t.Errorf("%s:\ngot  %v\nwant %v", id, got[id], want[id])
			}
		}
		for id := range got {
			if want[id] == nil {
				t.Errorf("unexpected record %s: %v", id, got[id])
			}
		}
	}

	dl := connectortest.ReadAll(t, e.broker, "hp.dlq.v1", 1, 10*time.Second)
	if len(dl) != 1 {
		t.Fatalf("%d DLQ messages, want 1", len(dl))
	}
	v, _, _, err := dlq.Open(e.key, dl[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if v.Mapping != "e2e-mt-reject" || v.Code != "unknown_code" || !strings.Contains(v.Message, `fund_detail.fund_pay_type code "888888"`) ||
		v.Source.Position != "2019-03-01 10:00:02|S3" {
		t.Errorf("DLQ: mapping %s, code %s, position %s: %s", v.Mapping, v.Code, v.Source.Position, v.Message)
	}

	// A detail row added later is not seen until its header changes: the
	// cursor is the header's (the documented limitation). Touching the
	// header re-reads the settlement with the new sum.
	detail("S4", "390200", "40.00", "1")
	e.exec(bind(`UPDATE setl_d SET updt_time = ? WHERE setl_id = ?`), "2019-03-01 10:00:10", "S4")
	p, _, stop = e.start(maps)
	waitFor(t, "the touched header", func() bool {
		st := p.Status()
		return idle(p) && len(st) == 2 && st[0].Rows == 5 && st[1].Rows == 5
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got = readSettlements(t, e, len(want)+2)
	last := got["insurance:370282:S4"]
	if last["critical_illness"] != "40.00" || last["updated_at"] != "2019-03-01T10:00:10+08:00" || last["other_funds"] != "12.50" {
		t.Errorf("re-read S4: %v", last)
	}
}

// readSettlements reads n settlement records and returns their data by
// record id (the last one of an id wins), checking every envelope against
// the schema.
func readSettlements(t *testing.T, e *env, n int) map[string]map[string]any {
	t.Helper()
	recs := connectortest.ReadAll(t, e.broker, "hp.settlement.v1", n, 10*time.Second)
	if len(recs) != n {
		t.Fatalf("%d settlement records, want %d", len(recs), n)
	}
	got := map[string]map[string]any{}
	for _, r := range recs {
		if err := canonical.ValidateEnvelope(r.Value); err != nil {
			t.Errorf("invalid envelope: %v", err)
		}
		var env canonical.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		var data map[string]any
		if err := json.Unmarshal(env.Data, &data); err != nil {
			t.Fatal(err)
		}
		got[env.ID] = data
	}
	return got
}
