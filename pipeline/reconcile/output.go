package reconcile

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Files are the names WriteFiles writes, in order.
var Files = []string{"indicators.csv", "reimbursement.csv", "followup.csv", "discrepancies.csv", "report.html"}

// bom makes Excel read a CSV file as UTF-8.
const bom = "\ufeff"

// WriteFiles writes the CSV files and the HTML page into dir (created if
// needed) and returns their paths. Each file is written to a temporary
// name and renamed, so a reader never sees half a report.
func (r *Report) WriteFiles(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	contents := map[string]func() ([]byte, error){
		"indicators.csv":    r.indicatorsCSV,
		"reimbursement.csv": r.reimbursementCSV,
		"followup.csv":      r.followupCSV,
		"discrepancies.csv": r.discrepanciesCSV,
		"report.html":       r.HTML,
	}
	var out []string
	for _, name := range Files {
		b, err := contents[name]()
		if err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		path := filepath.Join(dir, name)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return out, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return out, err
		}
		out = append(out, path)
	}
	return out, nil
}

func writeCSV(header []string, rows [][]string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(bom)
	w := csv.NewWriter(&buf)
	if err := w.Write(header); err != nil {
		return nil, err
	}
	if err := w.WriteAll(rows); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (r *Report) indicatorsCSV() ([]byte, error) {
	rows := make([][]string, 0, len(r.Indicators))
	for _, i := range r.Indicators {
		rows = append(rows, []string{i.ID, i.Rule, i.NameZH, i.NameEN, i.Numerator, i.Denominator, i.Value, i.Unit, i.Target, i.Met})
	}
	return writeCSV([]string{"id", "rule", "name_zh", "name_en", "numerator", "denominator", "value", "unit", "target", "met"}, rows)
}

func (r *Report) reimbursementCSV() ([]byte, error) {
	rows := make([][]string, 0, len(r.Reimbursement))
	for _, x := range r.Reimbursement {
		rows = append(rows, []string{x.Type, x.NameZH, x.NameEN, strconv.FormatInt(x.Settlements, 10), x.TotalCost, x.Reimbursed, x.OutOfPocket, x.Ratio, x.Target, x.Met})
	}
	return writeCSV([]string{"type", "name_zh", "name_en", "settlements", "total_cost_yuan", "reimbursed_yuan", "out_of_pocket_yuan", "ratio_percent", "target_percent", "met"}, rows)
}

func (r *Report) followupCSV() ([]byte, error) {
	rows := make([][]string, 0, len(r.Followup))
	for _, x := range r.Followup {
		rows = append(rows, []string{x.Condition, x.NameZH, x.NameEN, strconv.Itoa(x.Required), strconv.FormatInt(x.Managed, 10), strconv.FormatInt(x.Compliant, 10), x.Rate})
	}
	return writeCSV([]string{"condition", "name_zh", "name_en", "required_per_year", "managed", "compliant", "rate_percent"}, rows)
}

func (r *Report) discrepanciesCSV() ([]byte, error) {
	rows := make([][]string, 0, len(r.Discrepancies))
	for _, x := range r.Discrepancies {
		rows = append(rows, []string{x.ID, x.Kind, x.KindZH, x.PersonKey, x.IDMasked, x.Systems, x.Authority, x.Values, x.Since, x.Detail})
	}
	return writeCSV([]string{"discrepancy_id", "kind", "kind_zh", "person_key", "id_masked", "systems", "authority", "values", "since", "detail"}, rows)
}
