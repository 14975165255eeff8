package identity

import (
	"encoding/json"
	"maps"
	"strconv"
)

// WindowYears is how many calendar years of per-settlement state a person
// keeps, counting back from the latest year of their settlements: what R06
// (a late settlement of last year against last year's cap) and RPR (the
// out-of-pocket of a year) need. Settlements dated before the window are
// not judged again, see [Person.SettlementYear].
const WindowYears = 2

// SeenSettlement is what the state keeps of one settlement of the
// authoritative system to drop repeats: its content hash, and the
// calendar year it counts in, which decides when it leaves the window.
type SeenSettlement struct {
	Hash string `json:"h"`
	Year int    `json:"y,omitempty"`
	// legacy marks an entry read from a state written before the window
	// (a bare hash, no year): its year is recovered from the sums.
	legacy bool
}

// UnmarshalJSON reads an entry, or a bare hash as states written before
// the window kept them.
func (s *SeenSettlement) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*s = SeenSettlement{legacy: true}
		return json.Unmarshal(b, &s.Hash)
	}
	type plain SeenSettlement
	return json.Unmarshal(b, (*plain)(s))
}

// windowStart is the first calendar year inside the window, 0 while no
// dated settlement was seen.
func (p *Person) windowStart() int {
	if p.SettlementYear == 0 {
		return 0
	}
	return p.SettlementYear - WindowYears + 1
}

// beforeWindow reports whether a settlement of year is older than the
// window. An undated settlement (year 0) never is.
func (p *Person) beforeWindow(year int) bool {
	return year != 0 && year < p.windowStart()
}

// advanceWindow moves the window to end at year when that is later than
// its end, and drops what fell out of it. A settlement dated after the
// year it was ingested in (a typo such as 2091) does not move it, or it
// would push every real settlement out. ingested is the envelope's
// ingest (or occurrence) time, "" when unknown.
func (p *Person) advanceWindow(year int, ingested string) {
	if year <= p.SettlementYear {
		return
	}
	if iy, err := strconv.Atoi(yearOf(ingested)); err == nil && year > iy {
		return
	}
	p.SettlementYear = year
	p.pruneWindow()
}

// pruneWindow drops the de-dup entries, out-of-pocket and chronic payments
// of years before the window, so a person's record stays bounded however
// many years of settlements they have.
func (p *Person) pruneWindow() {
	start := p.windowStart()
	maps.DeleteFunc(p.Settlements, func(_ string, s SeenSettlement) bool { return s.Year < start })
	maps.DeleteFunc(p.OutOfPocket, func(y string, _ map[string]int64) bool {
		v, err := strconv.Atoi(y)
		return err != nil || v < start
	})
	maps.DeleteFunc(p.ChronicPaid, func(_ string, pay ChronicPayment) bool {
		v, err := strconv.Atoi(yearOf(pay.SettledAt))
		return err != nil || v < start
	})
	maps.DeleteFunc(p.Emitted, func(_ string, e Emitted) bool {
		v, err := strconv.Atoi(e.Year)
		return e.Status == "alert" && (err != nil || v < start)
	})
}

// migrateSettlements brings a state written before the window up to date:
// the window ends at the latest year of its sums, and each bare-hash entry
// takes the year its out-of-pocket or payment is kept under. An entry with
// neither is older than the window already (the sums kept two years), a
// void or undated, and is dropped: an old settlement delivered again is
// then recognised by its date. RPR alerts of years before the window go
// too.
func (p *Person) migrateSettlements() {
	legacy := false
	for _, s := range p.Settlements {
		legacy = legacy || s.legacy
	}
	if !legacy {
		return
	}
	yearOfID := map[string]int{}
	for y, m := range p.OutOfPocket {
		v, err := strconv.Atoi(y)
		if err != nil {
			continue
		}
		for id := range m {
			yearOfID[id] = v
		}
	}
	for id, pay := range p.ChronicPaid {
		if v, err := strconv.Atoi(yearOf(pay.SettledAt)); err == nil {
			yearOfID[id] = v
		}
	}
	for id, s := range p.Settlements {
		if !s.legacy {
			continue
		}
		y, ok := yearOfID[id]
		if !ok {
			delete(p.Settlements, id)
			continue
		}
		p.Settlements[id] = SeenSettlement{Hash: s.Hash, Year: y}
		p.SettlementYear = max(p.SettlementYear, y)
	}
	// RPR alerts were kept without their year: find it from the id.
	for y := p.windowStart(); y <= p.SettlementYear && y > 0; y++ {
		id := AlertID(RuleRPR, p.Key+"|"+strconv.Itoa(y))
		if e, ok := p.Emitted[id]; ok && e.Year == "" {
			e.Year = strconv.Itoa(y)
			p.Emitted[id] = e
		}
	}
	p.pruneWindow()
}

// forgetSettlement removes what settlement id contributes to the yearly
// sums.
func (p *Person) forgetSettlement(id string) {
	for _, m := range p.OutOfPocket {
		delete(m, id)
	}
	delete(p.ChronicPaid, id)
}
