package identity

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/normalize"
)

// Systems are the source systems, in the order views list them.
var Systems = []string{"registry", "insurance", "his", "public_health"}

// today is the date of now in China Standard Time, which the canonical
// dates are in.
func today(now time.Time) string { return now.In(normalize.CST()).Format(time.DateOnly) }

// episodes returns every dated episode of system: the person-flag history,
// plus the episodes of enrolment poverty marks, chronic cards and
// contracts, sorted by flag then from.
func (p *Person) episodes(system string) []canonical.IdentityEpisode {
	eps := slices.Clone(p.History[system])
	for _, r := range p.sortedRecords() {
		if r.System != system || r.Deleted {
			continue
		}
		switch {
		case r.Enrollment != nil:
			e := r.Enrollment
			if e.PovertyMark == nil || !*e.PovertyMark {
				continue
			}
			from, to := e.PovertyMarkFrom, e.PovertyMarkTo
			if e.Year != nil {
				y := strconv.Itoa(*e.Year)
				if from == "" {
					from = y + "-01-01"
				}
				if to == "" {
					to = y + "-12-31"
				}
			}
			if from == "" {
				continue
			}
			eps = append(eps, canonical.IdentityEpisode{Flag: "poverty_mark", Value: "true", From: from, To: to, SourceID: r.SourceID})
			if e.PolicyLevel != "" {
				eps = append(eps, canonical.IdentityEpisode{Flag: "policy_level", Value: e.PolicyLevel, From: from, To: to, SourceID: r.SourceID})
			}
		case r.Card != nil:
			c := r.Card
			if c.DiseaseCode == "" || c.IssuedOn == "" {
				continue
			}
			to := c.ExpiresOn
			if c.Status == "revoked" {
				if d := dateOf(r.UpdatedAt); d != "" && (to == "" || d < to) {
					to = d
				}
			}
			if to != "" && to < c.IssuedOn {
				to = c.IssuedOn
			}
			eps = append(eps, canonical.IdentityEpisode{Flag: "chronic_card", Value: c.DiseaseCode, From: c.IssuedOn, To: to, SourceID: r.SourceID})
		case r.Contract != nil:
			c := r.Contract
			from := firstNonEmpty(c.PeriodFrom, c.SignedOn)
			if from == "" || c.Status == "cancelled" {
				continue
			}
			eps = append(eps, canonical.IdentityEpisode{Flag: "contract", Value: firstNonEmpty(c.Package, "basic"), From: from, To: c.PeriodTo, SourceID: r.SourceID})
		}
	}
	slices.SortStableFunc(eps, func(a, b canonical.IdentityEpisode) int {
		if a.Flag != b.Flag {
			return strings.Compare(a.Flag, b.Flag)
		}
		if a.From != b.From {
			return strings.Compare(a.From, b.From)
		}
		return strings.Compare(a.Value, b.Value)
	})
	return eps
}

// sortedRecords returns the records by entity, then source id, then id.
func (p *Person) sortedRecords() []*Record {
	rs := slices.Collect(maps.Values(p.Records))
	slices.SortFunc(rs, func(a, b *Record) int {
		if a.Entity != b.Entity {
			return strings.Compare(a.Entity, b.Entity)
		}
		if a.SourceID != b.SourceID {
			return strings.Compare(a.SourceID, b.SourceID)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return rs
}

// valueAsOf returns the value of flag in system on date d, from the
// episodes; "" when none holds.
func (p *Person) valueAsOf(system, flag, d string) string {
	v := ""
	for _, e := range p.episodes(system) {
		if e.Flag == flag && covers(e, d) {
			v = e.Value // the latest-starting episode wins
		}
	}
	return v
}

// valuesAsOf returns every value of flag in system on date d, sorted and
// distinct (chronic cards).
func (p *Person) valuesAsOf(system, flag, d string) []string {
	var out []string
	for _, e := range p.episodes(system) {
		if e.Flag == flag && covers(e, d) {
			out = append(out, e.Value)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// openEpisode returns the episode of flag in system holding on date d.
func (p *Person) episodeAsOf(system, flag, d string) (canonical.IdentityEpisode, bool) {
	var got canonical.IdentityEpisode
	ok := false
	for _, e := range p.episodes(system) {
		if e.Flag == flag && covers(e, d) {
			got, ok = e, true
		}
	}
	return got, ok
}

// hasView reports whether system has any live record of the person.
func (p *Person) hasView(system string) bool {
	for _, r := range p.Records {
		if r.System == system && !r.Deleted {
			return true
		}
	}
	return false
}

// View builds the person's identity view at now under policy pol.
func (p *Person) View(pol *Policy, now time.Time) canonical.IdentityView {
	d := today(now)
	v := canonical.IdentityView{
		Subject: canonical.Subject{
			Origin:    canonical.Origin{County: p.County, SourceSystem: "hpgate", SourceID: p.Key},
			PersonKey: p.Key,
			IDMasked:  p.IDMasked,
			IDQuality: firstNonEmpty(p.IDQuality, "valid"),
		},
		HouseholdKey: p.HouseholdKey,
		BirthYear:    p.BirthYear,
		Authorities:  maps.Clone(pol.Authority),
	}
	for _, sys := range Systems {
		sv := p.systemView(sys, d)
		if sv.UpdatedAt > v.UpdatedAt {
			v.UpdatedAt = sv.UpdatedAt
		}
		switch sys {
		case "registry":
			v.Registry = sv
		case "insurance":
			v.Insurance = sv
		case "his":
			v.HIS = sv
		case "public_health":
			v.PublicHealth = sv
		}
	}
	return v
}

func (p *Person) systemView(sys, d string) canonical.SystemIdentity {
	var sv canonical.SystemIdentity
	for _, r := range p.sortedRecords() {
		if r.System != sys {
			continue
		}
		if r.UpdatedAt > sv.UpdatedAt {
			sv.UpdatedAt = r.UpdatedAt
		}
		rec := canonical.IdentityRecord{Entity: r.Entity, ID: r.ID, SourceID: r.SourceID, Mapping: r.Mapping}
		if r.Deleted {
			rec.Deleted = ptr(true)
		}
		sv.Records = append(sv.Records, rec)
	}
	if pr := p.latestPerson(sys); pr != nil {
		x := pr.Person
		sv.PovertyStatus, sv.StatusSince = x.PovertyStatus, x.StatusSince
		sv.PovertyCause, sv.SecondaryCause = x.PovertyCause, x.SecondaryCause
		sv.ExitYear, sv.MinLiving, sv.DestituteSupport, sv.Disabled = x.ExitYear, x.MinLiving, x.DestituteSupport, x.Disabled
		sv.Deceased, sv.DeceasedOn = x.Deceased, x.DeceasedOn
	}
	if e := p.latestEnrollment(sys); e != nil {
		sv.PolicyLevel, sv.PremiumSubsidised = e.PolicyLevel, e.PremiumSubsidised
		sv.EnrollmentYear, sv.EnrollmentStatus = e.Year, e.Status
		mark := false
		if ep, ok := p.episodeAsOf(sys, "poverty_mark", d); ok {
			mark = true
			sv.PovertyMarkFrom, sv.PovertyMarkTo = ep.From, ep.To
		}
		sv.PovertyMark = &mark
	}
	sv.ChronicCards = p.valuesAsOf(sys, "chronic_card", d)
	for code := range p.Diagnoses[sys] {
		sv.Diagnoses = append(sv.Diagnoses, code)
	}
	slices.Sort(sv.Diagnoses)
	for _, r := range p.sortedRecords() {
		if r.System != sys || r.Deleted || r.Contract == nil {
			continue
		}
		c := r.Contract
		from := firstNonEmpty(c.PeriodFrom, c.SignedOn)
		if c.Status == "cancelled" || c.Status == "expired" || (from != "" && from > d) || (c.PeriodTo != "" && c.PeriodTo < d) {
			continue
		}
		sv.PriorityGroups = append(sv.PriorityGroups, c.PriorityGroups...)
	}
	slices.Sort(sv.PriorityGroups)
	sv.PriorityGroups = slices.Compact(sv.PriorityGroups)
	sv.Episodes = p.episodes(sys)
	return sv
}

// latestEnrollment returns system's enrolment of the latest year.
func (p *Person) latestEnrollment(system string) *canonical.Enrollment {
	var best *Record
	for _, r := range p.Records {
		if r.System != system || r.Deleted || r.Enrollment == nil {
			continue
		}
		if best == nil || yearValue(r.Enrollment.Year) > yearValue(best.Enrollment.Year) ||
			(yearValue(r.Enrollment.Year) == yearValue(best.Enrollment.Year) && r.Seq > best.Seq) {
			best = r
		}
	}
	if best == nil {
		return nil
	}
	return best.Enrollment
}

func yearValue(y *int) int {
	if y == nil {
		return 0
	}
	return *y
}

func ptr[T any](v T) *T { return &v }

// Flags returns the person's flags on date d, each from the system whose
// word counts for it under pol, for settlement enrichment.
func (p *Person) Flags(pol *Policy, d string) canonical.SettlementFlags {
	f := canonical.SettlementFlags{AsOf: d}
	reg := pol.Authority["poverty_status"]
	if p.hasAnyPerson(reg) {
		f.PovertyStatus = p.valueAsOf(reg, "poverty_status", d)
		f.Poor = ptr(isPoor(f.PovertyStatus))
		if c := p.valueAsOf(pol.Authority["poverty_cause"], "poverty_cause", d); c != "" {
			f.PovertyCause = c
		}
		if v := p.valueAsOf(reg, "min_living", d); v != "" {
			f.MinLiving = ptr(v == "true")
		}
	}
	dec := pol.Authority["deceased"]
	if ep, ok := p.episodeAsOf(dec, "deceased", d); ok {
		f.Deceased = ptr(ep.Value == "true")
	}
	ins := pol.Authority["poverty_mark"]
	if p.latestEnrollment(ins) != nil {
		f.PovertyMark = ptr(p.valueAsOf(ins, "poverty_mark", d) == "true")
	}
	f.ChronicCards = p.valuesAsOf(pol.Authority["chronic_card"], "chronic_card", d)
	return f
}

func (p *Person) hasAnyPerson(system string) bool {
	for _, r := range p.Records {
		if r.System == system && r.Entity == "person" {
			return true
		}
	}
	return false
}

// isPoor reports whether a poverty status gets the poor-population policy
// (registered, pre-exit or returned; R04, R15).
func isPoor(status string) bool {
	return status == "registered" || status == "pre_exit" || status == "returned"
}
