// Package reconcile builds the reconciliation report (数据比对与指标报告) of
// one county from the canonical topics: the open discrepancies the identity
// stages raised, and the indicators the county health bureau publishes
// (domain.md §5) with the aggregate rules R03 (actual reimbursement ratios),
// R10 (chronic follow-up compliance) and R11–R12 (contract, enrolment,
// health-record and check-up coverage of the registered poor).
//
// # What it reads
//
// Load reads every canonical topic it needs (<prefix>person.v1,
// enrollment, contract, followup, health_record, health_check,
// chronic_card, treatment, encounter, settlement, and the derived
// discrepancy.v1 and policy_alert.v1) from the oldest record to the end
// offset each partition had when the read began, so a report is a
// consistent cut of the stream and the read ends even while the gateway
// keeps writing. Only records of the requested county are kept, and of each
// record id only its latest version (a delete removes it): the topics are
// keyed by person, so a record's versions are in order in one partition.
// A topic the cluster does not have is read as empty and named in
// Report.Missing. Memory is bounded by the county's live records, kept in
// compact form (settlements and encounters of the report year only).
//
// # Definitions
//
// The poor population (建档立卡贫困人口) is the registry's view: person
// records whose source system is the registry, with poverty status
// registered, pre_exit or returned, and not deceased. Every rate is over
// that population, joined by person key; other systems' views of the
// status are the discrepancies' business, not the indicators'.
//
//   - contract rate (签约率, R11): poor people with a family-doctor contract
//     that is active on the as-of date (status not expired or cancelled,
//     and the period, when given, covering the date);
//   - enrolment rate (参保率, R11): poor people enrolled for the report year
//     with a status other than suspended or terminated; poverty-mark rate
//     (R15): of those, the share whose enrolment carries the poverty mark;
//   - health-record rate (建档率, R11/R12): poor people with a health record
//     that is neither closed nor moved out;
//   - check-up rate (R12): poor people aged 7–64 in the report year (year
//     minus birth year) with at least one check-up in the year;
//   - follow-up compliance (R10): for hypertension, type-2 diabetes,
//     tuberculosis and severe mental disorder, poor people with at least 4
//     follow-ups of the condition in the year, among the poor managed for
//     it (a contract naming it as a priority group, or any follow-up of it
//     ever); for stroke, coronary disease, COPD, chronic bronchitis,
//     rheumatoid arthritis and osteoarthritis at least 1, among the poor
//     with any follow-up of it ever;
//   - actual reimbursement ratio (R03): over the poor's settlements of the
//     year (reversals included, so a reversed settlement nets to zero), the
//     sum of every payer layer divided by the total cost, for inpatient
//     (target 90%) and chronic outpatient (target 80%) settlements;
//   - counts: one-stop settlements of the poor by type, pay-after-treatment
//     inpatient admissions of the poor (先诊疗后付费), chronic cards issued to
//     the poor in the year, major-disease treatment cases (三个一批) treated
//     out of identified, policy alerts raised in the year by rule.
//
// Money is summed in fen (int64) and ratios are computed exactly with
// math/big, rounded half away from zero to two decimals of a percent: the
// figures match a hand computation to the cent.
//
// # What it writes
//
// Report.WriteFiles writes, into one directory: indicators.csv (every
// figure the page shows, one row each), reimbursement.csv (R03 sums in
// yuan), followup.csv (R10 per condition), discrepancies.csv (the open
// discrepancies) and report.html, one self-contained page (inline CSS and
// SVG charts, no script, nothing fetched) with Chinese labels and English
// subtitles. CSV files start with a UTF-8 byte-order mark so that Excel
// opens them as UTF-8. Nothing personal appears in any of them: people are
// named by person key (an HMAC) and masked ID number only.
//
// The package writes nothing to Kafka and keeps no state.
package reconcile
