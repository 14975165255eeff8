package registrysim

import (
	"time"
)

// Changes counts what one Mutate did.
type Changes struct {
	Updates  int `json:"updates"`  // a household's status changed (e.g. monitored, returned)
	New      int `json:"new"`      // persons added to a household (births, marriages)
	Exits    int `json:"exits"`    // households that left poverty
	Deaths   int `json:"deaths"`   // persons who died
	Removals int `json:"removals"` // persons struck off (moved out, married out)
	// Persons and Households are the records changed or added.
	Persons    int `json:"persons"`
	Households int `json:"households"`
}

// Mutate makes n changes, each stamped with the clock's now (strictly
// increasing): status updates, new persons, exits, deaths and removals.
// One call touches each record at most once, so a reader sees one new
// version per record changed.
func (s *Sim) Mutate(n int) Changes {
	s.mu.Lock()
	defer s.mu.Unlock()
	var c Changes
	touchedP := map[*Person]bool{}
	touchedH := map[*Household]bool{}
	now := s.clock()
	for tries := 0; c.Updates+c.New+c.Exits+c.Deaths+c.Removals < n && tries < 20*n; tries++ {
		h := s.households[s.rng.IntN(len(s.households))]
		if touchedH[h] || h.State != StateActive {
			continue
		}
		busy := false
		for _, m := range h.members {
			busy = busy || touchedP[m]
		}
		if busy {
			continue
		}
		touch := func(ps ...*Person) {
			for _, p := range ps {
				touchedP[p] = true
				s.stampPerson(p, now)
				c.Persons++
			}
			touchedH[h] = true
			s.stampHousehold(h, now)
			c.Households++
		}
		switch k := s.rng.IntN(5); {
		case k == 0 && h.Poverty.Status != "3": // exit
			h.Poverty.Status, h.Poverty.StatusDate = "3", now.In(s.zone).Format(time.DateOnly)
			y := now.In(s.zone).Year()
			h.Poverty.ExitYear = &y
			s.copyStatus(h)
			touch(h.members...)
			c.Exits++
		case k == 1: // status update: back into monitoring
			h.Poverty.Status, h.Poverty.StatusDate, h.Poverty.ExitYear = "5", now.In(s.zone).Format(time.DateOnly), nil
			s.copyStatus(h)
			touch(h.members...)
			c.Updates++
		case k == 2: // a new member
			p := s.newMember(h, "40", now)
			s.versions[Persons]-- // touch stamps it again
			touch(p)
			c.New++
		case k == 3: // a death
			p := s.living(h)
			if p == nil {
				continue
			}
			d := now.In(s.zone).AddDate(0, 0, -3).Format(time.DateOnly)
			p.Flags.Deceased, p.Flags.DeceasedOn = true, &d
			p.Removal = &Removal{Reason: "01", Date: d}
			h.MemberCount = h.active()
			touch(p)
			c.Deaths++
		case k == 4: // struck off: moved out
			p := s.living(h)
			if p == nil || p.Household.Relation == "02" {
				continue
			}
			p.State = StateRemoved
			p.Removal = &Removal{Reason: "03", Date: now.In(s.zone).Format(time.DateOnly)}
			h.MemberCount = h.active()
			touch(p)
			c.Removals++
		}
	}
	return c
}

func (s *Sim) copyStatus(h *Household) {
	for _, m := range h.members {
		m.Poverty = h.Poverty
	}
}

// living returns a random living, active member of h, or nil.
func (s *Sim) living(h *Household) *Person {
	var alive []*Person
	for _, m := range h.members {
		if m.State == StateActive && !m.Flags.Deceased {
			alive = append(alive, m)
		}
	}
	if len(alive) == 0 {
		return nil
	}
	return alive[s.rng.IntN(len(alive))]
}

// MoveBack changes n records of a resource (the most recently changed
// ones) and stamps the change `by` before the clock's now, as a registry
// whose clock was corrected backwards would: the new versions sort before
// records already read. It returns the ids changed.
func (s *Sim) MoveBack(resource string, n int, by time.Duration) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.sorted(resource, false)
	at := s.clock().Add(-by).Truncate(time.Millisecond)
	var ids []string
	for i := len(all) - 1; i >= 0 && len(ids) < n; i-- {
		switch v := all[i].v.(type) {
		case *Person:
			v.Flags.FamilyPlanningSpecial = !v.Flags.FamilyPlanningSpecial
			v.updated = at
			v.UpdatedAt = at.In(s.zone).Format(timeLayout)
			ids = append(ids, v.ID)
		case *Household:
			v.Flags.Relocated = !v.Flags.Relocated
			v.updated = at
			v.UpdatedAt = at.In(s.zone).Format(timeLayout)
			ids = append(ids, v.ID)
		}
		s.versions[resource]++
	}
	return ids
}
