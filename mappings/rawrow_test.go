package mappings

import (
	"reflect"
	"testing"
	"time"
)

func TestRawRowRoundTrip(t *testing.T) {
	cols := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	row := []any{nil, "text", []byte{0xd5, 0xc5}, int64(-7), 1.25, true, time.Date(2019, 3, 1, 10, 0, 0, 5, time.UTC), []byte{}}
	data, err := EncodeRawRow(cols, row)
	if err != nil {
		t.Fatal(err)
	}
	gc, gr, err := DecodeRawRow(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gc, cols) || !reflect.DeepEqual(gr, row) {
		t.Errorf("round trip:\n%#v\n%#v", gr, row)
	}
}

func TestMaskedRow(t *testing.T) {
	m := loadBench(t)
	b := benchBatch(1)
	got := m.MaskedRow(b.Columns, b.Rows[0])
	if _, shown := got["XM"]; shown {
		t.Errorf("a column the mapping does not read is shown: %v", got)
	}
	if got["SFZH"] != "110105********002X" || got["JSID"] != "JS00000000" || got["ZFY"] != "1234567" {
		t.Errorf("masked row %v", got)
	}
}
