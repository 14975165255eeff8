package mappings

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hpgate/hpgate/mappings/pii"
)

// A raw row is kept, sealed, in DLQ messages so that it can be mapped again
// once its mapping is fixed. The encoding keeps each value's Go type, so a
// re-drive sees exactly what the source returned.

type rawValue struct {
	S *string  `json:"s,omitempty"`
	B []byte   `json:"b,omitempty"`
	I *int64   `json:"i,omitempty"`
	F *float64 `json:"f,omitempty"`
	T *string  `json:"t,omitempty"`
	V *bool    `json:"v,omitempty"`
}

type rawRow struct {
	Columns []string    `json:"columns"`
	Values  []*rawValue `json:"values"`
}

// EncodeRawRow encodes one source row with its value types.
func EncodeRawRow(cols []string, row []any) ([]byte, error) {
	rr := rawRow{Columns: cols, Values: make([]*rawValue, len(row))}
	for i, v := range row {
		switch x := v.(type) {
		case nil:
		case string:
			rr.Values[i] = &rawValue{S: &x}
		case []byte:
			if x == nil {
				x = []byte{}
			}
			rr.Values[i] = &rawValue{B: x}
		case int64:
			rr.Values[i] = &rawValue{I: &x}
		case int:
			n := int64(x)
			rr.Values[i] = &rawValue{I: &n}
		case int32:
			n := int64(x)
			rr.Values[i] = &rawValue{I: &n}
		case float64:
			rr.Values[i] = &rawValue{F: &x}
		case bool:
			rr.Values[i] = &rawValue{V: &x}
		case time.Time:
			s := x.Format(time.RFC3339Nano)
			rr.Values[i] = &rawValue{T: &s}
		default:
			s := fmt.Sprint(x)
			rr.Values[i] = &rawValue{S: &s}
		}
	}
	return json.Marshal(rr)
}

// DecodeRawRow reverses EncodeRawRow.
func DecodeRawRow(data []byte) (cols []string, row []any, err error) {
	var rr rawRow
	if err := json.Unmarshal(data, &rr); err != nil {
		return nil, nil, fmt.Errorf("decode raw row: %w", err)
	}
	if len(rr.Columns) != len(rr.Values) {
		return nil, nil, fmt.Errorf("decode raw row: %d columns, %d values", len(rr.Columns), len(rr.Values))
	}
	row = make([]any, len(rr.Values))
	for i, v := range rr.Values {
		switch {
		case v == nil:
		case v.S != nil:
			row[i] = *v.S
		case v.B != nil:
			row[i] = v.B
		case v.I != nil:
			row[i] = *v.I
		case v.F != nil:
			row[i] = *v.F
		case v.V != nil:
			row[i] = *v.V
		case v.T != nil:
			t, err := time.Parse(time.RFC3339Nano, *v.T)
			if err != nil {
				return nil, nil, fmt.Errorf("decode raw row: column %s: %w", rr.Columns[i], err)
			}
			row[i] = t
		default:
			row[i] = []byte{}
		}
	}
	return rr.Columns, row, nil
}

// MaskedRow renders a row for people to read in the DLQ: the columns the
// mapping reads, as text, with personal-data columns masked. Columns the
// mapping does not know are left out, and a value shaped like an ID number
// is masked wherever it is, in case a pii_columns entry was forgotten.
func (m *Mapping) MaskedRow(cols []string, row []any) map[string]string {
	out := make(map[string]string, len(m.columns))
	for i, c := range cols {
		if i >= len(row) || row[i] == nil {
			continue
		}
		ref, ok := m.colRef[c]
		if !ok {
			continue
		}
		s := string(appendRaw(nil, row[i]))
		switch {
		case looksLikeID(s):
			s = pii.MaskID(s)
		case m.piiCols[ref] && !utf8.ValidString(s):
			s = "****" // legacy-encoded bytes: nothing to keep
		case m.piiCols[ref]:
			s = pii.MaskText(s)
		case len(s) > 256:
			s = s[:256] + "…"
		}
		out[c] = s
	}
	return out
}

// looksLikeID reports a 15- to 18-character run of digits (and X).
func looksLikeID(s string) bool {
	if len(s) < 15 || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != 'X' && c != 'x' {
			return false
		}
	}
	return true
}
