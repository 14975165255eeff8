package registrysim

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hpgate/hpgate/mappings/normalize"
)

// Person is a person record of the contract (openapi.yaml, Person).
type Person struct {
	ID        string      `json:"id"`
	IDNumber  string      `json:"id_number"`
	Name      string      `json:"name"`
	Gender    string      `json:"gender"`
	AreaCode  string      `json:"area_code"`
	Phone     *string     `json:"phone"`
	Household Membership  `json:"household"`
	Poverty   Poverty     `json:"poverty"`
	Flags     PersonFlags `json:"flags"`
	State     string      `json:"state"`
	Removal   *Removal    `json:"removal"`
	UpdatedAt string      `json:"updated_at"`
	updated   time.Time   // UpdatedAt as a time
}

// Membership is a person's place in a household.
type Membership struct {
	ID       string `json:"id"`
	Relation string `json:"relation"`
}

// Poverty is the registry's poverty status of a household, copied to each
// member. Codes are the registry's dictionary codes.
type Poverty struct {
	Status         string  `json:"status"`
	StatusDate     string  `json:"status_date"`
	ExitYear       *int    `json:"exit_year"`
	Cause          string  `json:"cause"`
	SecondaryCause *string `json:"secondary_cause"`
	HouseholdType  string  `json:"household_type"`
}

// PersonFlags are a person's identity flags.
type PersonFlags struct {
	MinLiving             bool    `json:"min_living"`
	DestituteSupport      bool    `json:"destitute_support"`
	Disabled              bool    `json:"disabled"`
	DisabilityGrade       *int    `json:"disability_grade"`
	FamilyPlanningSpecial bool    `json:"family_planning_special"`
	Relocated             bool    `json:"relocated"`
	Deceased              bool    `json:"deceased"`
	DeceasedOn            *string `json:"deceased_on"`
}

// Removal says why and when a record left the registry (注销).
type Removal struct {
	Reason string `json:"reason"`
	Date   string `json:"date"`
}

// Household is a household record of the contract (openapi.yaml, Household).
type Household struct {
	ID          string         `json:"id"`
	AreaCode    string         `json:"area_code"`
	Head        HouseholdHead  `json:"head"`
	MemberCount int            `json:"member_count"`
	Poverty     Poverty        `json:"poverty"`
	Flags       HouseholdFlags `json:"flags"`
	State       string         `json:"state"`
	Removal     *Removal       `json:"removal"`
	UpdatedAt   string         `json:"updated_at"`
	updated     time.Time
	members     []*Person
}

// HouseholdHead identifies the head of a household.
type HouseholdHead struct {
	IDNumber string `json:"id_number"`
	Name     string `json:"name"`
}

// HouseholdFlags are a household's flags.
type HouseholdFlags struct {
	MinLiving bool `json:"min_living"`
	Relocated bool `json:"relocated"`
}

// Record states.
const (
	StateActive  = "active"
	StateRemoved = "removed"
)

// jimoAreas are the village codes of the Jimo pack's area.csv in force
// (即墨区, since 2017-10-30).
var jimoAreas = []string{
	"370215001201", "370215007203", "370215007215", "370215101201", "370215101202",
	"370215101236", "370215102208", "370215102219", "370215103204", "370215103241",
	"370215104210", "370215104227", "370215105205", "370215105218",
}

var (
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
	given    = []string{"德山", "桂兰", "建国", "秀英", "长福", "浩然", "玉梅", "志强", "淑珍", "永胜", "春花", "立新", "海燕", "振华"}
	causes   = []string{"01", "01", "01", "02", "03", "04", "07", "08", "09", "12"}
	statuses = []string{"1", "1", "2", "3", "3", "3", "4", "5", "6"}
)

// population builds households until it has n people.
func (s *Sim) populate(n int, at time.Time) {
	for hh := 0; len(s.persons) < n; hh++ {
		size := 1 + s.rng.IntN(5)
		size = min(size, n-len(s.persons))
		s.newHousehold(size, at)
	}
}

func (s *Sim) newHousehold(size int, at time.Time) *Household {
	s.hhSeq++
	area := s.areas[s.rng.IntN(len(s.areas))]
	h := &Household{
		ID:    fmt.Sprintf("%s%s%04d", s.county, area[6:12], s.hhSeq%10000),
		State: StateActive,
	}
	h.AreaCode = area
	h.Poverty = s.poverty()
	h.Flags = HouseholdFlags{MinLiving: h.Poverty.HouseholdType == "2", Relocated: s.rng.IntN(10) == 0}
	for i := range size {
		rel := "02"
		switch {
		case i == 1:
			rel = "10"
		case i > 1 && i < 4:
			rel = []string{"20", "30"}[s.rng.IntN(2)]
		case i >= 4:
			rel = "52"
		}
		s.newMember(h, rel, at)
	}
	s.households = append(s.households, h)
	s.stampHousehold(h, at)
	return h
}

func (s *Sim) newMember(h *Household, relation string, at time.Time) *Person {
	s.personSeq++
	born := time.Date(1935+s.rng.IntN(80), time.Month(1+s.rng.IntN(12)), 1+s.rng.IntN(28), 0, 0, 0, 0, time.UTC)
	first17 := fmt.Sprintf("%s%s%03d", s.county, born.Format("20060102"), s.rng.IntN(1000))
	phone := fmt.Sprintf("139%08d", s.rng.IntN(100000000))
	p := &Person{
		ID:        fmt.Sprintf("P%s%02d", h.ID, len(h.members)+1),
		IDNumber:  first17 + string(normalize.CheckDigit(first17)),
		Name:      string(surnames[s.rng.IntN(len(surnames))]) + given[s.rng.IntN(len(given))],
		AreaCode:  h.AreaCode,
		Phone:     &phone,
		Household: Membership{ID: h.ID, Relation: relation},
		Poverty:   h.Poverty,
		State:     StateActive,
	}
	if (first17[16]-'0')%2 == 1 {
		p.Gender = "1"
	} else {
		p.Gender = "2"
	}
	p.Flags = PersonFlags{
		MinLiving: h.Poverty.HouseholdType == "2", DestituteSupport: h.Poverty.HouseholdType == "3",
		Relocated: h.Flags.Relocated, FamilyPlanningSpecial: s.rng.IntN(20) == 0,
	}
	if s.rng.IntN(8) == 0 {
		g := 1 + s.rng.IntN(4)
		p.Flags.Disabled, p.Flags.DisabilityGrade = true, &g
	}
	h.members = append(h.members, p)
	h.MemberCount = h.active()
	if relation == "02" {
		h.Head = HouseholdHead{IDNumber: p.IDNumber, Name: p.Name}
	}
	s.persons = append(s.persons, p)
	s.byID[p.ID] = p
	s.stampPerson(p, at)
	return p
}

func (h *Household) active() int {
	n := 0
	for _, m := range h.members {
		if m.State == StateActive && !m.Flags.Deceased {
			n++
		}
	}
	return n
}

func (s *Sim) poverty() Poverty {
	p := Poverty{
		Status:        statuses[s.rng.IntN(len(statuses))],
		StatusDate:    time.Date(2016+s.rng.IntN(6), time.Month(1+s.rng.IntN(12)), 1+s.rng.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly),
		Cause:         causes[s.rng.IntN(len(causes))],
		HouseholdType: []string{"1", "1", "2", "3"}[s.rng.IntN(4)],
	}
	if s.rng.IntN(2) == 0 {
		c := causes[s.rng.IntN(len(causes))]
		if c != p.Cause {
			p.SecondaryCause = &c
		}
	}
	if p.Status == "3" {
		y := 2016 + s.rng.IntN(5)
		p.ExitYear = &y
	}
	return p
}

// stamp returns a change time in milliseconds: at, or the latest earlier
// stamp if the clock went back, so stamps never decrease (several changes
// may share one; the id orders them).
func (s *Sim) stamp(at time.Time) time.Time {
	t := at.Truncate(time.Millisecond)
	if t.Before(s.last) {
		t = s.last
	}
	s.last = t
	return t
}

func (s *Sim) stampPerson(p *Person, at time.Time) {
	p.updated = s.stamp(at)
	p.UpdatedAt = p.updated.In(s.zone).Format(timeLayout)
	s.versions[Persons]++
}

func (s *Sim) stampHousehold(h *Household, at time.Time) {
	h.updated = s.stamp(at)
	h.UpdatedAt = h.updated.In(s.zone).Format(timeLayout)
	s.versions[Households]++
}

// newRand is the simulator's deterministic generator.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
