package sqlsource

import (
	"reflect"
	"testing"
)

func TestPositionOfRoundTrips(t *testing.T) {
	p, err := PositionOf("2019-03-01 10:00:00", "JS0001", int64(7))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := decodePosition(p, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(vals, []any{"2019-03-01 10:00:00", "JS0001", int64(7)}) {
		t.Errorf("decoded %#v", vals)
	}
	if _, err := PositionOf("x", nil); err == nil {
		t.Error("NULL cursor value accepted")
	}
}
