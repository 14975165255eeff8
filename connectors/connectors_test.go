package connectors

import (
	"reflect"
	"testing"
)

// TestBatchSlice checks that a sub-batch keeps its rows' positions and
// problems, re-indexed, so a replay or audit window never mistakes an
// unreadable row for an empty one.
func TestBatchSlice(t *testing.T) {
	b := &Batch{
		Columns:   []string{"id"},
		Rows:      [][]any{{"a"}, {"b"}, {"c"}, {"d"}},
		Positions: []Position{"p0", "p1", "p2", "p3"},
		Next:      "p3",
		Problems:  []RowProblem{{Row: 0, Code: "bad_row"}, {Row: 2, Code: "bad_row", Message: "line 3"}},
	}
	sub := b.Slice(1, 3)
	if want := [][]any{{"b"}, {"c"}}; !reflect.DeepEqual(sub.Rows, want) {
		t.Errorf("rows %v, want %v", sub.Rows, want)
	}
	if want := []Position{"p1", "p2"}; !reflect.DeepEqual(sub.Positions, want) || sub.Next != "p2" {
		t.Errorf("positions %v next %q, want %v and p2", sub.Positions, sub.Next, want)
	}
	if want := []RowProblem{{Row: 1, Code: "bad_row", Message: "line 3"}}; !reflect.DeepEqual(sub.Problems, want) {
		t.Errorf("problems %+v, want %+v", sub.Problems, want)
	}
	if b.Problems[1].Row != 2 {
		t.Errorf("Slice changed the batch's own problems: %+v", b.Problems)
	}
	if empty := b.Slice(2, 2); empty.Len() != 0 || empty.Next != "p1" || empty.Problems != nil {
		t.Errorf("empty slice: %+v", empty)
	}
}
