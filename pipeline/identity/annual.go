package identity

import (
	"fmt"
	"math/big"
	"time"

	"github.com/hpgate/hpgate/mappings/canonical"
)

// AnnualCaps are R06's annual caps: for each disease, the most basic
// insurance pays a person for its outpatient special-disease care
// (门诊特殊慢性病) in one calendar year, before the poor's raise. A disease
// is a category of the county's chronic-card catalogue or, for a county
// without one, an ICD-10 code (matching its subcodes).
type AnnualCaps struct {
	chronic DiseaseList
	caps    map[string]int64 // disease → cap, fen
}

// Len is the number of diseases with a cap.
func (c AnnualCaps) Len() int { return len(c.caps) }

// Of returns the disease a diagnosis counts under for the annual cap and
// the cap in fen; ok is false when the diagnosis has no cap.
func (c AnnualCaps) Of(diagnosis string) (disease string, cap int64, ok bool) {
	if diagnosis == "" || len(c.caps) == 0 {
		return "", 0, false
	}
	if _, cat, ok := c.chronic.Match(diagnosis); ok {
		if v, ok := c.caps[cat]; ok {
			return cat, v, true
		}
	}
	if v, ok := c.caps[diagnosis]; ok {
		return diagnosis, v, true
	}
	for i := range diagnosis {
		if diagnosis[i] == '.' {
			if v, ok := c.caps[diagnosis[:i]]; ok {
				return diagnosis[:i], v, true
			}
			break
		}
	}
	return "", 0, false
}

// readAnnualCaps reads an annual-cap table: code,value[,label] where code
// is a category of the chronic catalogue or an ICD-10 code and value the
// cap in yuan.
func readAnnualCaps(path string, chronic DiseaseList) (AnnualCaps, error) {
	cats := map[string]bool{}
	for _, c := range chronic.entries {
		cats[c] = true
	}
	icd := mustRE(canonical.ICD10Pattern)
	c := AnnualCaps{chronic: chronic, caps: map[string]int64{}}
	err := readCodeTable(path, func(line int, code, value string) error {
		if !cats[code] && !icd.MatchString(code) {
			return fmt.Errorf("%s:%d: %q is neither a category of the chronic catalogue (diseases.chronic) nor an ICD-10 code", path, line, code)
		}
		v, err := parseYuan(value)
		if err != nil || v <= 0 {
			return fmt.Errorf("%s:%d: annual cap %q must be a positive amount in yuan", path, line, value)
		}
		if _, dup := c.caps[code]; dup {
			return fmt.Errorf("%s:%d: %q has a cap already", path, line, code)
		}
		c.caps[code] = v
		return nil
	})
	return c, err
}

// ChronicPayment is what the state keeps of one settlement of the
// authoritative system for R06's annual cap: the basic insurance it paid,
// when, and what it was for. Reversals (冲销) are kept with a negative
// amount, so a year's sum is what basic insurance paid net; a voided
// (deleted) settlement is removed.
type ChronicPayment struct {
	SettlementNo string `json:"no,omitempty"`
	SettledAt    string `json:"at"`
	// Diagnosis is the main diagnosis; the disease it counts under is
	// resolved with the county's caps when the rule runs, so the state
	// does not depend on the policy file.
	Diagnosis string `json:"diag,omitempty"`
	Basic     int64  `json:"basic"`
	// Chronic says the settlement itself is a chronic outpatient one (a
	// reversal need not say so).
	Chronic bool `json:"chronic,omitempty"`
	// Reverses is the settlement number a reversal reverses.
	Reverses string `json:"reverses,omitempty"`
}

// keepPayment reports whether a settlement bears on R06's annual cap:
// chronic outpatient settlements and reversals (which may not repeat the
// encounter type of what they reverse).
func keepPayment(s *canonical.Settlement) bool {
	return s.EncounterType == "chronic_outpatient" || (s.Reversal != nil && *s.Reversal)
}

// trackPayment records (or, for a void, removes) settlement id's payment.
func (p *Person) trackPayment(id string, s *canonical.Settlement, deleted bool) {
	if deleted {
		delete(p.ChronicPaid, id)
		return
	}
	if !keepPayment(s) || yearOf(s.SettledAt) == "" {
		delete(p.ChronicPaid, id)
		return
	}
	basic, _ := fen(s.BasicInsurance)
	reversal := s.Reversal != nil && *s.Reversal
	if reversal && basic > 0 {
		// canonical.Settlement says a reversal's amounts are negative; a
		// source that writes them positive still reverses.
		basic = -basic
	}
	pay := ChronicPayment{SettlementNo: s.SettlementNo, SettledAt: s.SettledAt, Diagnosis: s.MainDiagnosis, Basic: basic,
		Chronic: s.EncounterType == "chronic_outpatient"}
	if reversal {
		pay.Reverses = s.ReversesSettlementNo
	}
	if p.ChronicPaid == nil {
		p.ChronicPaid = map[string]ChronicPayment{}
	}
	p.ChronicPaid[id] = pay
}

// YearToDate is what the person's other settlements of the calendar year
// contribute to the rules with an annual figure.
type YearToDate struct {
	// R06Disease is the disease the settlement counts under for R06's
	// annual cap ("" when its diagnosis has none), R06Cap the cap for the
	// poor (the county's cap raised by R06CapRaise percent), in fen, and
	// R06PaidBefore the basic insurance paid for the same disease in the
	// same calendar year by settlements dated before it (reversals
	// subtracted, voids left out).
	R06Disease    string
	R06Cap        *big.Rat
	R06PaidBefore int64
}

// paymentOf returns the year and diagnosis a payment counts under: a
// reversal's are those of the settlement it reverses when the state holds
// it (a reversal in January of a December settlement gives back December's
// cap), its own otherwise. ok is false for a reversal of something that
// was not chronic outpatient care.
func (p *Person) paymentOf(pay ChronicPayment) (year, diagnosis string, ok bool) {
	year, diagnosis = yearOf(pay.SettledAt), pay.Diagnosis
	if pay.Reverses != "" {
		for _, orig := range p.ChronicPaid {
			if orig.SettlementNo == pay.Reverses && orig.Reverses == "" {
				return yearOf(orig.SettledAt), firstNonEmpty(diagnosis, orig.Diagnosis), true
			}
		}
	}
	return year, diagnosis, pay.Chronic
}

// YearToDate returns the annual figures for settlement s (envelope id),
// from the payments in the state. Earlier means an earlier settlement time
// (then a smaller envelope id), whatever order the settlements arrived in,
// so a replay gives the same figures.
func (p *Person) YearToDate(pol *Policy, s *canonical.Settlement, id string) YearToDate {
	var ytd YearToDate
	if s.EncounterType != "chronic_outpatient" {
		return ytd
	}
	disease, cap, ok := pol.Rules.R06AnnualCap.Of(s.MainDiagnosis)
	year := yearOf(s.SettledAt)
	if !ok || year == "" {
		return ytd
	}
	ytd.R06Disease = disease
	ytd.R06Cap = ratOf(cap, new(big.Rat).Add(big.NewRat(100, 1), pol.Rules.R06CapRaise))
	at := timeKey(s.SettledAt)
	for oid, pay := range p.ChronicPaid {
		if oid == id {
			continue
		}
		if k := timeKey(pay.SettledAt); k > at || (k == at && oid > id) {
			continue
		}
		y, diag, ok := p.paymentOf(pay)
		if !ok || y != year {
			continue
		}
		if d, _, ok := pol.Rules.R06AnnualCap.Of(diag); ok && d == disease {
			ytd.R06PaidBefore += pay.Basic
		}
	}
	return ytd
}

// timeKey orders RFC 3339 times across offsets; an unparsable value sorts
// by its text.
func timeKey(s string) string {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format("2006-01-02T15:04:05.000000000")
	}
	return s
}
