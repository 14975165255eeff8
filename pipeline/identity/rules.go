package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/hpgate/hpgate/mappings/canonical"
)

// Rule ids of the alerts (domain.md §4, plus RPR).
const (
	RuleR01 = "R01"
	RuleR02 = "R02"
	RuleR04 = "R04"
	RuleR05 = "R05"
	RuleR06 = "R06"
	RuleR07 = "R07"
	RuleR08 = "R08"
	RuleR09 = "R09"
	RuleRPR = "RPR"
)

// AlertRules lists the rules the stage checks, in a fixed order.
var AlertRules = []string{RuleR01, RuleR02, RuleR04, RuleR05, RuleR06, RuleR07, RuleR08, RuleR09, RuleRPR}

// AlertID is the stable id of an alert: the same rule and record (a
// settlement's envelope id, or person and year for RPR) give the same id.
func AlertID(rule, record string) string {
	h := sha256.Sum256([]byte(rule + "|" + record))
	return rule + ":" + hex.EncodeToString(h[:16])
}

// settlementFigures are the amounts of a settlement in fen.
type settlementFigures struct {
	total, inScope, nonReimb, deductible           int64
	basic, critical, supp, assist, backstop, other int64
	oop, deposit                                   int64
	hasNonReimb, hasDeductible, hasInScope         bool
	hasDeposit                                     bool
}

func figuresOf(s *canonical.Settlement) settlementFigures {
	var f settlementFigures
	f.total, _ = fen(s.TotalCost)
	f.inScope, f.hasInScope = fen(s.InScopeCost)
	f.nonReimb, f.hasNonReimb = fen(s.NonReimbursableCost)
	f.deductible, f.hasDeductible = fen(s.Deductible)
	f.basic, _ = fen(s.BasicInsurance)
	f.critical, _ = fen(s.CriticalIllness)
	f.supp, _ = fen(s.Supplementary)
	f.assist, _ = fen(s.MedicalAssistance)
	f.backstop, _ = fen(s.GovernmentBackstop)
	f.other, _ = fen(s.OtherFunds)
	f.oop, _ = fen(s.OutOfPocket)
	f.deposit, f.hasDeposit = fen(s.DepositPaid)
	return f
}

// CheckSettlement runs the per-settlement rules R01, R02 and R04–R09 on s,
// a settlement of a person whose flags on the service date are flags, and
// returns the alerts, sorted by rule. envID is the settlement's envelope
// id; ytd is what the person's other settlements of the year bring to the
// annual figures ([Person.YearToDate]). Reversals (冲销) and settlements
// with no total are not checked.
func CheckSettlement(pol *Policy, s *canonical.Settlement, envID string, flags canonical.SettlementFlags, ytd YearToDate, now time.Time) []canonical.PolicyAlert {
	if (s.Reversal != nil && *s.Reversal) || s.TotalCost == "" {
		return nil
	}
	f := figuresOf(s)
	if f.total <= 0 {
		return nil
	}
	r := &pol.Rules
	poor := flags.Poor != nil && *flags.Poor
	inpatient := s.EncounterType == "inpatient"
	var out []canonical.PolicyAlert
	alert := func(rule string, figures map[string]string, threshold, msg string) {
		id := AlertID(rule, envID)
		out = append(out, canonical.PolicyAlert{
			Subject: canonical.Subject{
				Origin:    canonical.Origin{County: s.County, SourceSystem: "hpgate", SourceID: id},
				PersonKey: s.PersonKey, IDMasked: s.IDMasked, IDQuality: s.IDQuality,
			},
			AlertID: id, Rule: rule, SettlementNo: s.SettlementNo, Figures: figures,
			Threshold: threshold, Message: msg, RaisedAt: now.Format(time.RFC3339),
		})
	}

	// R01: non-reimbursable share at township centres and county
	// secondary hospitals; the excess is the facility's.
	if poor && f.hasNonReimb {
		var max *big.Rat
		where := ""
		switch {
		case s.FacilityLevel == "township":
			max, where = r.R01TownshipMaxShare, "township health centres"
		case s.FacilityLevel == "county" && s.HospitalGrade == "secondary":
			max, where = r.R01CountySecondaryMaxShare, "county secondary hospitals"
		}
		if max != nil {
			share := percent(f.nonReimb, f.total)
			if share.Cmp(max) > 0 {
				excess := new(big.Rat).Sub(new(big.Rat).SetInt64(f.nonReimb), ratOf(f.total, max))
				alert(RuleR01, map[string]string{
					"non_reimbursable_cost": formatFen(f.nonReimb), "total_cost": formatFen(f.total),
					"share_percent": formatPct(share), "excess": formatRatFen(excess),
				}, fmt.Sprintf("non_reimbursable_cost <= %s%% of total_cost at %s", max.FloatString(1), where),
					"non-reimbursable costs above the limit; the excess is borne by the facility")
			}
		}
	}
	// R02: out-of-pocket share of in-county inpatient and chronic
	// outpatient costs of the poor.
	if poor && s.InCounty != nil && *s.InCounty && (inpatient || s.EncounterType == "chronic_outpatient") && s.OutOfPocket != "" {
		share := percent(f.oop, f.total)
		if share.Cmp(r.R02MaxShare) > 0 {
			alert(RuleR02, map[string]string{
				"out_of_pocket": formatFen(f.oop), "total_cost": formatFen(f.total), "share_percent": formatPct(share),
			}, fmt.Sprintf("out_of_pocket <= %s%% of total_cost", r.R02MaxShare.FloatString(1)),
				"out-of-pocket share of an in-county settlement of a poor patient above the limit")
		}
	}
	// R04: the poor inpatient deductible and basic-insurance ratio.
	if poor && inpatient {
		lvl := s.FacilityLevel
		maxDed, okDed := r.R04Deductible[lvl]
		minRatio := r.R04MinRatio[lvl]
		figs := map[string]string{"facility_level": lvl}
		var broke []string
		if okDed && f.hasDeductible && f.deductible > maxDed {
			figs["deductible"] = formatFen(f.deductible)
			broke = append(broke, fmt.Sprintf("deductible <= %s", formatFen(maxDed)))
		}
		if minRatio != nil && f.hasInScope && f.hasDeductible {
			if base := f.inScope - f.deductible; base > 0 {
				ratio := percent(f.basic, base)
				if ratio.Cmp(minRatio) < 0 {
					figs["basic_insurance"], figs["in_scope_cost"], figs["deductible"] = formatFen(f.basic), formatFen(f.inScope), formatFen(f.deductible)
					figs["ratio_percent"] = formatPct(ratio)
					broke = append(broke, fmt.Sprintf("basic_insurance >= %s%% of (in_scope_cost - deductible)", minRatio.FloatString(1)))
				}
			}
		}
		if len(broke) > 0 {
			alert(RuleR04, figs, joinAnd(broke)+" for poor inpatients at "+lvl+" level",
				"the poor-population inpatient policy (降档提标) was not applied")
		}
	}
	// R05: major diseases: basic + critical-illness + assistance share,
	// and the critical-illness payout ratio above its lowered deductible.
	if poor && s.MainDiagnosis != "" {
		if _, _, major := pol.MajorDiseases.Match(s.MainDiagnosis); major {
			figs := map[string]string{"main_diagnosis": s.MainDiagnosis, "total_cost": formatFen(f.total)}
			var broke []string
			covered := f.basic + f.critical + f.assist
			if share := percent(covered, f.total); share.Cmp(r.R05MinCombinedShare) < 0 {
				figs["covered"], figs["covered_percent"] = formatFen(covered), formatPct(share)
				broke = append(broke, fmt.Sprintf("basic_insurance + critical_illness + medical_assistance >= %s%% of total_cost", r.R05MinCombinedShare.FloatString(1)))
			}
			if f.critical > 0 && f.hasInScope {
				if base := f.inScope - f.basic - f.deductible - r.R05CriticalDeductible; base > 0 {
					if ratio := percent(f.critical, base); ratio.Cmp(r.R05MinCriticalRatio) < 0 {
						figs["critical_illness"], figs["critical_percent"] = formatFen(f.critical), formatPct(ratio)
						broke = append(broke, fmt.Sprintf("critical_illness >= %s%% above its %s deductible", r.R05MinCriticalRatio.FloatString(1), formatFen(r.R05CriticalDeductible)))
					}
				}
			}
			if len(broke) > 0 {
				alert(RuleR05, figs, joinAnd(broke)+" for a major disease of the poor", "major-disease coverage of a poor patient below the policy")
			}
		}
	}
	// R06: chronic outpatient of the poor: no deductible, and basic
	// insurance pays the ratio of the in-scope cost within the disease's
	// annual cap (raised for the poor): what is left of the cap this
	// calendar year bounds what the ratio can ask.
	if poor && s.EncounterType == "chronic_outpatient" {
		figs := map[string]string{}
		var broke []string
		if f.hasDeductible && f.deductible > 0 {
			figs["deductible"] = formatFen(f.deductible)
			broke = append(broke, "deductible = 0.00")
		}
		if f.hasInScope && f.inScope > 0 {
			want := ratOf(f.inScope, r.R06MinRatio)
			rule := fmt.Sprintf("basic_insurance >= %s%% of in_scope_cost", r.R06MinRatio.FloatString(1))
			if ytd.R06Cap != nil {
				left := new(big.Rat).Sub(ytd.R06Cap, new(big.Rat).SetInt64(ytd.R06PaidBefore))
				if left.Sign() < 0 {
					left.SetInt64(0)
				}
				if left.Cmp(want) < 0 {
					want = left
					rule = fmt.Sprintf("basic_insurance >= what is left of the %s annual cap of %s (raised %s%% for the poor, %s paid before this year)",
						ytd.R06Disease, formatRatFen(ytd.R06Cap), r.R06CapRaise.FloatString(1), formatFen(ytd.R06PaidBefore))
				}
			}
			if new(big.Rat).SetInt64(f.basic).Cmp(want) < 0 {
				figs["basic_insurance"], figs["in_scope_cost"], figs["ratio_percent"] = formatFen(f.basic), formatFen(f.inScope), formatPct(percent(f.basic, f.inScope))
				figs["required_basic_insurance"] = formatRatFen(want)
				if ytd.R06Cap != nil {
					figs["disease"], figs["annual_cap"], figs["paid_before_this_year"] = ytd.R06Disease, formatRatFen(ytd.R06Cap), formatFen(ytd.R06PaidBefore)
				}
				broke = append(broke, rule)
			}
		}
		if len(broke) > 0 {
			alert(RuleR06, figs, joinAnd(broke)+" for chronic outpatient care of the poor",
				"outpatient special-disease policy of the poor not applied")
		}
	}
	// R07: payer order: basic insurance pays first.
	later := []struct {
		name string
		v    int64
	}{{"critical_illness", f.critical}, {"supplementary", f.supp}, {"medical_assistance", f.assist}, {"government_backstop", f.backstop}, {"other_funds", f.other}}
	if f.basic <= 0 {
		for _, l := range later {
			if l.v > 0 {
				alert(RuleR07, map[string]string{"basic_insurance": formatFen(f.basic), l.name: formatFen(l.v)},
					"basic_insurance pays before critical_illness, supplementary, medical_assistance, government_backstop and other_funds",
					"a later payer layer paid while basic insurance paid nothing")
				break
			}
		}
	}
	// R08: registered poor inpatients in county pay no deposit and settle
	// once at discharge.
	if poor && inpatient && s.InCounty != nil && *s.InCounty {
		figs := map[string]string{}
		var broke []string
		if f.hasDeposit && f.deposit > 0 {
			figs["deposit_paid"] = formatFen(f.deposit)
			broke = append(broke, "deposit_paid = 0.00")
		}
		if s.OneStop != nil && !*s.OneStop {
			figs["one_stop"] = "false"
			broke = append(broke, "one_stop = true")
		}
		if len(broke) > 0 {
			alert(RuleR08, figs, joinAnd(broke)+" for poor inpatients in county (先诊疗后付费, 一站式)",
				"pay-after-treatment or one-stop settlement not applied to a poor inpatient")
		}
	}
	// R09: 低保 inpatients: deposit reduced by 80% at designated
	// facilities.
	if inpatient && flags.MinLiving != nil && *flags.MinLiving && f.hasDeposit {
		if base, ok := r.R09BaseDeposit[s.FacilityLevel]; ok {
			keep := new(big.Rat).Sub(big.NewRat(100, 1), r.R09Reduction)
			allowed := ratOf(base, keep)
			if new(big.Rat).SetInt64(f.deposit).Cmp(allowed) > 0 {
				alert(RuleR09, map[string]string{
					"deposit_paid": formatFen(f.deposit), "base_deposit": formatFen(base), "allowed_deposit": formatRatFen(allowed),
				}, fmt.Sprintf("deposit_paid <= base_deposit less %s%% for minimum-living (低保) inpatients", r.R09Reduction.FloatString(1)),
					"deposit of a minimum-living inpatient not reduced")
			}
		}
	}
	slices.SortStableFunc(out, func(a, b canonical.PolicyAlert) int { return cmpString(a.Rule, b.Rule) })
	return out
}

func joinAnd(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " and "
		}
		out += x
	}
	return out
}

// CheckReturnRisk returns the RPR alert of the person for year when their
// out-of-pocket in that calendar year reaches the county's threshold while
// they are not registered poor (flags on the latest settlement's date).
func (p *Person) CheckReturnRisk(pol *Policy, year string, flags canonical.SettlementFlags, now time.Time) (canonical.PolicyAlert, bool) {
	if flags.Poor != nil && *flags.Poor {
		return canonical.PolicyAlert{}, false
	}
	var total int64
	for _, v := range p.OutOfPocket[year] {
		total += v
	}
	th := pol.Rules.RPRAnnualOutOfPocket
	if th <= 0 || total < th {
		return canonical.PolicyAlert{}, false
	}
	id := AlertID(RuleRPR, p.Key+"|"+year)
	status := firstNonEmpty(flags.PovertyStatus, "none")
	return canonical.PolicyAlert{
		Subject: canonical.Subject{
			Origin:    canonical.Origin{County: p.County, SourceSystem: "hpgate", SourceID: id},
			PersonKey: p.Key, IDMasked: p.IDMasked, IDQuality: firstNonEmpty(p.IDQuality, "valid"),
		},
		AlertID: id, Rule: RuleRPR,
		Figures: map[string]string{
			"annual_out_of_pocket": formatFen(total), "year": year,
			"settlements": strconv.Itoa(len(p.OutOfPocket[year])), "poverty_status": status,
		},
		Threshold: fmt.Sprintf("annual out_of_pocket < %s for people not registered poor (防返贫监测)", formatFen(th)),
		Message:   "high medical out-of-pocket burden of a person who is not registered poor: risk of (returning to) poverty, review for monitoring",
		RaisedAt:  now.Format(time.RFC3339),
	}, true
}
