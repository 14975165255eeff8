package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/normalize"
)

// Discrepancy kinds (canonical.Discrepancy.Kind).
const (
	KindMarkMissing      = "registry_mark_missing"
	KindExitedMarked     = "exited_still_marked"
	KindDeceasedMarked   = "deceased_still_marked"
	KindCauseMismatch    = "cause_diagnosis_mismatch"
	KindCardMissing      = "chronic_card_missing"
	KindFallbackIdentity = "fallback_identity"
)

// DiscrepancyKinds lists every kind, in a fixed order.
var DiscrepancyKinds = []string{KindMarkMissing, KindExitedMarked, KindDeceasedMarked, KindCauseMismatch, KindCardMissing, KindFallbackIdentity}

// DiscrepancyID is the stable id of a discrepancy: the same person, kind
// and systems always give the same id.
func DiscrepancyID(kind, personKey string, systems []string) string {
	h := sha256.Sum256([]byte(kind + "|" + personKey + "|" + strings.Join(systems, ",")))
	return kind + ":" + hex.EncodeToString(h[:16])
}

// startOfDay is midnight of date d in China Standard Time.
func startOfDay(d string) (time.Time, bool) {
	t, err := time.ParseInLocation(time.DateOnly, d, normalize.CST())
	return t, err == nil
}

func sinceOf(d string) string {
	if t, ok := startOfDay(d); ok {
		return t.Format(time.RFC3339)
	}
	return ""
}

// marked says how system applies the poverty policy to the person today:
// the insurance poverty mark in force, or a poor status in the system's
// own person record. ok is false when the system has no view of the
// person at all, so nothing can be said.
func (p *Person) marked(pol *Policy, system, d string) (value string, isMarked, ok bool) {
	if !p.hasView(system) {
		return "", false, false
	}
	if system == pol.Authority["poverty_mark"] && p.latestEnrollment(system) != nil {
		if p.valueAsOf(system, "poverty_mark", d) == "true" {
			return "poverty_mark", true, true
		}
		return "no_poverty_mark", false, true
	}
	r := p.latestPerson(system)
	if r == nil {
		return "", false, false
	}
	st := firstNonEmpty(r.Person.PovertyStatus, "none")
	return st, isPoor(st), true
}

// Evaluate returns the discrepancies open for the person at now under pol,
// sorted by id, and when a time-driven check next falls due (zero for
// never): a system that has not followed the registry yet but is still
// within the grace period.
func (p *Person) Evaluate(pol *Policy, now time.Time) ([]canonical.Discrepancy, time.Time) {
	d := today(now)
	var (
		out []canonical.Discrepancy
		due time.Time
	)
	wait := func(at time.Time) {
		if due.IsZero() || at.Before(due) {
			due = at
		}
	}
	add := func(kind string, systems []string, values map[string]string, authority, since, detail string) {
		slices.Sort(systems)
		id := DiscrepancyID(kind, p.Key, systems)
		out = append(out, canonical.Discrepancy{
			Subject: canonical.Subject{
				Origin:    canonical.Origin{County: p.County, SourceSystem: "hpgate", SourceID: id},
				PersonKey: p.Key, IDMasked: p.IDMasked, IDQuality: firstNonEmpty(p.IDQuality, "valid"),
			},
			DiscrepancyID: id, Kind: kind, Systems: systems, Values: values,
			Authority: authority, Since: since, Status: "open", Detail: detail,
		})
	}
	reg := pol.Authority["poverty_status"]
	regRec := p.latestPerson(reg)
	others := func() []string {
		var s []string
		for _, sys := range Systems {
			if sys != reg {
				s = append(s, sys)
			}
		}
		return s
	}
	if regRec != nil {
		pr := regRec.Person
		status := pr.PovertyStatus
		stEp, _ := p.episodeAsOf(reg, "poverty_status", d)
		deceased := pr.Deceased != nil && *pr.Deceased
		// follow checks, once the grace period from date from has passed,
		// that every other system applies the policy (want) or not.
		follow := func(kind, from, regValue string, want bool, detail string) {
			if deadline, ok := p.deadline(from, pol); ok && now.Before(deadline) {
				wait(deadline)
				return
			}
			for _, sys := range others() {
				v, isMarked, ok := p.marked(pol, sys, d)
				if ok && isMarked != want {
					add(kind, []string{reg, sys}, map[string]string{reg: regValue, sys: v}, reg, sinceOf(from),
						fmt.Sprintf(detail, reg, from, sys, pol.GracePeriod))
				}
			}
		}
		statusFrom := firstNonEmpty(stEp.From, pr.StatusSince, dateOf(regRec.UpdatedAt))
		switch {
		case deceased:
			follow(KindDeceasedMarked, firstNonEmpty(pr.DeceasedOn, dateOf(regRec.UpdatedAt)), "deceased", false,
				"%s records the death on %s; %s still applies the poverty policy after the %s grace period")
		case status == "exited":
			follow(KindExitedMarked, statusFrom, "exited", false,
				"%s records the exit on %s; %s still applies the poverty policy after the %s grace period")
		case isPoor(status):
			follow(KindMarkMissing, statusFrom, status, true,
				"%s status since %s; %s does not apply the poverty policy after the %s grace period (R15)")
		}
		if !deceased && (isPoor(status) || status == "monitored") {
			p.evaluateDiseases(pol, now, pr, add, wait)
		}
	}
	if sys, since := p.fallbackSystems(); len(sys) > 0 {
		vals := map[string]string{}
		for _, s := range sys {
			vals[s] = "fallback"
		}
		add(KindFallbackIdentity, sys, vals, "", since,
			"the person key is derived from a fallback identity (no valid ID number): review and correct the ID in the source")
	}
	slices.SortFunc(out, func(a, b canonical.Discrepancy) int { return strings.Compare(a.DiscrepancyID, b.DiscrepancyID) })
	return out, due
}

// deadline is the end of the grace period that starts on date from.
func (p *Person) deadline(from string, pol *Policy) (time.Time, bool) {
	t, ok := startOfDay(from)
	if !ok {
		return time.Time{}, false
	}
	return t.Add(pol.GracePeriod), true
}

// evaluateDiseases checks R14 (a key disease with a cause other than
// illness) and the missing chronic card.
func (p *Person) evaluateDiseases(pol *Policy, now time.Time, pr *canonical.Person,
	add func(string, []string, map[string]string, string, string, string), wait func(time.Time)) {
	d := today(now)
	reg := pol.Authority["poverty_cause"]
	diagSys := pol.Authority["diagnosis"]
	// Every diagnosis any system has seen, with the earliest date.
	type seen struct{ on, system string }
	all := map[string]seen{}
	for _, sys := range slices.Sorted(maps.Keys(p.Diagnoses)) {
		for code, on := range p.Diagnoses[sys] {
			if s, ok := all[code]; !ok || on < s.on {
				all[code] = seen{on, sys}
			}
		}
	}
	codes := slices.Sorted(maps.Keys(all))

	illness := func(c string) bool { return c == "illness" || c == "illness_return" }
	if cause := pr.PovertyCause; cause != "" && !illness(cause) && !illness(pr.SecondaryCause) && pol.KeyDiseases.Len() > 0 {
		var hits []string
		first := ""
		for _, c := range codes {
			if _, _, ok := pol.KeyDiseases.Match(c); ok {
				hits = append(hits, c)
				if first == "" || all[c].on < first {
					first = all[c].on
				}
			}
		}
		if len(hits) > 0 {
			causeEp, _ := p.episodeAsOf(reg, "poverty_cause", d)
			since := first
			if causeEp.From > since {
				since = causeEp.From
			}
			add(KindCauseMismatch, []string{reg, diagSys}, map[string]string{reg: cause, diagSys: strings.Join(hits, ",")}, reg, sinceOf(since),
				fmt.Sprintf("key disease diagnosed (%d code(s)) but the cause of poverty is %s, not illness (R14): review the cause", len(hits), cause))
		}
	}
	// R14's other half (cause and illness must agree): the cause of
	// poverty is illness, yet no system has diagnosed a key disease. The
	// stream only shows what the health systems saw since they were
	// connected, so a person is judged only once some system has recorded
	// a diagnosis of theirs and min_history has passed since the first
	// one: a person with no encounters yet, or only recent ones, is not
	// flagged.
	if (illness(pr.PovertyCause) || illness(pr.SecondaryCause)) && pol.KeyDiseases.Len() > 0 && len(codes) > 0 {
		key := false
		first := ""
		for _, c := range codes {
			if _, _, ok := pol.KeyDiseases.Match(c); ok {
				key = true
			}
			if first == "" || all[c].on < first {
				first = all[c].on
			}
		}
		if start, ok := startOfDay(first); ok && !key {
			ready := start.Add(pol.Rules.R14MinHistory)
			if now.Before(ready) {
				wait(ready)
			} else {
				cause := pr.PovertyCause
				if !illness(cause) {
					cause = pr.SecondaryCause
				}
				causeEp, _ := p.episodeAsOf(reg, "poverty_cause", d)
				since := ready.In(normalize.CST()).Format(time.DateOnly)
				if causeEp.From > since {
					since = causeEp.From
				}
				add(KindCauseMismatch, []string{reg, diagSys}, map[string]string{reg: cause, diagSys: "no_key_disease"}, reg, sinceOf(since),
					fmt.Sprintf("the cause of poverty is %s but no key disease was diagnosed in %d code(s) recorded since %s (R14): review the cause or the diagnoses", cause, len(codes), first))
			}
		}
	}
	if pol.Chronic.Len() == 0 {
		return
	}
	cardSys := pol.Authority["chronic_card"]
	haveCat := map[string]bool{}
	for _, r := range p.Records {
		if r.System != cardSys || r.Deleted || r.Card == nil || r.Card.Status == "revoked" {
			continue
		}
		if r.Card.ExpiresOn != "" && r.Card.ExpiresOn < d {
			continue
		}
		if r.Card.DiseaseCategory != "" {
			haveCat[r.Card.DiseaseCategory] = true
		}
		if _, cat, ok := pol.Chronic.Match(r.Card.DiseaseCode); ok {
			haveCat[cat] = true
		}
	}
	var missing []string
	first := ""
	for _, c := range codes {
		_, cat, ok := pol.Chronic.Match(c)
		if !ok || haveCat[cat] {
			continue
		}
		deadline, ok := p.deadline(all[c].on, pol)
		if ok && now.Before(deadline) {
			wait(deadline)
			continue
		}
		missing = append(missing, c)
		if first == "" || all[c].on < first {
			first = all[c].on
		}
	}
	if len(missing) > 0 {
		add(KindCardMissing, []string{diagSys, cardSys}, map[string]string{diagSys: strings.Join(missing, ","), cardSys: "no_card"}, cardSys, sinceOf(first),
			fmt.Sprintf("chronic disease of the county catalogue diagnosed (%d code(s)) with no valid chronic-disease card", len(missing)))
	}
}

// fallbackSystems returns the systems holding live records of the person
// under a fallback identity, and since when.
func (p *Person) fallbackSystems() ([]string, string) {
	var sys []string
	since := ""
	for _, r := range p.Records {
		if r.Deleted || r.IDQuality != "fallback" {
			continue
		}
		if !slices.Contains(sys, r.System) {
			sys = append(sys, r.System)
		}
		if since == "" || r.UpdatedAt < since {
			since = r.UpdatedAt
		}
	}
	for s, on := range p.FallbackSeen {
		if !slices.Contains(sys, s) {
			sys = append(sys, s)
		}
		if since == "" || on < since {
			since = on
		}
	}
	slices.Sort(sys)
	return sys, since
}
