package reconcile

import (
	"bytes"
	_ "embed"
	"html/template"
	"math/big"
)

//go:embed report.html.tmpl
var pageText string

var page = template.Must(template.New("report").Parse(pageText))

// MaxHTMLDiscrepancies caps the discrepancies listed in the page; the CSV
// file has all of them.
const MaxHTMLDiscrepancies = 1000

// chart is a horizontal bar chart drawn as inline SVG.
type chart struct {
	ID, Title, Subtitle string
	Width, Height       int
	LabelWidth          int
	Bars                []bar
	// Percent charts run 0–100 and may draw a target mark per bar.
	Percent bool
}

type bar struct {
	Label, Sub, Text string
	Y                int
	W                float64 // bar length in px
	TargetX          float64 // x of the target mark, 0 for none
	Below            bool    // under its target
}

const (
	chartBarArea = 420
	chartLabel   = 230
	chartRow     = 34
)

// HTML renders the report as one self-contained page.
func (r *Report) HTML() ([]byte, error) {
	view := struct {
		*Report
		Coverage, R03, R10, Kinds chart
		Listed                    []Discrepancy
		Truncated                 bool
	}{Report: r}
	view.Coverage = r.rateChart("chart-coverage", "覆盖率", "Coverage of the registered poor (R11, R12, R15)",
		"contract_rate", "enrolment_rate", "poverty_mark_rate", "health_record_rate", "checkup_rate", "major_disease_treated")
	view.R03 = r.rateChart("chart-r03", "实际报销比例", "Actual reimbursement ratio (R03)", "reimbursement_inpatient", "reimbursement_chronic_outpatient")
	var ids []string
	for _, f := range r.Followup {
		ids = append(ids, "followup_"+f.Condition)
	}
	view.R10 = r.rateChart("chart-r10", "慢病规范随访率", "Chronic follow-up compliance (R10)", ids...)
	view.Kinds = countChart("chart-discrepancies", "未解决的数据不一致（按类型）", "Open discrepancies by kind", r.DiscrepancyKinds)
	view.Listed = r.Discrepancies
	if len(view.Listed) > MaxHTMLDiscrepancies {
		view.Listed, view.Truncated = view.Listed[:MaxHTMLDiscrepancies], true
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, view); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Value returns the value of the indicator id as the report shows it, ""
// when there is no such indicator or it has no value.
func (r *Report) Value(id string) string {
	i, _ := r.indicator(id)
	return i.Value
}

func (r *Report) indicator(id string) (Indicator, bool) {
	for _, i := range r.Indicators {
		if i.ID == id {
			return i, true
		}
	}
	return Indicator{}, false
}

func (r *Report) rateChart(id, title, sub string, ids ...string) chart {
	c := chart{ID: id, Title: title, Subtitle: sub, Percent: true, LabelWidth: chartLabel}
	for _, iid := range ids {
		ind, ok := r.indicator(iid)
		if !ok {
			continue
		}
		b := bar{Label: ind.NameZH, Sub: ind.NameEN, Text: "—", Y: len(c.Bars) * chartRow}
		if ind.Value != "" {
			b.Text = ind.Value + "%"
			b.W = scaled(ind.Value, "100")
		}
		if ind.Target != "" {
			b.TargetX = float64(chartLabel) + scaled(ind.Target, "100")
			b.Below = ind.Met == "no"
		}
		c.Bars = append(c.Bars, b)
	}
	c.size()
	return c
}

func countChart(id, title, sub string, counts []Count) chart {
	c := chart{ID: id, Title: title, Subtitle: sub, LabelWidth: chartLabel}
	var top int64
	for _, n := range counts {
		top = max(top, n.N)
	}
	for _, n := range counts {
		b := bar{Label: n.NameZH, Sub: n.NameEN, Text: itoa(n.N), Y: len(c.Bars) * chartRow}
		if top > 0 {
			b.W = float64(chartBarArea) * float64(n.N) / float64(top)
		}
		c.Bars = append(c.Bars, b)
	}
	c.size()
	return c
}

func (c *chart) size() {
	c.Width = chartLabel + chartBarArea + 80
	c.Height = max(len(c.Bars)*chartRow, chartRow)
}

// scaled maps a decimal value on a 0–full scale to a bar length, clamped.
func scaled(value, full string) float64 {
	v, ok1 := new(big.Rat).SetString(value)
	f, ok2 := new(big.Rat).SetString(full)
	if !ok1 || !ok2 || f.Sign() <= 0 {
		return 0
	}
	x, _ := new(big.Rat).Quo(v, f).Float64()
	return float64(chartBarArea) * min(max(x, 0), 1)
}
