package mappings

import (
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
)

// TestSourceProblemsAreRejectedNotMapped: a row the source flags as
// unreadable is rejected with the source's code and message, even when its
// values would map, and the rows around it map as usual.
func TestSourceProblemsAreRejectedNotMapped(t *testing.T) {
	m := loadBench(t)
	b := benchBatch(5)
	b.Problems = []connectors.RowProblem{
		{Row: 1, Code: "bad_row", Message: "a.csv: line 3 has 22 cells, the header has 21"},
		{Row: 4, Code: "bad_row", Message: "a.csv: line 6 has 20 cells, the header has 21"},
	}
	var res Result
	if err := m.Apply(b, &res, time.Now()); err != nil {
		t.Fatal(err)
	}
	var mapped []int
	for _, r := range res.Records {
		mapped = append(mapped, r.Row)
	}
	if len(mapped) != 3 || mapped[0] != 0 || mapped[1] != 2 || mapped[2] != 3 {
		t.Errorf("mapped rows %v, want [0 2 3]", mapped)
	}
	if len(res.Rejections) != 2 {
		t.Fatalf("rejections %+v", res.Rejections)
	}
	for k, rj := range res.Rejections {
		p := b.Problems[k]
		if rj.Row != p.Row || rj.Code != "bad_row" || rj.Message != p.Message || rj.Field != "" || rj.Mapping != m.Name || rj.Position == "" {
			t.Errorf("rejection %+v for problem %+v", rj, p)
		}
	}

	// The same batch without problems maps every row: the rejections came
	// from the problems alone.
	b.Problems = nil
	res.Reset()
	if err := m.Apply(b, &res, time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 5 || len(res.Rejections) != 0 {
		t.Errorf("%d records, rejections %+v", len(res.Records), res.Rejections)
	}
}

// TestSourceProblemComesBeforeTheFilter: a roster row the source could not
// read has nil values, which the roster's filter (`not blank(户编号)`,
// for the subtotal row) would skip silently; it is rejected instead.
func TestSourceProblemComesBeforeTheFilter(t *testing.T) {
	ms, err := Load(Options{}, "counties/370282-jimo/jimo-roster-person.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := ms[0]
	cols := append([]string(nil), m.Stream.Columns...)
	b := &connectors.Batch{Columns: cols, Rows: [][]any{make([]any, len(cols))}}
	var res Result
	if err := m.Apply(b, &res, time.Now()); err != nil {
		t.Fatal(err)
	}
	if res.Filtered != 1 {
		t.Fatalf("an empty row without a problem: filtered %d, rejections %+v", res.Filtered, res.Rejections)
	}
	b.Problems = []connectors.RowProblem{{Row: 0, Code: "bad_row", Message: "r.csv: line 9 has 3 cells, the header has 21"}}
	res.Reset()
	if err := m.Apply(b, &res, time.Now()); err != nil {
		t.Fatal(err)
	}
	if res.Filtered != 0 || len(res.Rejections) != 1 || res.Rejections[0].Code != "bad_row" {
		t.Errorf("filtered %d, rejections %+v", res.Filtered, res.Rejections)
	}
}
