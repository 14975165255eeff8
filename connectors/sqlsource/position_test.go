package sqlsource

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
)

func TestPositionRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []any
		enc  string
		out  []any // decoded, when it differs from in
	}{
		{name: "text", in: []any{[]byte("2019-03-01 10:00:00"), []byte("JS001")}, enc: `k1:["2019-03-01 10:00:00","JS001"]`,
			out: []any{"2019-03-01 10:00:00", "JS001"}},
		{name: "integers", in: []any{"2019-03-01 10:00:00", int64(-42), uint64(18446744073709551615)}, enc: `k1:["2019-03-01 10:00:00",-42,18446744073709551615]`},
		{name: "float stays float", in: []any{3.0, 0.25}, enc: `k1:[3.0,0.25]`},
		{name: "escapes", in: []any{"a\"b\\c\x01\n", "张三"}, enc: `k1:["a\"b\\c\u0001\u000a","张三"]`},
		{name: "gbk bytes", in: []any{[]byte{0xd5, 0xc5, 0xc8, 0xfd}}, enc: `k1:[{"hex":"d5c5c8fd"}]`},
		{name: "gbk in a string", in: []any{"\xd5\xc5"}, enc: `k1:[{"text_hex":"d5c5"}]`},
		{name: "time", in: []any{time.Date(2019, 3, 1, 10, 0, 0, 5e8, time.UTC)}, enc: `k1:["2019-03-01 10:00:00.5"]`, out: []any{"2019-03-01 10:00:00.5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := appendPosition(nil, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.enc {
				t.Errorf("encoded %s, want %s", b, tc.enc)
			}
			got, err := decodePosition(connectors.Position(b), len(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.out
			if want == nil {
				want = tc.in
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded %#v, want %#v", got, want)
			}
		})
	}
}

func TestPositionZeroAndErrors(t *testing.T) {
	if v, err := decodePosition("", 2); v != nil || err != nil {
		t.Errorf("zero position: %v, %v", v, err)
	}
	if _, err := appendPosition(nil, []any{"x", nil}); !errors.Is(err, errNullCursor) {
		t.Errorf("NULL cursor value: %v", err)
	}
	for _, p := range []string{
		"370282199001011234",
		`k1:["a"`,
		`k1:["a"] x`,
		`k1:["a","b","c"]`,
		`k1:[{"hex":"zz"}]`,
		`k1:[{"b64":"AA=="}]`,
		`k1:[true]`,
		`k2:["a"]`,
	} {
		_, err := decodePosition(connectors.Position(p), 1)
		if !errors.Is(err, errPosition) {
			t.Errorf("%s: got %v, want errPosition", p, err)
		}
		if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(p, "k1:")) {
			t.Errorf("%s: the error quotes the position: %v", p, err)
		}
	}
}

func FuzzDecodePosition(f *testing.F) {
	f.Add(`k1:["2019-03-01 10:00:00","JS001"]`, 2)
	f.Add(`k1:[{"hex":"d5c5"},1.5e3,-7]`, 3)
	f.Add(`k1:[]`, 0)
	f.Fuzz(func(t *testing.T, p string, n int) {
		if n < 0 || n > 8 {
			return
		}
		vals, err := decodePosition(connectors.Position(p), n)
		if err != nil || vals == nil {
			return
		}
		// What decodes re-encodes, and that encoding is stable (valid
		// UTF-8 bytes come back as text, which binds the same).
		b, err := appendPosition(nil, vals)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", vals, err)
		}
		again, err := decodePosition(connectors.Position(b), n)
		if err != nil {
			t.Fatalf("%q re-encoded as %s: %v", p, b, err)
		}
		if b2, _ := appendPosition(nil, again); string(b2) != string(b) {
			t.Fatalf("%q: encoding %s then %s", p, b, b2)
		}
	})
}
