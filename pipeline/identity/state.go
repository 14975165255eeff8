package identity

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/normalize"
)

// Person is the state the identity stage keeps for one person key: the
// records of every system that bear on identity, the dated history of the
// flags of person records, the diagnoses seen, the out-of-pocket of the
// year for RPR and the last status emitted per discrepancy and alert. It is
// stored as JSON in the partition's bucket of the state store, and is a
// function of the canonical topics alone (per topic, in partition order),
// so a rebuild by replay reaches the same value.
type Person struct {
	Key          string `json:"key"`
	County       string `json:"county,omitempty"`
	IDMasked     string `json:"id_masked,omitempty"`
	IDQuality    string `json:"id_quality,omitempty"`
	BirthYear    *int   `json:"birth_year,omitempty"`
	HouseholdKey string `json:"household_key,omitempty"`
	// Records are the identity-bearing records, by envelope id.
	Records map[string]*Record `json:"records,omitempty"`
	// History holds, per system, the dated episodes of person-record flags.
	History map[string][]canonical.IdentityEpisode `json:"history,omitempty"`
	// Diagnoses seen, per system, with the first date each was seen.
	Diagnoses map[string]map[string]string `json:"diagnoses,omitempty"`
	// Settlements seen of the authoritative system within the window
	// (WindowYears calendar years up to SettlementYear): envelope id →
	// hash and year, to drop repeats.
	Settlements map[string]SeenSettlement `json:"settlements,omitempty"`
	// SettlementYear is the latest calendar year of the person's
	// settlements (not counting one dated after the year it was
	// ingested), where the window ends. A settlement dated before the
	// window is taken as seen: it raises no alert and counts in no sum.
	SettlementYear int `json:"settlement_year,omitempty"`
	// OutOfPocket per calendar year, per settlement envelope id, in fen.
	OutOfPocket map[string]map[string]int64 `json:"out_of_pocket,omitempty"`
	// ChronicPaid holds, per settlement envelope id, the basic insurance
	// paid for chronic outpatient care (and its reversals) of the latest
	// two calendar years, for R06's annual cap.
	ChronicPaid map[string]ChronicPayment `json:"chronic_paid,omitempty"`
	// FallbackSeen says, per system, since when (RFC 3339) records about the
	// person that are not kept (encounters, settlements) came under a
	// fallback identity.
	FallbackSeen map[string]string `json:"fallback_seen,omitempty"`
	// Emitted is the last discrepancy or RPR alert emitted, by its id.
	Emitted map[string]Emitted `json:"emitted,omitempty"`
	// Due is when a time-driven check of this person next falls due (Unix
	// seconds), 0 for none.
	Due int64 `json:"due,omitempty"`
}

// Record is one identity-bearing source record of a person.
type Record struct {
	ID        string `json:"id"`
	Hash      string `json:"hash,omitempty"`
	Entity    string `json:"entity"`
	System    string `json:"system"`
	SourceID  string `json:"source_id,omitempty"`
	Mapping   string `json:"mapping,omitempty"`
	County    string `json:"county,omitempty"`
	UpdatedAt string `json:"updated_at,omitempty"`
	IDQuality string `json:"id_quality,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`
	// Seq orders records of one system that share an updated_at: the
	// order of arrival.
	Seq int64 `json:"seq,omitempty"`

	Person     *canonical.Person      `json:"person,omitempty"`
	Enrollment *canonical.Enrollment  `json:"enrollment,omitempty"`
	Card       *canonical.ChronicCard `json:"card,omitempty"`
	Contract   *canonical.Contract    `json:"contract,omitempty"`
}

// Emitted is what was last emitted for one discrepancy or alert id.
type Emitted struct {
	Hash       string `json:"hash"`
	Status     string `json:"status,omitempty"`
	ResolvedAt string `json:"resolved_at,omitempty"`
	// Of an open discrepancy, what its resolution repeats.
	Systems   []string `json:"systems,omitempty"`
	Authority string   `json:"authority,omitempty"`
	Since     string   `json:"since,omitempty"`
	// Year is the calendar year of an RPR alert, which leaves the state
	// with the window.
	Year string `json:"year,omitempty"`
}

func newPerson(key string) *Person {
	return &Person{Key: key}
}

// Input is one canonical message as the stage reads it.
type Input struct {
	Entity string // canonical entity, from the topic
	Env    canonical.Envelope
	// Where is the input's position for display: topic/partition/offset.
	Where string
}

// apply folds one input into p and reports whether it changed anything an
// output depends on, and whether the input is a settlement the caller is
// to judge (enrich and run the per-settlement rules on): a new or changed
// settlement of the authority within the window. The settlement itself is
// not kept (only its de-dup entry, out-of-pocket, payment and diagnosis).
//
// Only settlements of settlementAuthority (the insurance system by
// default) count towards out-of-pocket; the HIS's copies of the same
// settlements only contribute their diagnoses.
func (p *Person) apply(in *Input, seq int64, now time.Time, settlementAuthority string) (changed, judge bool, err error) {
	env := &in.Env
	var sub canonical.Subject
	if err := json.Unmarshal(env.Data, &sub); err != nil {
		return false, false, fmt.Errorf("decode %s data: %w", in.Entity, err)
	}
	if p.County == "" || env.Source.System == "registry" {
		p.County = env.County
	}
	if sub.IDMasked != "" {
		p.IDMasked = sub.IDMasked
	}
	if sub.IDQuality != "" {
		p.IDQuality = sub.IDQuality
	}
	deleted := env.Op == canonical.OpDelete
	if sub.IDQuality == "fallback" && !deleted && (in.Entity == "encounter" || in.Entity == "settlement") {
		if p.FallbackSeen == nil {
			p.FallbackSeen = map[string]string{}
		}
		on := firstNonEmpty(sub.UpdatedAt, env.OccurredAt, env.IngestedAt)
		if prev, ok := p.FallbackSeen[env.Source.System]; on != "" && (!ok || on < prev) {
			p.FallbackSeen[env.Source.System] = on
		}
	}
	switch in.Entity {
	case "person", "enrollment", "chronic_card", "contract":
		if r := p.Records[env.ID]; r != nil && r.Hash == env.Hash && r.Deleted == deleted {
			return false, false, nil // a repeat
		}
		r := &Record{ID: env.ID, Hash: env.Hash, Entity: in.Entity, System: env.Source.System,
			SourceID: sub.SourceID, Mapping: env.Source.Mapping, County: env.County,
			UpdatedAt: firstNonEmpty(sub.UpdatedAt, env.OccurredAt, env.IngestedAt),
			IDQuality: sub.IDQuality, Deleted: deleted, Seq: seq}
		if old := p.Records[env.ID]; old != nil && deleted {
			// A delete carries only the identifying fields: keep what the
			// record said, marked deleted, so writeback still finds it.
			r.Person, r.Enrollment, r.Card, r.Contract = old.Person, old.Enrollment, old.Card, old.Contract
		} else {
			var err error
			switch in.Entity {
			case "person":
				r.Person = new(canonical.Person)
				err = json.Unmarshal(env.Data, r.Person)
			case "enrollment":
				r.Enrollment = new(canonical.Enrollment)
				err = json.Unmarshal(env.Data, r.Enrollment)
			case "chronic_card":
				r.Card = new(canonical.ChronicCard)
				err = json.Unmarshal(env.Data, r.Card)
			case "contract":
				r.Contract = new(canonical.Contract)
				err = json.Unmarshal(env.Data, r.Contract)
			}
			if err != nil {
				return false, false, fmt.Errorf("decode %s data: %w", in.Entity, err)
			}
			// Only what the view needs is kept; the rest is in the topic.
			if r.Person != nil {
				r.Person.NameMasked = ""
				r.Person.Subject = canonical.Subject{}
			}
		}
		if p.Records == nil {
			p.Records = map[string]*Record{}
		}
		p.Records[env.ID] = r
		if r.Person != nil && !deleted {
			if r.Person.BirthYear != nil {
				p.BirthYear = r.Person.BirthYear
			}
			if r.Person.HouseholdKey != "" && (p.HouseholdKey == "" || r.System == "registry") {
				p.HouseholdKey = r.Person.HouseholdKey
			}
		}
		if in.Entity == "person" {
			p.track(r.System, now)
		}
		return true, false, nil
	case "encounter":
		if deleted {
			return false, false, nil
		}
		var e canonical.Encounter
		if err := json.Unmarshal(env.Data, &e); err != nil {
			return false, false, fmt.Errorf("decode encounter data: %w", err)
		}
		on := dateOf(firstNonEmpty(e.AdmittedAt, e.DischargedAt, e.UpdatedAt, env.OccurredAt, env.IngestedAt))
		changed := false
		for _, d := range append([]string{e.MainDiagnosis}, e.Diagnoses...) {
			changed = p.diagnosed(env.Source.System, d, on) || changed
		}
		return changed, false, nil
	case "settlement":
		if env.Source.System != settlementAuthority {
			if deleted {
				return false, false, nil
			}
			var s canonical.Settlement
			if err := json.Unmarshal(env.Data, &s); err != nil {
				return false, false, fmt.Errorf("decode settlement data: %w", err)
			}
			return p.diagnosed(env.Source.System, s.MainDiagnosis, dateOf(s.SettledAt)), false, nil
		}
		p.migrateSettlements()
		seen, known := p.Settlements[env.ID]
		if known && seen.Hash == env.Hash {
			return false, false, nil
		}
		var s canonical.Settlement
		if err := json.Unmarshal(env.Data, &s); err != nil {
			return false, false, fmt.Errorf("decode settlement data: %w", err)
		}
		year, _ := strconv.Atoi(yearOf(s.SettledAt))
		if year == 0 && known {
			// A void carries only the identifying fields, maybe not the
			// settlement time: it belongs to the year of what it voids.
			year = seen.Year
		}
		if p.beforeWindow(year) {
			// Older than the window: judged when it first came (its
			// de-dup entry is pruned since), or too old to bear on a
			// yearly figure. It raises nothing and counts in no sum; a
			// correction that moves a settlement back there takes it out
			// of the sums. Its diagnosis is still a diagnosis.
			if known {
				delete(p.Settlements, env.ID)
				p.forgetSettlement(env.ID)
			}
			if deleted {
				return false, false, nil
			}
			return p.diagnosed(env.Source.System, s.MainDiagnosis, dateOf(s.SettledAt)), false, nil
		}
		p.advanceWindow(year, firstNonEmpty(env.IngestedAt, env.OccurredAt))
		if p.Settlements == nil {
			p.Settlements = map[string]SeenSettlement{}
		}
		// An undated one leaves with the window it came in.
		p.Settlements[env.ID] = SeenSettlement{Hash: env.Hash, Year: cmp.Or(year, p.SettlementYear)}
		// A correction replaces what the settlement counted before (maybe
		// under another year); a void takes it out.
		p.forgetSettlement(env.ID)
		p.trackPayment(env.ID, &s, deleted)
		if year != 0 && !deleted {
			y := strconv.Itoa(year)
			if p.OutOfPocket == nil {
				p.OutOfPocket = map[string]map[string]int64{}
			}
			if p.OutOfPocket[y] == nil {
				p.OutOfPocket[y] = map[string]int64{}
			}
			oop, _ := fen(s.OutOfPocket)
			p.OutOfPocket[y][env.ID] = oop
		}
		if !deleted {
			p.diagnosed(env.Source.System, s.MainDiagnosis, dateOf(s.SettledAt))
		}
		return true, true, nil
	}
	return false, false, nil
}

// diagnosed records a diagnosis code seen by system on a date.
func (p *Person) diagnosed(system, code, on string) bool {
	if code == "" || on == "" {
		return false
	}
	if p.Diagnoses == nil {
		p.Diagnoses = map[string]map[string]string{}
	}
	m := p.Diagnoses[system]
	if m == nil {
		m = map[string]string{}
		p.Diagnoses[system] = m
	}
	if first, ok := m[code]; ok && first <= on {
		return false
	}
	m[code] = on
	return true
}

// personFlags are the flags of person records that get dated episodes.
var personFlags = []string{"deceased", "destitute_support", "disabled", "exit_year", "min_living", "poverty_cause", "poverty_status"}

// latestPerson returns the current person record of system: the latest by
// updated_at (then arrival) that is not deleted.
func (p *Person) latestPerson(system string) *Record {
	var best *Record
	for _, r := range p.Records {
		if r.Entity != "person" || r.System != system || r.Deleted || r.Person == nil {
			continue
		}
		if best == nil || r.UpdatedAt > best.UpdatedAt || (r.UpdatedAt == best.UpdatedAt && r.Seq > best.Seq) {
			best = r
		}
	}
	return best
}

// flagValues returns the text value of each dated flag of a person record
// and the date it took effect.
func flagValues(r *Record, now time.Time) map[string][2]string {
	out := map[string][2]string{}
	if r == nil {
		return out
	}
	pr := r.Person
	changed := dateOf(r.UpdatedAt)
	if changed == "" {
		changed = now.In(normalize.CST()).Format(time.DateOnly)
	}
	set := func(flag, value, from string) {
		if value == "" {
			return
		}
		if from == "" {
			from = changed
		}
		out[flag] = [2]string{value, from}
	}
	set("poverty_status", pr.PovertyStatus, pr.StatusSince)
	set("poverty_cause", pr.PovertyCause, pr.StatusSince)
	if pr.ExitYear != nil {
		set("exit_year", strconv.Itoa(*pr.ExitYear), pr.StatusSince)
	}
	for _, b := range []struct {
		flag string
		v    *bool
	}{{"min_living", pr.MinLiving}, {"destitute_support", pr.DestituteSupport}, {"disabled", pr.Disabled}} {
		if b.v != nil {
			set(b.flag, strconv.FormatBool(*b.v), "")
		}
	}
	if pr.Deceased != nil {
		from := ""
		if *pr.Deceased {
			from = pr.DeceasedOn
		}
		set("deceased", strconv.FormatBool(*pr.Deceased), from)
	}
	return out
}

// track brings the episodes of system's person flags up to date with its
// current person record: a changed value closes the open episode the day
// before the new one starts and opens the new one.
func (p *Person) track(system string, now time.Time) {
	cur := flagValues(p.latestPerson(system), now)
	eps := p.History[system]
	for _, flag := range personFlags {
		open := -1
		for i := range eps {
			if eps[i].Flag == flag && eps[i].To == "" {
				open = i
			}
		}
		v, has := cur[flag]
		switch {
		case open >= 0 && has && eps[open].Value == v[0]:
			// Unchanged.
		case open >= 0 && has && v[1] <= eps[open].From:
			// A correction dated at or before the open episode: it
			// replaces it.
			eps[open].Value, eps[open].From = v[0], v[1]
		case open >= 0:
			end := dateOf(now.In(normalize.CST()).Format(time.DateOnly))
			if has {
				end = dayBefore(v[1])
			}
			if end < eps[open].From {
				end = eps[open].From
			}
			eps[open].To = end
			if has {
				eps = append(eps, canonical.IdentityEpisode{Flag: flag, Value: v[0], From: v[1]})
			}
		case has:
			eps = append(eps, canonical.IdentityEpisode{Flag: flag, Value: v[0], From: v[1]})
		}
	}
	slices.SortStableFunc(eps, func(a, b canonical.IdentityEpisode) int {
		if a.Flag != b.Flag {
			return cmpString(a.Flag, b.Flag)
		}
		return cmpString(a.From, b.From)
	})
	if r := p.latestPerson(system); r != nil {
		for i := range eps {
			if eps[i].To == "" {
				eps[i].SourceID = r.SourceID
			}
		}
	}
	if p.History == nil {
		p.History = map[string][]canonical.IdentityEpisode{}
	}
	p.History[system] = eps
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// dateOf returns the date part (in the value's own offset) of an RFC 3339
// time or a date, "" when there is none.
func dateOf(s string) string {
	if len(s) >= 10 && s[4] == '-' && s[7] == '-' {
		return s[:10]
	}
	return ""
}

func yearOf(s string) string {
	if d := dateOf(s); d != "" {
		return d[:4]
	}
	return ""
}

func dayBefore(d string) string {
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return d
	}
	return t.AddDate(0, 0, -1).Format(time.DateOnly)
}

func addDays(d string, n int) string {
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return d
	}
	return t.AddDate(0, 0, n).Format(time.DateOnly)
}

// covers reports whether an episode holds on date d.
func covers(e canonical.IdentityEpisode, d string) bool {
	return e.From <= d && (e.To == "" || d <= e.To)
}
