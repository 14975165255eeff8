package identity

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hpgate/hpgate/mappings/canonical"
)

// yearsOfSettlements returns perYear settlements of the test person in
// each calendar year from first to last, in date order: four in five
// inpatient stays at a township centre with a non-reimbursable share above
// R01's 2.5% (an alert each while poor), one in five a chronic outpatient
// visit for E11.9 paying less than 70% (R06), each with an out-of-pocket
// of 300 yuan.
func yearsOfSettlements(t testing.TB, first, last, perYear int) []*Input {
	t.Helper()
	var out []*Input
	n := 0
	for y := first; y <= last; y++ {
		for i := range perYear {
			n++
			no := fmt.Sprintf("S%05d", n)
			// Spread over the year, at most one a week.
			day := time.Date(y, 1, 1, 10, 0, 0, 0, time.FixedZone("CST", 8*3600)).AddDate(0, 0, i*365/perYear)
			s := canonical.Settlement{Subject: subject("insurance", no), SettlementNo: no, SettledAt: day.Format(time.RFC3339),
				EncounterType: "inpatient", MainDiagnosis: "I10", FacilityLevel: "township", InCounty: ptr(true),
				TotalCost: "1000.00", InScopeCost: "900.00", NonReimbursableCost: "100.00", Deductible: "100.00",
				BasicInsurance: "600.00", OutOfPocket: "300.00", DepositWaived: ptr(true), OneStop: ptr(true)}
			if n%5 == 0 {
				s.EncounterType, s.MainDiagnosis, s.NonReimbursableCost, s.Deductible, s.BasicInsurance =
					"chronic_outpatient", "E11.9", "0.00", "0.00", "500.00"
			}
			in, err := settlementInput(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, in)
		}
	}
	return out
}

// settlementInput wraps a settlement as the insurance mapping would, with
// the ingest time the day after it was settled.
func settlementInput(s canonical.Settlement) (*Input, error) {
	data, err := canonicalJSON(s)
	if err != nil {
		return nil, err
	}
	ingested := s.SettledAt
	if t, err := time.Parse(time.RFC3339, s.SettledAt); err == nil {
		ingested = t.AddDate(0, 0, 1).Format(time.RFC3339)
	}
	return &Input{Entity: "settlement", Where: "settlement/0/1", Env: canonical.Envelope{
		Schema: "hp.settlement/v1", ID: "insurance:" + testCounty + ":" + s.SourceID, Op: canonical.OpUpsert,
		County: testCounty, Source: canonical.Source{System: "insurance", Mapping: "m-settlement"},
		IngestedAt: ingested, Hash: "sha256:" + hashHex(data), Data: data,
	}}, nil
}

// BenchmarkSettlementUpdate measures one settlement update of a person
// with 500 settlements over ten years (2010–2019) behind them, as the
// consumer does it: load the record from the state store, apply the
// settlement and run its rules, store the record (the transaction is
// rolled back, so every iteration sees the same record; the commit's fsync
// is the same for any record size). record-bytes is the stored record.
func BenchmarkSettlementUpdate(b *testing.B) {
	pols := testPolicy(b, capPolicy)
	st := &Stage{Policies: pols, Prefix: "hp.", Now: func() time.Time { return at("2019-12-31 12:00:00") }}
	store, err := OpenStore(b.TempDir(), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	p := newPerson(testKey)
	reg, err := settlementPerson()
	if err != nil {
		b.Fatal(err)
	}
	for i, in := range append([]*Input{reg}, yearsOfSettlements(b, 2010, 2019, 50)...) {
		if _, err := st.Handle(p, in, int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	txn, err := store.Begin()
	if err != nil {
		b.Fatal(err)
	}
	if err := txn.PutPerson(0, p); err != nil {
		b.Fatal(err)
	}
	if err := txn.Commit(); err != nil {
		b.Fatal(err)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	next := canonical.Settlement{Subject: subject("insurance", "NEXT"), SettlementNo: "NEXT", SettledAt: "2019-12-30T10:00:00+08:00",
		EncounterType: "inpatient", MainDiagnosis: "I10", FacilityLevel: "township", TotalCost: "1000.00",
		NonReimbursableCost: "100.00", BasicInsurance: "600.00", OutOfPocket: "300.00"}
	in, err := settlementInput(next)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		txn, err := store.Begin()
		if err != nil {
			b.Fatal(err)
		}
		per, err := txn.Person(0, testKey)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Handle(per, in, 1000); err != nil {
			b.Fatal(err)
		}
		if err := txn.PutPerson(0, per); err != nil {
			b.Fatal(err)
		}
		txn.Rollback()
	}
	b.ReportMetric(float64(len(raw)), "record-bytes")
}

// settlementPerson is the registry record of the test person: registered
// poor since 2009, cause illness.
func settlementPerson() (*Input, error) {
	p := registryPerson("registered", "2009-01-01", "illness")
	data, err := canonicalJSON(p)
	if err != nil {
		return nil, err
	}
	return &Input{Entity: "person", Where: "person/0/1", Env: canonical.Envelope{
		Schema: "hp.person/v1", ID: "registry:" + testCounty + ":P1", Op: canonical.OpUpsert, County: testCounty,
		Source: canonical.Source{System: "registry", Mapping: "m-person"}, IngestedAt: "2009-01-02T08:00:00+08:00",
		Hash: "sha256:" + hashHex(data), Data: data,
	}}, nil
}

// feed hands the inputs to the stage for p and returns every output.
func feed(t testing.TB, st *Stage, p *Person, ins []*Input) []decoded {
	t.Helper()
	var out []decoded
	for i, in := range ins {
		msgs, err := st.Handle(p, in, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, decode(t.(*testing.T), msgs)...)
	}
	return out
}

func windowStage(t *testing.T) *Stage {
	return &Stage{Policies: testPolicy(t, capPolicy), Prefix: "hp.", Now: func() time.Time { return at("2019-12-31 12:00:00") }}
}

// windowSetup returns the window tests' stage, a fresh person and the
// registry record that makes them poor.
func windowSetup(t *testing.T) (*Stage, *Person, *Input) {
	t.Helper()
	reg, err := settlementPerson()
	if err != nil {
		t.Fatal(err)
	}
	return windowStage(t), newPerson(testKey), reg
}

func recordSize(t *testing.T, p *Person) int {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// TestSettlementWindowBounded: twenty years of settlements of one person
// (50 a year) leave a record no larger than after the second year: the
// de-dup entries, out-of-pocket and chronic payments of years before the
// window are dropped as the years go by.
func TestSettlementWindowBounded(t *testing.T) {
	st, p, reg := windowSetup(t)
	feed(t, st, p, []*Input{reg})
	const perYear = 50
	var sizes []int
	all := yearsOfSettlements(t, 2000, 2019, perYear)
	for y := range 20 {
		feed(t, st, p, all[y*perYear:(y+1)*perYear])
		sizes = append(sizes, recordSize(t, p))
		if n := len(p.Settlements); n > WindowYears*perYear {
			t.Fatalf("after %d: %d de-dup entries, want at most %d", 2000+y, n, WindowYears*perYear)
		}
		if n := len(p.OutOfPocket); n > WindowYears {
			t.Fatalf("after %d: out-of-pocket of %d years", 2000+y, n)
		}
	}
	// Years differ only in the digits of their dates and numbers.
	steady := sizes[WindowYears-1]
	for i, n := range sizes[WindowYears:] {
		if n > steady+steady/50 {
			t.Errorf("record after %d is %d bytes, after %d %d: it grows (%v)", 2000+WindowYears+i, n, 2000+WindowYears-1, steady, sizes)
		}
	}
	if p.SettlementYear != 2019 || p.windowStart() != 2018 {
		t.Errorf("window ends %d starts %d, want 2019 and 2018", p.SettlementYear, p.windowStart())
	}
	t.Logf("record bytes per year: %v", sizes)
}

// sums is what the yearly rules see of a person.
func sums(p *Person) string {
	b, _ := json.Marshal(struct {
		OOP     map[string]map[string]int64
		Chronic map[string]ChronicPayment
		Year    int
	}{p.OutOfPocket, p.ChronicPaid, p.SettlementYear})
	return string(b)
}

func alertsByRule(ds []decoded) map[string]int {
	out := map[string]int{}
	for _, d := range ofTopic(ds, "hp.policy_alert.v1") {
		out[d.Data["rule"].(string)]++
	}
	return out
}

// TestSettlementReplayAfterPruning: ten years of settlements, then all of
// them delivered again (a source re-read from the start, a replay): the
// old ones, whose de-dup entries are pruned, are recognised by their date
// and the recent ones by their hash. Nothing is emitted, the sums and the
// record are unchanged; an old settlement changed at the source, or one
// never seen before, counts nowhere either. A settlement of this year is
// still judged afterwards.
func TestSettlementReplayAfterPruning(t *testing.T) {
	st, p, reg := windowSetup(t)
	ins := yearsOfSettlements(t, 2010, 2019, 50)
	first := feed(t, st, p, append([]*Input{reg}, ins...))
	got := alertsByRule(first)
	// Every settlement raises R02 (the person is poor throughout, 30%
	// out of pocket), four in five R01 too: a replay that judged them
	// again would show.
	if got[RuleR01] != 400 || got[RuleR02] != 500 {
		t.Fatalf("first pass alerts %v, want 400 R01 and 500 R02", got)
	}
	wantSums, wantSize := sums(p), recordSize(t, p)

	if out := feed(t, st, p, ins); len(out) != 0 {
		t.Fatalf("replay emitted %d records (%v), want none", len(out), alertsByRule(out))
	}
	if sums(p) != wantSums || recordSize(t, p) != wantSize {
		t.Errorf("replay changed the state:\n got %s\nwant %s", sums(p), wantSums)
	}

	// A settlement of 2012 corrected at the source (new hash), and one of
	// 2015 never seen: both before the window.
	corrected := canonical.Settlement{Subject: subject("insurance", "S00101"), SettlementNo: "S00101", SettledAt: "2012-01-01T10:00:00+08:00",
		EncounterType: "inpatient", MainDiagnosis: "I10", FacilityLevel: "township", TotalCost: "9000.00",
		NonReimbursableCost: "5000.00", BasicInsurance: "10.00", OutOfPocket: "8990.00"}
	late := corrected
	late.SourceID, late.SettlementNo, late.SettledAt = "LATE", "LATE", "2015-06-01T10:00:00+08:00"
	var old []*Input
	for _, s := range []canonical.Settlement{corrected, late} {
		in, err := settlementInput(s)
		if err != nil {
			t.Fatal(err)
		}
		in.Env.IngestedAt = "2019-12-01T08:00:00+08:00"
		old = append(old, in)
	}
	if out := feed(t, st, p, old); len(out) != 0 {
		t.Fatalf("settlements before the window emitted %d records, want none", len(out))
	}
	if sums(p) != wantSums {
		t.Errorf("settlements before the window changed the sums:\n got %s\nwant %s", sums(p), wantSums)
	}

	// Last year's settlements are inside the window: a late one of 2018
	// is judged and counted in 2018.
	late.SourceID, late.SettlementNo, late.SettledAt = "LATE18", "LATE18", "2018-06-01T10:00:00+08:00"
	in, err := settlementInput(late)
	if err != nil {
		t.Fatal(err)
	}
	out := feed(t, st, p, []*Input{in})
	if alertsByRule(out)[RuleR01] != 1 || p.OutOfPocket["2018"][in.Env.ID] != 899000 {
		t.Errorf("a late settlement of last year: alerts %v, out-of-pocket %d", alertsByRule(out), p.OutOfPocket["2018"][in.Env.ID])
	}
}

// TestSettlementWindowFutureDate: a settlement dated after the year it was
// ingested (a typo) does not move the window, so the real settlements of
// this year are still judged.
func TestSettlementWindowFutureDate(t *testing.T) {
	st, p, reg := windowSetup(t)
	ins := yearsOfSettlements(t, 2019, 2019, 2)
	typo := canonical.Settlement{Subject: subject("insurance", "TYPO"), SettlementNo: "TYPO", SettledAt: "2091-05-01T10:00:00+08:00",
		EncounterType: "outpatient", TotalCost: "10.00", OutOfPocket: "10.00"}
	in, err := settlementInput(typo)
	if err != nil {
		t.Fatal(err)
	}
	in.Env.IngestedAt = "2019-05-02T08:00:00+08:00"
	feed(t, st, p, []*Input{reg, ins[0], in})
	if p.SettlementYear != 2019 {
		t.Fatalf("window ends %d after a settlement dated 2091, want 2019", p.SettlementYear)
	}
	if got := alertsByRule(feed(t, st, p, ins[1:])); got[RuleR01] != 1 {
		t.Errorf("a settlement of 2019 after the typo raised %v, want R01", got)
	}
}

// TestSettlementLegacyState: a record written before the window (bare
// hashes, every settlement ever seen) is migrated on its next settlement:
// what the sums hold keeps its entry with its year, the rest is dropped,
// and a replay of everything emits nothing.
func TestSettlementLegacyState(t *testing.T) {
	st, p, reg := windowSetup(t)
	ins := yearsOfSettlements(t, 2010, 2019, 50)
	feed(t, st, p, append([]*Input{reg}, ins...))
	wantSums := sums(p)
	// As the earlier version stored it.
	var legacy map[string]any
	raw, _ := json.Marshal(p)
	if err := json.Unmarshal(raw, &legacy); err != nil {
		t.Fatal(err)
	}
	bare := map[string]string{}
	for _, in := range ins {
		bare[in.Env.ID] = in.Env.Hash
	}
	legacy["settlements"] = bare
	delete(legacy, "settlement_year")
	raw, _ = json.Marshal(legacy)
	var old Person
	if err := json.Unmarshal(raw, &old); err != nil {
		t.Fatal(err)
	}
	if out := feed(t, st, &old, ins); len(out) != 0 {
		t.Fatalf("replay over a legacy record emitted %d records, want none", len(out))
	}
	if n := len(old.Settlements); n != 100 || old.SettlementYear != 2019 {
		t.Errorf("migrated record: %d de-dup entries, window ends %d; want 100 and 2019", n, old.SettlementYear)
	}
	if sums(&old) != wantSums {
		t.Errorf("migration changed the sums:\n got %s\nwant %s", sums(&old), wantSums)
	}
}
