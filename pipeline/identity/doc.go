// Package identity runs the identity stages of hpgate (`hpgate identity`):
// the identity view, the discrepancies between systems and the policy
// checks, as a Kafka consumer group over the canonical topics.
//
// # What it reads and writes
//
// It consumes <prefix>person, enrollment, chronic_card, contract,
// encounter and settlement (.v1), all keyed by person key, and writes, keyed
// by the same person key (so into the same partition number):
//
//   - identity.v1: one [canonical.IdentityView] per person, every system's
//     current flags, dated episodes and record keys, re-sent whenever it
//     changes (the topic is created compacted);
//   - discrepancy.v1: [canonical.Discrepancy], opened and, when the systems
//     agree again, re-sent under the same id with status resolved;
//   - settlement_enriched.v1: each settlement of the authoritative system,
//     same id, with the person's flags on the service date;
//   - policy_alert.v1: [canonical.PolicyAlert] for R01, R02, R04–R09 and RPR.
//
// Households are not read: they are keyed by household key and so sit in
// other partitions; person records carry the household's status.
//
// # Whose word counts
//
// Each fact has an authoritative system per county ([Policy].Authority,
// defaults from design.md): poverty status, cause, exit, death and
// household the registry; poverty mark, enrolment, chronic cards and
// settlements the insurance system; diagnoses the HIS; contracts public
// health. The view shows every system side by side; discrepancies compare
// the others with the authority; enrichment and rules use the authority.
//
// # Discrepancies
//
// A system "applies the poverty policy" to a person when, for the insurance
// system, an enrolment's poverty mark covers today, and for the HIS and
// public health, their own person record has status registered, pre_exit
// or returned. Only systems holding some record of the person are judged.
//
//   - registry_mark_missing (R15): the registry says registered, pre_exit or
//     returned (since its status date) and a system does not apply the
//     policy once the grace period from that date has passed;
//   - exited_still_marked / deceased_still_marked: the registry records the
//     exit (or the death) and a system still applies the policy after the
//     grace period;
//   - cause_diagnosis_mismatch (R14, "cause and illness must agree
//     across poverty and health data"), both ways: a poor (or monitored)
//     person's main and secondary causes are not illness, and some system
//     has diagnosed a disease of the county's key-disease list; or the
//     main or secondary cause is illness, some system has recorded
//     diagnoses of the person, the first of them at least R14 min_history
//     ago (default 365 days), and none is a key disease. A person with no
//     diagnosis at all is not judged: the stream cannot tell "never ill"
//     from "never seen by a connected system";
//   - chronic_card_missing: a poor person has a diagnosis in the county's
//     chronic-card catalogue, the grace period from the diagnosis has
//     passed, and no valid card of that category exists;
//   - fallback_identity: records of the person came under a fallback
//     identity (no valid ID number), for review.
//
// Since is when the disagreement began (the registry's date, the first
// diagnosis, the first fallback record). Ids are stable:
// <kind>:<hash of kind, person key and systems>.
//
// # Rules
//
// The per-settlement rules run on settlements of the authoritative system
// (not reversals) with the flags of the settlement date; "poor" means the
// authority's status on that date is registered, pre_exit or returned.
// Money is exact (fen and rationals, never float64); each alert carries
// the figures, the threshold and a stable id (<rule>:<hash of rule and
// settlement id>).
//
//   - R01 (poor): non-reimbursable / total ≤ 2.5% at township centres,
//     ≤ 10% at county secondary hospitals; the excess is reported.
//   - R02 (poor, in county, inpatient or chronic outpatient): out-of-pocket
//     / total ≤ 10%.
//   - R04 (poor inpatients): deductible ≤ 1500/350/100 (city/county/
//     township) and basic / (in-scope − deductible) ≥ 70/85/95%.
//   - R05 (poor, main diagnosis a major disease): (basic + critical +
//     assistance) / total ≥ 80%; when critical-illness insurance paid,
//     critical / (in-scope − basic − deductible − 3000) ≥ 50%. Both are
//     per settlement, as domain.md states R05: it gives the deductible,
//     the combined share and the payout ratio with no period, whereas it
//     names the annual figures where they exist (R06's annual cap; R03
//     and R10–R13 as yearly aggregates), and a settlement carries no
//     year-to-date critical-illness deductible. Taking the 3000 off each
//     settlement can only understate the base, so the ratio check never
//     raises an alert that a yearly deductible would not.
//   - R06 (poor, chronic outpatient): no deductible; basic ≥ 70% of
//     in-scope within the disease's annual cap: the cap of the county's
//     table (rules.R06.annual_cap, per chronic-catalogue category or
//     ICD-10 code) raised by cap_raise (20%) is what basic insurance pays
//     for that disease per person per calendar year; the basic insurance
//     of the person's settlements dated earlier in the year (reversals
//     subtracted, voids dropped) is kept in the partition's state, and
//     the ratio asks no more than what is left of the cap. Diagnoses
//     without a cap get the plain 70%; paying above the cap is not
//     flagged (the rule protects the patient).
//   - R07 (everyone): no later payer layer pays while basic insurance paid
//     nothing.
//   - R08 (poor inpatients in county): no deposit, one-stop settlement.
//   - R09 (低保 inpatients): deposit ≤ base deposit × (100 − 80)%.
//   - RPR: a person who is not poor on the settlement date whose
//     out-of-pocket over the calendar year reaches the county's threshold
//     (re-sent as the total grows).
//
// Every threshold is per county in its policy file (kind: policy, see
// [LoadPolicies]); the defaults are domain.md's figures.
//
// # Scale-out, state and delivery
//
// [Runner] is one member of the consumer group. The range balancer gives
// partition p of every input topic to one member, which keeps the state of
// its persons in a bbolt file ([Store], state.dir/identity.db). On
// assignment, a partition's local state is reused only if it holds exactly
// the group's committed offsets; otherwise it is rebuilt by replaying the
// partition of every input topic, and the current views and open
// discrepancies are sent again (consumers drop repeats by id and hash).
// Per poll: state changes in one transaction, outputs written and
// acknowledged, transaction committed, then offsets committed
// (at-least-once). A periodic sweep re-evaluates persons whose grace period
// ends. Within a poll, identity records are applied before encounters and
// settlements; across polls, a settlement is judged with the identity
// known when it is processed.
//
// # The settlement window
//
// A person's state keeps per-settlement data (the de-dup entry of id and
// hash, the out-of-pocket for RPR, the payments for R06's cap, the RPR
// alerts emitted) for a window of [WindowYears] (two) calendar years: the
// latest year of the person's settlements of the authority and the year
// before, what R06 and RPR need. What falls out of the window is dropped
// as the years go by, so a record stays bounded however long the stage
// runs. A settlement dated before the window is taken as already seen,
// whether it is re-delivered (a replay, a source re-read from the start)
// or new: it is not enriched, raises no alert and counts in no yearly
// sum; only its diagnosis is recorded. A settlement dated after the year
// it was ingested in (a typo) does not move the window. The window moves
// with the settlements, not the clock, so a rebuild by replay reaches the
// same state.
//
// # Consumer lag
//
// Every instance measures the group's lag (end offset less committed
// offset, per input topic partition) once before it consumes and then
// every sweep interval, beside the consumer loop so that a stuck loop still
// shows, and exports it as hpgate_identity_consumer_lag_records{topic,
// partition}: aggregate across instances with max, not sum.
//
// The package imports connectors, mappings and monitoring, never cmd.
package identity
