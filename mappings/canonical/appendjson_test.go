package canonical

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

var appendCases = []struct {
	name, in string
}{
	{"empty", ""},
	{"ascii", "JS20190301001"},
	{"chinese", "张三 因病致贫 高血压"},
	{"quote and backslash", `a"b\c`},
	{"html", "<script>&amp;</script>"},
	{"named controls", "a\nb\rc\td\be\ff"},
	{"other controls", "\x00\x01\x1f\x7f"},
	{"line separators", "a\u2028b\u2029c"},
	{"invalid utf-8", "a\xffb\xc3(c\xe2\x82"},
	{"truncated rune at end", "张\xe5\xbc"},
	{"surrogate half", "\xed\xa0\x80"},
	{"replacement char", "\ufffd"},
	{"four-byte rune", "𠮷野家"},
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, tc := range appendCases {
		t.Run(tc.name, func(t *testing.T) {
			checkAppend(t, tc.in)
		})
	}
}

func checkAppend(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("x:")
	if got := AppendString(bytes.Clone(prefix), s); !bytes.Equal(got, append(bytes.Clone(prefix), want...)) {
		t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
	}
	if got := AppendBytesString(nil, []byte(s)); !bytes.Equal(got, want) {
		t.Errorf("AppendBytesString(%q) = %s, want %s", s, got, want)
	}
	// Without HTML escaping (the schema files) it must match an Encoder
	// with SetEscapeHTML(false).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	wantNoHTML := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if got := appendString(nil, s, false); !bytes.Equal(got, wantNoHTML) {
		t.Errorf("appendString(%q, false) = %s, want %s", s, got, wantNoHTML)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, tc := range appendCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAppend(t, s)
	})
}

func TestAppendStringAllocs(t *testing.T) {
	long := strings.Repeat("张三 <b>\"x\"</b>\n\u2028\xff 370282********123X ", 200)
	buf := make([]byte, 0, 64<<10)
	for _, tc := range append(appendCases, struct{ name, in string }{"long", long}) {
		b := []byte(tc.in)
		if n := testing.AllocsPerRun(100, func() { buf = AppendString(buf[:0], tc.in) }); n != 0 {
			t.Errorf("AppendString(%s): %v allocs", tc.name, n)
		}
		if n := testing.AllocsPerRun(100, func() { buf = AppendBytesString(buf[:0], b) }); n != 0 {
			t.Errorf("AppendBytesString(%s): %v allocs", tc.name, n)
		}
	}
}

func BenchmarkAppendString(b *testing.B) {
	inputs := []struct{ name, in string }{
		{"ascii_16", "JS20190301001abc"},
		{"ascii_128", strings.Repeat("H37028200001-", 10)[:128]},
		{"chinese_30", "青岛市即墨区人民医院心血管内科"},
		{"escapes_64", strings.Repeat(`a"<\n`, 16)},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.SetBytes(int64(len(in.in)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendString(buf[:0], in.in)
			}
		})
		b.Run(in.name+"/bytes", func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			src := []byte(in.in)
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendBytesString(buf[:0], src)
			}
		})
		// encoding/json for comparison.
		b.Run(in.name+"/json.Marshal", func(b *testing.B) {
			b.SetBytes(int64(len(in.in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(in.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
