package normalize

import (
	"errors"
	"testing"
)

func TestTextStringAgreesWithText(t *testing.T) {
	for _, in := range []string{"  张三\u3000", "abc\x00\x00", "\xff\xfe", "\xd5\xc5\xc8\xfd", ""} {
		for _, enc := range []Encoding{UTF8, GBK, Encoding(9)} {
			want, werr := Text(in, enc)
			got, gerr := TextString(in, enc)
			if got != want || (werr == nil) != (gerr == nil) {
				t.Errorf("TextString(%q, %d) = %q, %v; Text gives %q, %v", in, enc, got, gerr, want, werr)
			}
			var ne *Error
			if gerr != nil && !errors.As(gerr, &ne) {
				t.Errorf("error is %T", gerr)
			}
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = TextString(" clean ", UTF8) }); n != 0 {
		t.Errorf("allocates %v", n)
	}
}
