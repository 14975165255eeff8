package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/normalize"
	"github.com/hpgate/hpgate/pipeline"
)

// Options say which report to build.
type Options struct {
	// County is the 6-digit county code (GB/T 2260). Required.
	County string
	// AsOf is the report date: contracts are checked against it. The
	// default is today.
	AsOf time.Time
	// Year is the report year for yearly figures. The default is AsOf's
	// year.
	Year int
	// TopicPrefix prefixes every topic. The default is "hp.".
	TopicPrefix string
}

func (o Options) withDefaults() Options {
	if o.AsOf.IsZero() {
		o.AsOf = time.Now()
	}
	if o.Year == 0 {
		o.Year = o.AsOf.Year()
	}
	if o.TopicPrefix == "" {
		o.TopicPrefix = "hp."
	}
	return o
}

// Topics returns the topics Load reads, in reading order.
func Topics(prefix string) []string {
	out := make([]string, len(entities))
	for i, e := range entities {
		out[i] = prefix + e + ".v1"
	}
	return out
}

var entities = []string{
	"person", "enrollment", "contract", "followup", "health_record", "health_check",
	"chronic_card", "treatment", "encounter", "settlement", "discrepancy", "policy_alert",
}

// Compact views of the records the indicators need.
type (
	regPerson struct {
		person    string
		seq       int64
		status    string
		deceased  bool
		birthYear int
		idMasked  string
	}
	enrolment struct {
		person, status string
		year           int
		mark           bool
	}
	contract struct {
		person, status, from, to, signed string
		groups                           []string
	}
	followup struct {
		person, condition string
		year              int
	}
	dated struct { // health checks, chronic cards (issue year), health records
		person, status string
		year           int
	}
	treatment struct{ person, programme, status string }
	encounter struct { // inpatient admissions of the report year
		person   string
		payAfter bool
	}
	settlement struct {
		person, typ      string
		oneStop          bool
		total, paid, oop normalize.Fen
	}
	alert struct{ rule string }
)

// data is the county's live records, by record id.
type data struct {
	persons     map[string]regPerson
	enrolments  map[string]enrolment
	contracts   map[string]contract
	followups   map[string]followup
	records     map[string]dated
	checks      map[string]dated
	cards       map[string]dated
	treatments  map[string]treatment
	encounters  map[string]encounter
	settlements map[string]settlement
	discrep     map[string]canonical.Discrepancy
	alerts      map[string]alert
}

// Load reads the county's records from the canonical topics through sc and
// computes the report. log receives a warning per missing topic.
func Load(ctx context.Context, sc *pipeline.Scanner, opts Options, log *slog.Logger) (*Report, error) {
	opts = opts.withDefaults()
	d := &data{
		persons: map[string]regPerson{}, enrolments: map[string]enrolment{}, contracts: map[string]contract{},
		followups: map[string]followup{}, records: map[string]dated{}, checks: map[string]dated{},
		cards: map[string]dated{}, treatments: map[string]treatment{}, encounters: map[string]encounter{},
		settlements: map[string]settlement{}, discrep: map[string]canonical.Discrepancy{}, alerts: map[string]alert{},
	}
	var missing []string
	var seq int64
	for _, entity := range entities {
		topic := opts.TopicPrefix + entity + ".v1"
		var env canonical.Envelope
		n := 0
		err := sc.Scan(ctx, topic, func(r *pipeline.TopicRecord) error {
			env = canonical.Envelope{}
			if err := json.Unmarshal(r.Value, &env); err != nil {
				return fmt.Errorf("%s/%d at %d: not an hpgate envelope: %w", topic, r.Partition, r.Offset, err)
			}
			if env.County != opts.County {
				return nil
			}
			seq++
			n++
			if err := d.add(entity, &env, seq, opts.Year); err != nil {
				return fmt.Errorf("%s/%d at %d (%s): %w", topic, r.Partition, r.Offset, env.ID, err)
			}
			return nil
		})
		if errors.Is(err, pipeline.ErrNoTopic) {
			log.Warn("topic missing, read as empty", "topic", topic)
			missing = append(missing, topic)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", topic, err)
		}
		log.Debug("topic read", "topic", topic, "records", n)
	}
	rep := d.compute(opts)
	rep.Missing = missing
	return rep, nil
}

// add applies one envelope of the county: the latest version of a record
// id replaces the earlier ones, a delete (or a version outside the report
// year, for the yearly entities) removes it.
func (d *data) add(entity string, env *canonical.Envelope, seq int64, year int) error {
	id, del := env.ID, env.Op == canonical.OpDelete
	var err error
	switch entity {
	case "person":
		var p canonical.Person
		if err = decode(env, &p, &del); err == nil {
			del = del || p.SourceSystem != "registry"
			put(d.persons, id, del, regPerson{person: p.PersonKey, seq: seq, status: p.PovertyStatus, deceased: isTrue(p.Deceased), birthYear: deref(p.BirthYear), idMasked: p.IDMasked}, p.PersonKey)
		}
	case "enrollment":
		var e canonical.Enrollment
		if err = decode(env, &e, &del); err == nil {
			put(d.enrolments, id, del, enrolment{person: e.PersonKey, status: e.Status, year: deref(e.Year), mark: isTrue(e.PovertyMark)}, e.PersonKey)
		}
	case "contract":
		var c canonical.Contract
		if err = decode(env, &c, &del); err == nil {
			put(d.contracts, id, del, contract{person: c.PersonKey, status: c.Status, from: c.PeriodFrom, to: c.PeriodTo, signed: c.SignedOn, groups: c.PriorityGroups}, c.PersonKey)
		}
	case "followup":
		var f canonical.Followup
		if err = decode(env, &f, &del); err == nil {
			put(d.followups, id, del, followup{person: f.PersonKey, condition: f.Condition, year: yearOf(f.FollowedOn)}, f.PersonKey)
		}
	case "health_record":
		var h canonical.HealthRecord
		if err = decode(env, &h, &del); err == nil {
			put(d.records, id, del, dated{person: h.PersonKey, status: h.Status}, h.PersonKey)
		}
	case "health_check":
		var h canonical.HealthCheck
		if err = decode(env, &h, &del); err == nil {
			y := yearOf(h.CheckedOn)
			put(d.checks, id, del || y != year, dated{person: h.PersonKey, year: y}, h.PersonKey)
		}
	case "chronic_card":
		var c canonical.ChronicCard
		if err = decode(env, &c, &del); err == nil {
			put(d.cards, id, del, dated{person: c.PersonKey, status: c.Status, year: yearOf(c.IssuedOn)}, c.PersonKey)
		}
	case "treatment":
		var t canonical.Treatment
		if err = decode(env, &t, &del); err == nil {
			put(d.treatments, id, del, treatment{person: t.PersonKey, programme: t.Programme, status: t.Status}, t.PersonKey)
		}
	case "encounter":
		var e canonical.Encounter
		if err = decode(env, &e, &del); err == nil {
			in := e.EncounterType == "inpatient" && yearOf(e.AdmittedAt) == year
			put(d.encounters, id, del || !in, encounter{person: e.PersonKey,
				payAfter: isTrue(e.PayAfterTreatment) || isTrue(e.DepositWaived)}, e.PersonKey)
		}
	case "settlement":
		var s canonical.Settlement
		if err = decode(env, &s, &del); err == nil {
			var st settlement
			st, err = compactSettlement(&s)
			put(d.settlements, id, del || err != nil || yearOf(s.SettledAt) != year, st, s.PersonKey)
		}
	case "discrepancy":
		var x canonical.Discrepancy
		if err = decode(env, &x, &del); err == nil {
			put(d.discrep, id, del || x.Status != "open", x, x.PersonKey)
		}
	case "policy_alert":
		var a canonical.PolicyAlert
		if err = decode(env, &a, &del); err == nil {
			put(d.alerts, id, del || yearOf(a.RaisedAt) != year, alert{rule: a.Rule}, a.PersonKey)
		}
	}
	return err
}

// decode unmarshals the envelope's data. A delete may carry only the
// identifying fields, which is all it needs.
func decode(env *canonical.Envelope, v any, del *bool) error {
	if len(env.Data) == 0 {
		if *del {
			return nil
		}
		return errors.New("upsert without data")
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		return fmt.Errorf("data does not match its schema: %w", err)
	}
	return nil
}

// put stores v under id, or removes id when del is set or the record names
// no person.
func put[V any](m map[string]V, id string, del bool, v V, person string) {
	if del || person == "" {
		delete(m, id)
		return
	}
	m[id] = v
}

func compactSettlement(s *canonical.Settlement) (settlement, error) {
	st := settlement{person: s.PersonKey, typ: s.EncounterType, oneStop: isTrue(s.OneStop)}
	var err error
	if st.total, err = money(s.TotalCost, "total_cost"); err != nil {
		return st, err
	}
	for _, layer := range []struct{ v, name string }{
		{s.BasicInsurance, "basic_insurance"}, {s.CriticalIllness, "critical_illness"},
		{s.Supplementary, "supplementary"}, {s.MedicalAssistance, "medical_assistance"},
		{s.GovernmentBackstop, "government_backstop"}, {s.OtherFunds, "other_funds"},
	} {
		f, err := money(layer.v, layer.name)
		if err != nil {
			return st, err
		}
		st.paid += f
	}
	if st.oop, err = money(s.OutOfPocket, "out_of_pocket"); err != nil {
		return st, err
	}
	return st, nil
}

func money(s, field string) (normalize.Fen, error) {
	if s == "" {
		return 0, nil
	}
	f, err := normalize.Money(s, normalize.Yuan)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	return f, nil
}

// yearOf reads the year of an RFC 3339 date or date-time ("2019-03-01…");
// 0 when there is none.
func yearOf(s string) int {
	if len(s) < 4 {
		return 0
	}
	y, err := strconv.Atoi(s[:4])
	if err != nil {
		return 0
	}
	return y
}

func isTrue(b *bool) bool { return b != nil && *b }

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
