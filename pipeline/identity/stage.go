package identity

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings/canonical"
)

// Input topics: the canonical entities the stage reads, by entity name.
// Households are keyed by household key, so they sit in other partitions
// than their members; the mappings copy the household's status onto each
// person record (design.md, contract 4), which is what the stage uses.
var InputEntities = []string{"chronic_card", "contract", "encounter", "enrollment", "person", "settlement"}

// Output entities.
const (
	EntityIdentity    = "identity"
	EntityDiscrepancy = "discrepancy"
	EntityAlert       = "policy_alert"
	EntityEnriched    = "settlement_enriched"
)

// OutputEntities lists the entities the stage writes.
var OutputEntities = []string{EntityDiscrepancy, EntityIdentity, EntityAlert, EntityEnriched}

// Topic returns the topic of entity under prefix ("hp.identity.v1").
func Topic(prefix, entity string) string {
	e, ok := canonical.Lookup(entity)
	if !ok {
		panic("identity: unknown entity " + entity)
	}
	return prefix + e.Topic
}

// Stage turns canonical inputs into the identity stage's outputs for one
// person at a time. It holds no state of its own: the caller owns each
// Person and stores it. A Stage is safe for concurrent use on different
// persons.
type Stage struct {
	// Policies gives each county's settings.
	Policies *Policies
	// Prefix is the topic prefix ("hp.").
	Prefix string
	// Connector names the stage in the envelopes' source.connector (the
	// consumer group id).
	Connector string
	// Now is the clock; time.Now when nil. Tests inject theirs.
	Now func() time.Time
}

func (s *Stage) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Handle folds in into p and returns the messages to write: the person's
// identity view when it changed, discrepancies opened, changed or
// resolved, and for a settlement its enriched copy and its alerts. seq
// orders inputs of one partition (its offset). Handle does not retain in.
func (s *Stage) Handle(p *Person, in *Input, seq int64) ([]connectors.Message, error) {
	now := s.now()
	settlements := s.Policies.For(firstNonEmpty(p.County, in.Env.County)).Authority["settlement"]
	changed, judge, err := p.apply(in, seq, now, settlements)
	if err != nil || !changed {
		return nil, err
	}
	pol := s.Policies.For(p.County)
	var out []connectors.Message
	if judge {
		msgs, err := s.settlement(p, pol, in, now)
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	msgs, err := s.evaluate(p, pol, in, now, false)
	if err != nil {
		return nil, err
	}
	return append(out, msgs...), nil
}

// Sweep re-evaluates p at the current time, for the time-driven checks
// (grace periods), and returns what changed.
func (s *Stage) Sweep(p *Person) ([]connectors.Message, error) {
	now := s.now()
	return s.evaluate(p, s.Policies.For(p.County), nil, now, false)
}

// evaluate emits the identity view if it changed, and every discrepancy
// whose state changed since it was last emitted; with force, the view and
// every open discrepancy whatever was emitted.
func (s *Stage) evaluate(p *Person, pol *Policy, in *Input, now time.Time, force bool) ([]connectors.Message, error) {
	var out []connectors.Message
	where := "sweep"
	if in != nil {
		where = in.Where
	}
	view := p.View(pol, now)
	msg, hash, err := s.message(EntityIdentity, p.County, p.Key, p.Key, view, where, now)
	if err != nil {
		return nil, err
	}
	if force || p.Emitted[EntityIdentity].Hash != hash {
		out = append(out, msg)
		p.emitted(EntityIdentity, Emitted{Hash: hash})
	}
	open, due := p.Evaluate(pol, now)
	p.Due = 0
	if !due.IsZero() {
		p.Due = due.Unix()
	}
	seen := map[string]bool{}
	for i := range open {
		d := &open[i]
		seen[d.DiscrepancyID] = true
		msg, hash, err := s.message(EntityDiscrepancy, p.County, d.DiscrepancyID, p.Key, d, where, now)
		if err != nil {
			return nil, err
		}
		if prev := p.Emitted[d.DiscrepancyID]; !force && prev.Hash == hash && prev.Status == "open" {
			continue
		}
		out = append(out, msg)
		p.emitted(d.DiscrepancyID, Emitted{Hash: hash, Status: "open", Systems: d.Systems, Authority: d.Authority, Since: d.Since})
	}
	// Resolve what was open and is no more: re-emit it with status
	// resolved, from the last open state kept in the topic's history.
	for _, id := range sortedKeys(p.Emitted) {
		e := p.Emitted[id]
		if e.Status != "open" || seen[id] {
			continue
		}
		d, ok := p.resolved(id, e, now)
		if !ok {
			continue
		}
		msg, hash, err := s.message(EntityDiscrepancy, p.County, id, p.Key, d, where, now)
		if err != nil {
			return nil, err
		}
		out = append(out, msg)
		p.emitted(id, Emitted{Hash: hash, Status: "resolved", ResolvedAt: d.ResolvedAt})
	}
	return out, nil
}

// resolved builds the resolved form of a discrepancy from its id (the kind
// is its prefix) and what its last open form said: the same systems,
// authority and since, status resolved, and no values (the systems agree).
func (p *Person) resolved(id string, open Emitted, now time.Time) (*canonical.Discrepancy, bool) {
	kind := id
	for i := range id {
		if id[i] == ':' {
			kind = id[:i]
			break
		}
	}
	if !slices.Contains(DiscrepancyKinds, kind) {
		return nil, false
	}
	return &canonical.Discrepancy{
		Subject: canonical.Subject{
			Origin:    canonical.Origin{County: p.County, SourceSystem: "hpgate", SourceID: id},
			PersonKey: p.Key, IDMasked: p.IDMasked, IDQuality: firstNonEmpty(p.IDQuality, "valid"),
		},
		DiscrepancyID: id, Kind: kind, Systems: open.Systems, Authority: open.Authority, Since: open.Since,
		Status: "resolved", ResolvedAt: now.Format(time.RFC3339), Detail: "the systems agree now",
	}, true
}

func (p *Person) emitted(id string, e Emitted) {
	if p.Emitted == nil {
		p.Emitted = map[string]Emitted{}
	}
	p.Emitted[id] = e
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// settlement re-publishes a settlement with the flags of its service date
// and raises its alerts.
func (s *Stage) settlement(p *Person, pol *Policy, in *Input, now time.Time) ([]connectors.Message, error) {
	var st canonical.Settlement
	if err := json.Unmarshal(in.Env.Data, &st); err != nil {
		return nil, fmt.Errorf("decode settlement data: %w", err)
	}
	day := dateOf(st.SettledAt)
	if day == "" {
		day = today(now)
	}
	flags := p.Flags(pol, day)
	var out []connectors.Message
	if in.Env.Op == canonical.OpDelete {
		msg, _, err := s.messageOp(EntityEnriched, canonical.OpDelete, in.Env.County, in.Env.Source.System, in.Env.ID, p.Key, canonical.SettlementEnriched{Settlement: st}, in.Where, now)
		if err != nil {
			return nil, err
		}
		return []connectors.Message{msg}, nil
	}
	alerts := CheckSettlement(pol, &st, in.Env.ID, flags, p.YearToDate(pol, &st, in.Env.ID), now)
	for i := range alerts {
		flags.Alerts = append(flags.Alerts, alerts[i].Rule)
	}
	// The enriched copy keeps the settlement's id and source system: it
	// is the same record, with flags added.
	msg, _, err := s.messageOp(EntityEnriched, canonical.OpUpsert, in.Env.County, in.Env.Source.System, in.Env.ID, p.Key, canonical.SettlementEnriched{Settlement: st, Flags: flags}, in.Where, now)
	if err != nil {
		return nil, err
	}
	out = append(out, msg)
	for i := range alerts {
		msg, _, err := s.message(EntityAlert, in.Env.County, alerts[i].AlertID, p.Key, &alerts[i], in.Where, now)
		if err != nil {
			return nil, err
		}
		out = append(out, msg)
	}
	if year := yearOf(st.SettledAt); year != "" {
		if a, ok := p.CheckReturnRisk(pol, year, flags, now); ok {
			// Emit when the figures changed, not at every settlement:
			// compare without the time it was raised.
			b := a
			b.RaisedAt = ""
			_, hash, err := s.message(EntityAlert, p.County, a.AlertID, p.Key, &b, in.Where, now)
			if err != nil {
				return nil, err
			}
			if p.Emitted[a.AlertID].Hash != hash {
				msg, _, err := s.message(EntityAlert, p.County, a.AlertID, p.Key, &a, in.Where, now)
				if err != nil {
					return nil, err
				}
				out = append(out, msg)
				p.emitted(a.AlertID, Emitted{Hash: hash, Status: "alert", Year: year})
			}
		}
	}
	return out, nil
}

// message builds the envelope of one output record: id
// hpgate:<county>:<recordID>, keyed by the person key, with the content
// hash over the data in canonical form (sorted keys).
func (s *Stage) message(entity, county, recordID, personKey string, data any, where string, now time.Time) (connectors.Message, string, error) {
	return s.messageOp(entity, canonical.OpUpsert, county, "hpgate", "hpgate:"+county+":"+recordID, personKey, data, where, now)
}

// messageOp builds an envelope with an explicit op, source system and id.
func (s *Stage) messageOp(entity, op, county, system, id, personKey string, data any, where string, now time.Time) (connectors.Message, string, error) {
	e, ok := canonical.Lookup(entity)
	if !ok {
		return connectors.Message{}, "", fmt.Errorf("unknown entity %s", entity)
	}
	raw, err := canonicalJSON(data)
	if err != nil {
		return connectors.Message{}, "", fmt.Errorf("encode %s: %w", entity, err)
	}
	sum := sha256.Sum256(raw)
	hash := "sha256:" + hex.EncodeToString(sum[:])
	env := canonical.Envelope{
		Schema:     e.Schema,
		ID:         id,
		Op:         op,
		County:     county,
		Source:     canonical.Source{System: system, Connector: s.Connector, Mapping: "identity", Position: where},
		IngestedAt: now.Format(time.RFC3339),
		Hash:       hash,
		Data:       raw,
	}
	val, err := json.Marshal(&env)
	if err != nil {
		return connectors.Message{}, "", fmt.Errorf("encode %s envelope: %w", entity, err)
	}
	return connectors.Message{
		Topic: s.Prefix + e.Topic,
		Key:   []byte(personKey),
		Value: val,
		Headers: []connectors.Header{
			{Key: "schema", Value: []byte(e.Schema)},
			{Key: "county", Value: []byte(county)},
			{Key: "source_system", Value: []byte(system)},
		},
	}, hash, nil
}

// canonicalJSON encodes v with object keys sorted at every level (struct
// fields through a round trip into generic values, numbers kept exact).
func canonicalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var g any
	if err := dec.Decode(&g); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(g); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Snapshot returns the person's identity view and open discrepancies
// whatever was emitted before, for a partition whose state was just
// rebuilt: its previous owner may have stopped before emitting them.
func (s *Stage) Snapshot(p *Person) ([]connectors.Message, error) {
	return s.evaluate(p, s.Policies.For(p.County), nil, s.now(), true)
}
