package identity

import (
	"testing"
	"time"

	"github.com/hpgate/hpgate/mappings/canonical"
)

// TestMarkMissingGracePeriod: a registered person whose insurance
// enrolment carries no mark raises registry_mark_missing exactly when the
// grace period ends, and the discrepancy resolves when the mark appears.
func TestMarkMissingGracePeriod(t *testing.T) {
	clk := &clock{t: at("2019-01-02 10:00:00")}
	st := &Stage{Policies: testPolicy(t, ""), Prefix: "hp.", Connector: "g", Now: clk.now}
	p := newPerson(testKey)
	handle := func(in *Input) []decoded {
		t.Helper()
		msgs, err := st.Handle(p, in, 1)
		if err != nil {
			t.Fatal(err)
		}
		return decode(t, msgs)
	}
	out := handle(input(t, "person", "upsert", registryPerson("registered", "2019-01-01", "illness")))
	if n := len(ofTopic(out, "hp.identity.v1")); n != 1 {
		t.Fatalf("identity messages %d, want 1", n)
	}
	out = handle(input(t, "enrollment", "upsert", enrollment(2019, false, "", "")))
	if d := ofTopic(out, "hp.discrepancy.v1"); len(d) != 0 {
		t.Fatalf("discrepancy inside the grace period: %v", d)
	}
	deadline := at("2019-01-04 00:00:00") // 2019-01-01 00:00 CST + 72h
	if got := time.Unix(p.Due, 0); !got.Equal(deadline) {
		t.Fatalf("due %v, want %v", got, deadline)
	}
	clk.t = deadline.Add(-time.Second)
	if msgs, _ := st.Sweep(p); len(ofTopic(decode(t, msgs), "hp.discrepancy.v1")) != 0 {
		t.Fatal("discrepancy one second before the deadline")
	}
	clk.t = deadline
	msgs, err := st.Sweep(p)
	if err != nil {
		t.Fatal(err)
	}
	ds := ofTopic(decode(t, msgs), "hp.discrepancy.v1")
	if len(ds) != 1 {
		t.Fatalf("discrepancies at the deadline: %d, want 1", len(ds))
	}
	d := ds[0].Data
	wantID := DiscrepancyID(KindMarkMissing, testKey, []string{"insurance", "registry"})
	if d["kind"] != KindMarkMissing || d["status"] != "open" || d["authority"] != "registry" ||
		d["discrepancy_id"] != wantID || d["since"] != "2019-01-01T00:00:00+08:00" {
		t.Fatalf("discrepancy %v", d)
	}
	if v := d["values"].(map[string]any); v["registry"] != "registered" || v["insurance"] != "no_poverty_mark" {
		t.Errorf("values %v", v)
	}
	if ds[0].Env.ID != "hpgate:370282:"+wantID {
		t.Errorf("envelope id %s", ds[0].Env.ID)
	}
	// A second sweep emits nothing new.
	if msgs, _ := st.Sweep(p); len(ofTopic(decode(t, msgs), "hp.discrepancy.v1")) != 0 {
		t.Fatal("open discrepancy emitted twice")
	}
	// The mark arrives: resolved, same id.
	clk.t = at("2019-01-10 09:00:00")
	e := enrollment(2019, true, "2019-01-05", "2019-12-31")
	e.UpdatedAt = "2019-01-10T08:00:00+08:00"
	out = handle(input(t, "enrollment", "upsert", e))
	ds = ofTopic(out, "hp.discrepancy.v1")
	if len(ds) != 1 || ds[0].Data["status"] != "resolved" || ds[0].Data["discrepancy_id"] != wantID ||
		ds[0].Data["resolved_at"] != "2019-01-10T09:00:00+08:00" {
		t.Fatalf("resolution: %v", ds)
	}
	// The identity view now shows the mark as an episode.
	view := ofTopic(out, "hp.identity.v1")[0].Data
	ins := view["insurance"].(map[string]any)
	if ins["poverty_mark"] != true || ins["poverty_mark_from"] != "2019-01-05" {
		t.Errorf("insurance view %v", ins)
	}
}

// TestSyncDiscrepancies covers the other kinds, each on its own person.
func TestSyncDiscrepancies(t *testing.T) {
	now := at("2020-06-01 12:00:00")
	tests := []struct {
		name   string
		inputs func(t *testing.T) []*Input
		kind   string
		values map[string]string
	}{
		{
			name: "exited but still marked in insurance",
			inputs: func(t *testing.T) []*Input {
				p := registryPerson("exited", "2020-01-15", "illness")
				return []*Input{input(t, "person", "upsert", p), input(t, "enrollment", "upsert", enrollment(2020, true, "2020-01-01", "2020-12-31"))}
			},
			kind: KindExitedMarked, values: map[string]string{"registry": "exited", "insurance": "poverty_mark"},
		},
		{
			name: "deceased but still poor in the HIS",
			inputs: func(t *testing.T) []*Input {
				p := registryPerson("registered", "2016-03-01", "illness")
				p.Deceased, p.DeceasedOn = ptr(true), "2020-03-05"
				h := canonical.Person{Subject: subject("his", "H1"), PovertyStatus: "registered"}
				return []*Input{input(t, "person", "upsert", p), input(t, "person", "upsert", h)}
			},
			kind: KindDeceasedMarked, values: map[string]string{"registry": "deceased", "his": "registered"},
		},
		{
			name: "key disease but cause is not illness (R14)",
			inputs: func(t *testing.T) []*Input {
				p := registryPerson("registered", "2016-03-01", "lack_of_labour")
				e := canonical.Encounter{Subject: subject("his", "V1"), EncounterNo: "V1", AdmittedAt: "2019-05-01T09:00:00+08:00", MainDiagnosis: "C34.1"}
				return []*Input{input(t, "person", "upsert", p), input(t, "encounter", "upsert", e)}
			},
			kind: KindCauseMismatch, values: map[string]string{"registry": "lack_of_labour", "his": "C34.1"},
		},
		{
			name: "chronic disease without a card",
			inputs: func(t *testing.T) []*Input {
				p := registryPerson("registered", "2016-03-01", "illness")
				e := canonical.Encounter{Subject: subject("his", "V2"), EncounterNo: "V2", AdmittedAt: "2019-05-01T09:00:00+08:00", Diagnoses: []string{"E11.9", "J06.9"}}
				return []*Input{input(t, "person", "upsert", p), input(t, "encounter", "upsert", e)}
			},
			kind: KindCardMissing, values: map[string]string{"his": "E11.9", "insurance": "no_card"},
		},
		{
			name: "fallback identity",
			inputs: func(t *testing.T) []*Input {
				s := canonical.Settlement{Subject: subject("insurance", "S9"), SettlementNo: "S9", SettledAt: "2019-05-01T09:00:00+08:00", TotalCost: "10.00"}
				s.IDQuality = "fallback"
				return []*Input{input(t, "settlement", "upsert", s)}
			},
			kind: KindFallbackIdentity, values: map[string]string{"insurance": "fallback"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &Stage{Policies: testPolicy(t, ""), Prefix: "hp.", Now: func() time.Time { return now }}
			p := newPerson(testKey)
			var ds []decoded
			for i, in := range tc.inputs(t) {
				msgs, err := st.Handle(p, in, int64(i))
				if err != nil {
					t.Fatal(err)
				}
				ds = append(ds, ofTopic(decode(t, msgs), "hp.discrepancy.v1")...)
			}
			if len(ds) != 1 {
				t.Fatalf("%d discrepancies, want 1: %v", len(ds), ds)
			}
			d := ds[0].Data
			if d["kind"] != tc.kind || d["status"] != "open" {
				t.Fatalf("discrepancy %v", d)
			}
			vals := d["values"].(map[string]any)
			if len(vals) != len(tc.values) {
				t.Errorf("values %v, want %v", vals, tc.values)
			}
			for k, v := range tc.values {
				if vals[k] != v {
					t.Errorf("values[%s] = %v, want %s", k, vals[k], v)
				}
			}
		})
	}
}

// TestEpisodesAsOf: a status change closes the old episode the day before
// the new one starts, so as-of questions get the value of their date.
func TestEpisodesAsOf(t *testing.T) {
	st := &Stage{Policies: testPolicy(t, ""), Prefix: "hp.", Now: func() time.Time { return at("2020-06-01 12:00:00") }}
	p := newPerson(testKey)
	p1 := registryPerson("registered", "2016-03-01", "illness")
	p2 := registryPerson("exited", "2019-11-20", "illness")
	p2.UpdatedAt = "2019-11-20T09:00:00+08:00"
	for i, r := range []canonical.Person{p1, p2} {
		if _, err := st.Handle(p, input(t, "person", "upsert", r), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	pol := st.Policies.For(testCounty)
	for _, tc := range []struct{ day, want string }{
		{"2016-02-29", ""}, {"2016-03-01", "registered"}, {"2019-11-19", "registered"}, {"2019-11-20", "exited"}, {"2025-01-01", "exited"},
	} {
		f := p.Flags(pol, tc.day)
		if f.PovertyStatus != tc.want {
			t.Errorf("status as of %s = %q, want %q", tc.day, f.PovertyStatus, tc.want)
		}
	}
	eps := p.History["registry"]
	var status []canonical.IdentityEpisode
	for _, e := range eps {
		if e.Flag == "poverty_status" {
			status = append(status, e)
		}
	}
	if len(status) != 2 || status[0].To != "2019-11-19" || status[1].To != "" || status[1].From != "2019-11-20" {
		t.Fatalf("episodes %+v", status)
	}
}

// TestR14IllnessWithoutKeyDisease: the reverse case of R14, a cause of
// illness with no key disease diagnosed, is flagged only once the health
// systems have known the person for min_history (from the first
// diagnosis seen), and resolves when a key disease is diagnosed.
func TestR14IllnessWithoutKeyDisease(t *testing.T) {
	c := &clock{t: at("2019-05-01 12:00:00")}
	st := &Stage{Policies: testPolicy(t, "rules:\n  R14: {min_history: 720h}\n"), Prefix: "hp.", Now: c.now}
	p := newPerson(testKey)
	seq := int64(0)
	handle := func(in *Input) []decoded {
		t.Helper()
		seq++
		msgs, err := st.Handle(p, in, seq)
		if err != nil {
			t.Fatal(err)
		}
		return ofTopic(decode(t, msgs), "hp.discrepancy.v1")
	}
	sweep := func() []decoded {
		t.Helper()
		msgs, err := st.Sweep(p)
		if err != nil {
			t.Fatal(err)
		}
		return ofTopic(decode(t, msgs), "hp.discrepancy.v1")
	}
	reg := registryPerson("registered", "2016-03-01", "lack_of_labour")
	reg.SecondaryCause = "illness"
	if ds := handle(input(t, "person", "upsert", reg)); len(ds) != 0 {
		t.Fatalf("no diagnoses yet: %v", ds)
	}
	if p.Due != 0 {
		t.Errorf("a person with no encounters has a check due at %d", p.Due)
	}
	// An encounter with no key disease on 2019-05-01: 30 days of history
	// are needed, until 2019-05-31 00:00.
	e := canonical.Encounter{Subject: subject("his", "V1"), EncounterNo: "V1", AdmittedAt: "2019-05-01T09:00:00+08:00", MainDiagnosis: "J06.9"}
	if ds := handle(input(t, "encounter", "upsert", e)); len(ds) != 0 {
		t.Fatalf("within min_history: %v", ds)
	}
	if want := at("2019-05-31 00:00:00").Unix(); p.Due != want {
		t.Errorf("due %d, want %d", p.Due, want)
	}
	c.t = at("2019-05-30 23:59:59")
	if ds := sweep(); len(ds) != 0 {
		t.Fatalf("a second before min_history: %v", ds)
	}
	c.t = at("2019-05-31 00:00:00")
	ds := sweep()
	if len(ds) != 1 || ds[0].Data["kind"] != KindCauseMismatch || ds[0].Data["status"] != "open" {
		t.Fatalf("at min_history: %v", ds)
	}
	vals := ds[0].Data["values"].(map[string]any)
	if vals["registry"] != "illness" || vals["his"] != "no_key_disease" || ds[0].Data["since"] != "2019-05-31T00:00:00+08:00" {
		t.Errorf("discrepancy %v", ds[0].Data)
	}
	// A key disease diagnosed: cause and illness agree.
	e2 := canonical.Encounter{Subject: subject("his", "V2"), EncounterNo: "V2", AdmittedAt: "2019-06-02T09:00:00+08:00", MainDiagnosis: "I10"}
	ds = handle(input(t, "encounter", "upsert", e2))
	if len(ds) != 1 || ds[0].Data["status"] != "resolved" {
		t.Fatalf("after a key disease: %v", ds)
	}
}
