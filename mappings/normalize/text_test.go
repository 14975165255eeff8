package normalize

import (
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// gbkBytes encodes s with the GBK encoder of x/text.
func gbkBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode %q as GBK: %v", s, err)
	}
	return b
}

// gb18030Bytes encodes s with the GB18030 encoder of x/text.
func gb18030Bytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode %q as GB18030: %v", s, err)
	}
	return b
}

func TestText(t *testing.T) {
	zhang := gbkBytes(t, "张三")
	tests := []struct {
		name string
		in   any
		enc  Encoding
		want string
	}{
		{"clean utf8", "张三", UTF8, "张三"},
		{"ascii padding", "  张三\t\r\n", UTF8, "张三"},
		{"ideographic space", "\u3000张三\u3000\u3000", UTF8, "张三"},
		{"NUL padding", "张三\x00\x00\x00", UTF8, "张三"},
		{"inner space kept", " 张 三 ", UTF8, "张 三"},
		{"no-break space and BOM", "\uFEFF\u00a0张三\u00a0", UTF8, "张三"},
		{"empty", "", UTF8, ""},
		{"padding only", " \u3000\x00", UTF8, ""},
		{"bytes utf8", []byte(" 张三\u3000"), UTF8, "张三"},
		{"four-byte rune kept", "𠀀", UTF8, "𠀀"},
		{"replacement char is valid", "\uFFFD", UTF8, "\uFFFD"},
		{"stringer", decimal{" 12.30 "}, UTF8, "12.30"},
		{"int", 42, UTF8, "42"},
		{"int64", int64(-7), GBK, "-7"},
		{"uint8", uint8(200), UTF8, "200"},

		{"gbk bytes", zhang, GBK, "张三"},
		{"gbk in a string", string(zhang), GBK, "张三"},
		{"gbk CHAR padding", append(append([]byte{}, zhang...), ' ', ' ', 0, 0), GBK, "张三"},
		{"gbk ideographic space", gbkBytes(t, "\u3000张三\u3000 "), GBK, "张三"},
		{"gbk ascii only", " abc ", GBK, "abc"},
		{"gbk mixed", gbkBytes(t, "户主: 李四 (1号)"), GBK, "户主: 李四 (1号)"},
		{"gbk euro byte", []byte{0x80}, GBK, "€"},
		{"gb18030 four-byte", gb18030Bytes(t, "𠀀"), GBK, "𠀀"},
		{"gb18030 replacement char", gb18030Bytes(t, "a\uFFFD"), GBK, "a\uFFFD"},
		{"gbk stringer is utf8", decimal{"张三"}, GBK, "张三"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Text(tc.in, tc.enc)
			if err != nil {
				t.Fatalf("Text: %v", err)
			}
			if got != tc.want {
				t.Errorf("Text = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTextErrors(t *testing.T) {
	zhang := gbkBytes(t, "张三")
	tests := []struct {
		name string
		in   any
		enc  Encoding
		code string
	}{
		{"invalid utf8", "\xff张三", UTF8, CodeBadEncoding},
		{"truncated utf8", "张三\xe5", UTF8, CodeBadEncoding},
		{"gbk read as utf8", string(zhang), UTF8, CodeBadEncoding},
		{"invalid utf8 bytes", []byte("abc\xc0\x80"), UTF8, CodeBadEncoding},
		{"overlong space not trimmed", "abc\xc0\xa0", UTF8, CodeBadEncoding},
		{"surrogate", "abc\xed\xa0\x80", UTF8, CodeBadEncoding},
		{"invalid stringer", decimal{"\xff"}, GBK, CodeBadEncoding},
		{"gbk truncated", zhang[:3], GBK, CodeBadEncoding},
		{"gbk lead byte 0xff", []byte{0xff, 0x41}, GBK, CodeBadEncoding},
		{"gbk bad trail", []byte{0x81, 0x20, 0x41}, GBK, CodeBadEncoding},
		{"unknown encoding", "abc", Encoding(9), CodeBadEncoding},
		{"float", 1.5, UTF8, CodeUnsupportedType},
		{"nil", nil, UTF8, CodeUnsupportedType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Text(tc.in, tc.enc)
			if err == nil {
				t.Fatalf("Text = %q, want error %s", got, tc.code)
			}
			if got != "" {
				t.Errorf("Text returned %q with an error", got)
			}
			in, _ := tc.in.(string)
			checkErrorHidesInput(t, err, tc.code, in)
		})
	}
}

func TestParseEncoding(t *testing.T) {
	tests := []struct {
		in      string
		want    Encoding
		wantErr bool
	}{
		{"utf8", UTF8, false},
		{"UTF-8", UTF8, false},
		{"gbk", GBK, false},
		{"GB18030", GBK, false},
		{"latin1", 0, true},
		{"", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseEncoding(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseEncoding(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ParseEncoding(%q) = %v, want %v", tc.in, got, tc.want)
			}
			if err == nil {
				if back, err := ParseEncoding(got.String()); err != nil || back != got {
					t.Errorf("ParseEncoding(%q.String()) = %v, %v", got, back, err)
				}
			} else if !strings.HasPrefix(err.Error(), CodeBadEncoding+": ") {
				t.Errorf("error %q lacks the code", err)
			}
		})
	}
}

func BenchmarkText(b *testing.B) {
	cases := []struct {
		name string
		in   any
		enc  Encoding
	}{
		{"utf8_clean", "张三", UTF8},
		{"utf8_padded", " 张三\u3000\x00", UTF8},
		{"gbk_bytes", gbkBytes(b, "张三"), GBK},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Text(bc.in, bc.enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
