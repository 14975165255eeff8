package reconcile

import (
	"cmp"
	"math/big"
	"slices"
	"time"

	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/normalize"
)

// Report is one county's reconciliation report. Every figure is text,
// exactly as the CSV files and the page show it.
type Report struct {
	County string
	// AsOf is the report date (YYYY-MM-DD) and Year the report year.
	AsOf string
	Year int
	// GeneratedAt is when the report was computed (RFC 3339).
	GeneratedAt string
	// Poor counts the poor population by poverty status.
	Poor []Count
	// Indicators are every figure of the report, one row each.
	Indicators []Indicator
	// Reimbursement are the R03 sums, one row per settlement type.
	Reimbursement []Reimbursement
	// Followup is R10, one row per managed condition.
	Followup []FollowupRow
	// Discrepancies are the open discrepancies, by kind and id;
	// DiscrepancyKinds counts them by kind and AlertRules counts the year's
	// policy alerts by rule.
	Discrepancies    []Discrepancy
	DiscrepancyKinds []Count
	AlertRules       []Count
	// Missing names the topics the cluster did not have (read as empty).
	Missing []string
}

// Count is a number of something, with its labels.
type Count struct {
	Key, NameZH, NameEN string
	N                   int64
}

// Indicator is one figure: a rate (Unit "%") with its numerator and
// denominator (people, or yuan for R03), or a count (numerator and
// denominator empty). Value is "" when a rate has no denominator.
// Target is the figure the rule sets, "" when none; Met is "yes" or "no"
// when there is a target and a value.
type Indicator struct {
	ID, Rule, NameZH, NameEN string
	Numerator, Denominator   string
	Value, Unit, Target, Met string
}

// Reimbursement is the R03 figure of one settlement type: sums in yuan
// and the ratio of what the payers paid to the total cost, in percent.
type Reimbursement struct {
	Type, NameZH, NameEN               string
	Settlements                        int64
	TotalCost, Reimbursed, OutOfPocket string
	Ratio, Target, Met                 string
	totalFen, paidFen                  normalize.Fen
}

// FollowupRow is R10 for one condition: of Managed poor people, Compliant
// had at least Required follow-ups of it in the year.
type FollowupRow struct {
	Condition, NameZH, NameEN string
	Required                  int
	Managed, Compliant        int64
	Rate                      string
}

// Discrepancy is one open discrepancy as the report lists it: no clear
// personal data, only the person key and the masked ID.
type Discrepancy struct {
	ID, Kind, KindZH, PersonKey, IDMasked, Systems, Authority, Values, Since, Detail string
}

// Poverty statuses counted as the poor population.
var poorStatuses = []string{"registered", "pre_exit", "returned"}

var statusNames = map[string][2]string{
	"registered": {"建档立卡", "registered"},
	"pre_exit":   {"预脱贫", "pre-exit"},
	"returned":   {"返贫", "returned to poverty"},
}

// r10 lists the R10 conditions and the follow-ups each needs a year.
var r10 = []struct {
	condition, zh, en string
	required          int
}{
	{"hypertension", "高血压", "hypertension", 4},
	{"diabetes_t2", "2型糖尿病", "type-2 diabetes", 4},
	{"tuberculosis", "肺结核", "tuberculosis", 4},
	{"severe_mental_disorder", "严重精神障碍", "severe mental disorder", 4},
	{"stroke", "脑卒中", "stroke", 1},
	{"coronary_disease", "冠心病", "coronary heart disease", 1},
	{"copd", "慢阻肺", "COPD", 1},
	{"chronic_bronchitis", "慢性支气管炎", "chronic bronchitis", 1},
	{"rheumatoid_arthritis", "类风湿性关节炎", "rheumatoid arthritis", 1},
	{"osteoarthritis", "骨关节炎", "osteoarthritis", 1},
}

// r03 lists the settlement types with an R03 target ratio (percent).
var r03 = []struct{ typ, zh, en, target string }{
	{"inpatient", "住院", "inpatient", "90.00"},
	{"chronic_outpatient", "门诊慢特病", "chronic outpatient", "80.00"},
}

var kindNames = map[string]string{
	"registry_mark_missing":    "医保未标识贫困人口",
	"exited_still_marked":      "已脱贫仍标识",
	"deceased_still_marked":    "已故仍标识",
	"cause_diagnosis_mismatch": "致贫原因与诊断不符",
	"chronic_card_missing":     "慢病未办卡",
	"fallback_identity":        "身份证号待核实",
}

func (d *data) compute(opts Options) *Report {
	rep := &Report{
		County:      opts.County,
		AsOf:        opts.AsOf.Format(time.DateOnly),
		Year:        opts.Year,
		GeneratedAt: time.Now().Format(time.RFC3339),
	}
	asOf, year := rep.AsOf, opts.Year

	// The poor population: the registry's latest view of each person.
	latest := map[string]regPerson{}
	for _, p := range d.persons {
		if q, ok := latest[p.person]; !ok || p.seq > q.seq {
			latest[p.person] = p
		}
	}
	poor := map[string]regPerson{}
	byStatus := map[string]int64{}
	for k, p := range latest {
		if slices.Contains(poorStatuses, p.status) && !p.deceased {
			poor[k] = p
			byStatus[p.status]++
		}
	}
	for _, s := range poorStatuses {
		rep.Poor = append(rep.Poor, Count{Key: s, NameZH: statusNames[s][0], NameEN: statusNames[s][1], N: byStatus[s]})
	}
	n := int64(len(poor))
	add := func(ind Indicator) { rep.Indicators = append(rep.Indicators, ind) }
	add(Indicator{ID: "poor_population", NameZH: "建档立卡贫困人口", NameEN: "registered poor population", Value: itoa(n), Unit: "人"})

	has := func(persons map[string]bool) int64 {
		var c int64
		for k := range persons {
			if _, ok := poor[k]; ok {
				c++
			}
		}
		return c
	}
	contracted := map[string]bool{}
	for _, c := range d.contracts {
		if c.status != "expired" && c.status != "cancelled" &&
			(c.from == "" || c.from <= asOf) && (c.to == "" || asOf <= c.to) && (c.signed == "" || c.signed <= asOf) {
			contracted[c.person] = true
		}
	}
	add(rate("contract_rate", "R11", "家庭医生签约率", "family-doctor contract rate", has(contracted), n, "100.00"))

	enrolled, marked := map[string]bool{}, map[string]bool{}
	for _, e := range d.enrolments {
		if e.year == year && e.status != "suspended" && e.status != "terminated" {
			enrolled[e.person] = true
			if e.mark {
				marked[e.person] = true
			}
		}
	}
	nEnrolled := has(enrolled)
	add(rate("enrolment_rate", "R11", "基本医保参保率", "insurance enrolment rate", nEnrolled, n, "100.00"))
	add(rate("poverty_mark_rate", "R15", "参保贫困人口医保标识率", "poverty mark in insurance, of the enrolled", has(marked), nEnrolled, "100.00"))

	recorded := map[string]bool{}
	for _, r := range d.records {
		if r.status != "closed" && r.status != "moved_out" {
			recorded[r.person] = true
		}
	}
	add(rate("health_record_rate", "R11", "电子健康档案建档率", "electronic health record rate", has(recorded), n, "100.00"))

	checked := map[string]bool{}
	for _, c := range d.checks {
		checked[c.person] = true
	}
	var aged, agedChecked int64
	for k, p := range poor {
		if age := year - p.birthYear; p.birthYear > 0 && age >= 7 && age <= 64 {
			aged++
			if checked[k] {
				agedChecked++
			}
		}
	}
	add(rate("checkup_rate", "R12", "7–64岁贫困人口健康体检率", "check-up rate of the poor aged 7–64", agedChecked, aged, "100.00"))

	// R03.
	sums := map[string]*Reimbursement{}
	for _, t := range r03 {
		sums[t.typ] = &Reimbursement{Type: t.typ, NameZH: t.zh, NameEN: t.en, Target: t.target}
	}
	var oneStopIn, oneStopOut int64
	for _, s := range d.settlements {
		if _, ok := poor[s.person]; !ok {
			continue
		}
		if r := sums[s.typ]; r != nil {
			r.Settlements++
			r.totalFen += s.total
			r.paidFen += s.paid
		}
		if s.oneStop {
			if s.typ == "inpatient" {
				oneStopIn++
			} else {
				oneStopOut++
			}
		}
	}
	var oop = map[string]normalize.Fen{}
	for _, s := range d.settlements {
		if _, ok := poor[s.person]; ok {
			oop[s.typ] += s.oop
		}
	}
	for _, t := range r03 {
		r := sums[t.typ]
		r.TotalCost, r.Reimbursed, r.OutOfPocket = r.totalFen.String(), r.paidFen.String(), oop[t.typ].String()
		r.Ratio = percent(int64(r.paidFen), int64(r.totalFen))
		r.Met = met(int64(r.paidFen), int64(r.totalFen), r.Target)
		rep.Reimbursement = append(rep.Reimbursement, *r)
		ind := rate("reimbursement_"+t.typ, "R03", t.zh+"实际报销比例", "actual reimbursement ratio, "+t.en, 0, 0, t.target)
		ind.Value, ind.Met = r.Ratio, r.Met
		ind.Numerator, ind.Denominator = r.Reimbursed, r.TotalCost
		rep.Indicators = append(rep.Indicators, ind)
	}

	// R10.
	managed := map[string]map[string]bool{}
	count := map[string]map[string]int{}
	for _, t := range r10 {
		managed[t.condition], count[t.condition] = map[string]bool{}, map[string]int{}
	}
	for _, c := range d.contracts {
		for _, g := range c.groups {
			if m := managed[g]; m != nil {
				m[c.person] = true
			}
		}
	}
	for _, f := range d.followups {
		if m := managed[f.condition]; m != nil {
			m[f.person] = true
			if f.year == year {
				count[f.condition][f.person]++
			}
		}
	}
	for _, t := range r10 {
		var nManaged, nOK int64
		for k := range managed[t.condition] {
			if _, ok := poor[k]; !ok {
				continue
			}
			nManaged++
			if count[t.condition][k] >= t.required {
				nOK++
			}
		}
		row := FollowupRow{Condition: t.condition, NameZH: t.zh, NameEN: t.en, Required: t.required, Managed: nManaged, Compliant: nOK, Rate: percent(nOK, nManaged)}
		rep.Followup = append(rep.Followup, row)
		add(rate("followup_"+t.condition, "R10", t.zh+"规范随访率", "follow-up compliance, "+t.en, nOK, nManaged, ""))
	}

	// Counts.
	add(Indicator{ID: "one_stop_inpatient", NameZH: "住院一站式结算", NameEN: "one-stop settlements, inpatient", Value: itoa(oneStopIn), Unit: "人次"})
	add(Indicator{ID: "one_stop_outpatient", NameZH: "门诊一站式结算", NameEN: "one-stop settlements, outpatient", Value: itoa(oneStopOut), Unit: "人次"})
	var payAfter int64
	for _, e := range d.encounters {
		if _, ok := poor[e.person]; ok && e.payAfter {
			payAfter++
		}
	}
	add(Indicator{ID: "pay_after_treatment", Rule: "R08", NameZH: "先诊疗后付费住院", NameEN: "pay-after-treatment admissions", Value: itoa(payAfter), Unit: "人次"})
	var cards int64
	for _, c := range d.cards {
		if _, ok := poor[c.person]; ok && c.year == year {
			cards++
		}
	}
	add(Indicator{ID: "chronic_cards_issued", NameZH: "慢病卡办理", NameEN: "chronic-disease cards issued", Value: itoa(cards), Unit: "张"})
	var cases, treated int64
	for _, t := range d.treatments {
		if _, ok := poor[t.person]; ok && t.programme == "major_disease" {
			cases++
			if t.status == "treated" {
				treated++
			}
		}
	}
	add(rate("major_disease_treated", "", "大病集中救治率", "major-disease cases treated", treated, cases, "100.00"))

	// Discrepancies and alerts.
	kinds := map[string]int64{}
	for _, id := range sortedKeys(d.discrep) {
		x := d.discrep[id]
		kinds[x.Kind]++
		rep.Discrepancies = append(rep.Discrepancies, discrepancyRow(&x))
	}
	slices.SortStableFunc(rep.Discrepancies, func(a, b Discrepancy) int { return cmp.Compare(a.Kind, b.Kind) })
	for _, k := range sortedKeys(kinds) {
		rep.DiscrepancyKinds = append(rep.DiscrepancyKinds, Count{Key: k, NameZH: kindNames[k], NameEN: k, N: kinds[k]})
	}
	nd := int64(len(rep.Discrepancies))
	add(Indicator{ID: "open_discrepancies", NameZH: "未解决的数据不一致", NameEN: "open discrepancies", Value: itoa(nd), Unit: "条"})
	rules := map[string]int64{}
	for _, a := range d.alerts {
		rules[a.rule]++
	}
	for _, k := range sortedKeys(rules) {
		rep.AlertRules = append(rep.AlertRules, Count{Key: k, NameZH: k, NameEN: k, N: rules[k]})
	}
	na := int64(len(d.alerts))
	add(Indicator{ID: "policy_alerts", NameZH: "政策规则预警", NameEN: "policy alerts raised", Value: itoa(na), Unit: "条"})
	return rep
}

func discrepancyRow(x *canonical.Discrepancy) Discrepancy {
	var vals []byte
	for _, k := range sortedKeys(x.Values) {
		if len(vals) > 0 {
			vals = append(vals, "; "...)
		}
		vals = append(vals, k+"="+x.Values[k]...)
	}
	sys := ""
	for i, s := range x.Systems {
		if i > 0 {
			sys += "/"
		}
		sys += s
	}
	return Discrepancy{ID: x.DiscrepancyID, Kind: x.Kind, KindZH: kindNames[x.Kind], PersonKey: x.PersonKey, IDMasked: x.IDMasked,
		Systems: sys, Authority: x.Authority, Values: string(vals), Since: x.Since, Detail: x.Detail}
}

// rate builds a rate indicator.
func rate(id, rule, zh, en string, num, den int64, target string) Indicator {
	return Indicator{ID: id, Rule: rule, NameZH: zh, NameEN: en, Numerator: itoa(num), Denominator: itoa(den),
		Value: percent(num, den), Unit: "%", Target: target, Met: met(num, den, target)}
}

// percent returns 100·num/den with two decimals, rounded half away from
// zero, computed exactly; "" when den is 0.
func percent(num, den int64) string {
	if den == 0 {
		return ""
	}
	r := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(num), big.NewInt(100)), big.NewInt(den))
	return r.FloatString(2)
}

// met says whether 100·num/den reaches target (a percent); "" without a
// target or a denominator. The comparison is exact, not on the rounded text.
func met(num, den int64, target string) string {
	if target == "" || den == 0 {
		return ""
	}
	t, ok := new(big.Rat).SetString(target)
	if !ok {
		return ""
	}
	r := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(num), big.NewInt(100)), big.NewInt(den))
	if r.Cmp(t) >= 0 {
		return "yes"
	}
	return "no"
}

func itoa(n int64) string { return big.NewInt(n).String() }
