package normalize

import (
	"errors"
	"strings"
	"testing"
)

// makeID completes a 17-digit prefix with its check digit.
func makeID(first17 string) string { return first17 + string(CheckDigit(first17)) }

// fullWidth converts ASCII digits and X to their full-width forms.
func fullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r - '0' + '０')
		case r == 'X':
			b.WriteRune('Ｘ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// countDigits counts ASCII digits in s.
func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

// checkErrorHidesInput fails if err is not an *Error with code, or if its
// message could hold personal data from in.
func checkErrorHidesInput(t *testing.T, err error, code, in string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is %T, want *Error", err, err)
	}
	if code != "" && e.Code != code {
		t.Errorf("code = %q, want %q (%v)", e.Code, code, err)
	}
	msg := err.Error()
	if got := e.Code + ": " + e.Msg; msg != got {
		t.Errorf("Error() = %q, want %q", msg, got)
	}
	if in = trimPad(in); len(in) >= 6 && strings.Contains(msg, in) {
		t.Errorf("error message %q contains the input", msg)
	}
}

func TestCheckDigit(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want byte
	}{
		{"public sample ending in X", "11010519491231002", 'X'},
		{"full number, last char ignored", "11010519491231002X", 'X'},
		{"digit result", "44052418800101001", '4'},
		{"all zeros", "00000000000000000", '1'},
		{"too short", "1101051949123100", 0},
		{"non-digit", "1101051949123100A", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckDigit(tc.in); got != tc.want {
				t.Errorf("CheckDigit(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestIDCard(t *testing.T) {
	male := makeID("44030419900307001") // 17th digit 1: male
	leap := makeID("11010520000229002")
	tests := []struct {
		name      string
		in        string
		want      string
		quality   IDQuality
		birthYear int
		gender    byte
	}{
		{"public sample", "11010519491231002X", "11010519491231002X", IDValid, 1949, '2'},
		{"computed male", male, male, IDValid, 1990, '1'},
		{"leap day 2000", leap, leap, IDValid, 2000, '2'},
		{"lower-case x", "11010519491231002x", "11010519491231002X", IDValid, 1949, '2'},
		{"ascii spaces", "  11010519491231002X\t\r\n", "11010519491231002X", IDValid, 1949, '2'},
		{"ideographic space and NUL padding", "\u300011010519491231002X\u3000\x00\x00", "11010519491231002X", IDValid, 1949, '2'},
		{"byte order mark", "\uFEFF11010519491231002X", "11010519491231002X", IDValid, 1949, '2'},
		{"full-width digits and X", fullWidth("11010519491231002X"), "11010519491231002X", IDValid, 1949, '2'},
		{"full-width lower x", fullWidth("11010519491231002") + "ｘ", "11010519491231002X", IDValid, 1949, '2'},
		{"mixed widths", "１1010519491231002X", "11010519491231002X", IDValid, 1949, '2'},
		{"oldest birth date", makeID("11010518800101001"), makeID("11010518800101001"), IDValid, 1880, '1'},
		{"latest birth date", makeID("11010521001231002"), makeID("11010521001231002"), IDValid, 2100, '2'},
		{"15-digit upgrade", "110105491231002", "11010519491231002X", IDUpgraded15, 1949, '2'},
		{"15-digit male", "440304900307001", makeID("44030419900307001"), IDUpgraded15, 1990, '1'},
		{"15-digit full-width padded", " " + fullWidth("110105491231002") + "\u3000", "11010519491231002X", IDUpgraded15, 1949, '2'},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := IDCard(tc.in)
			if err != nil {
				t.Fatalf("IDCard: %v", err)
			}
			want := ID{Number: tc.want, Quality: tc.quality, BirthYear: tc.birthYear, Gender: tc.gender}
			if got != want {
				t.Errorf("IDCard = %+v, want %+v", got, want)
			}
		})
	}
}

func TestIDCardErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		code string
	}{
		{"bad check digit", "110105194912310021", CodeBadCheckDigit},
		{"bad check digit full-width", fullWidth("110105194912310021"), CodeBadCheckDigit},
		{"february 30", makeID("11010519900230001"), CodeBadBirthDate},
		{"february 29 in 1900", makeID("11010519000229001"), CodeBadBirthDate},
		{"february 29 in 2019", makeID("11010520190229001"), CodeBadBirthDate},
		{"month 13", makeID("11010519901301001"), CodeBadBirthDate},
		{"day 0", makeID("11010519900100001"), CodeBadBirthDate},
		{"year 1879", makeID("11010518791231001"), CodeBadBirthDate},
		{"year 2101", makeID("11010521010101001"), CodeBadBirthDate},
		{"15-digit february 30", "110105490230002", CodeBadBirthDate},
		{"empty", "", CodeBadIDFormat},
		{"only padding", " \u3000\x00", CodeBadIDFormat},
		{"17 characters", "11010519491231002", CodeBadIDFormat},
		{"19 characters", "11010519491231002X1", CodeBadIDFormat},
		{"16 characters", "1101051949123100", CodeBadIDFormat},
		{"very long", strings.Repeat("1", 200), CodeBadIDFormat},
		{"letter", "11010519491231002Y", CodeBadIDFormat},
		{"X not last", "1101051949123100X2", CodeBadIDFormat},
		{"X in 15-digit", "11010549123100X", CodeBadIDFormat},
		{"inner space", "110105 19491231002", CodeBadIDFormat},
		{"hyphenated", "110105-19491231-002X", CodeBadIDFormat},
		{"invalid UTF-8", "11010519491231002\xff", CodeBadIDFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := IDCard(tc.in)
			if err == nil {
				t.Fatalf("IDCard = %+v, want error %s", id, tc.code)
			}
			if id != (ID{}) {
				t.Errorf("IDCard returned %+v with an error", id)
			}
			checkErrorHidesInput(t, err, tc.code, tc.in)
			if n := countDigits(err.Error()); n > 2 {
				t.Errorf("message %q has %d digits, want at most 2", err, n)
			}
		})
	}
}

func TestIDQualityString(t *testing.T) {
	tests := []struct {
		q    IDQuality
		want string
	}{
		{IDValid, "valid"},
		{IDUpgraded15, "upgraded_15"},
		{0, "unknown"},
		{9, "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.q.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzIDCard(f *testing.F) {
	for _, s := range []string{
		"11010519491231002X", "11010519491231002x", "110105491231002",
		fullWidth("11010519491231002X"), " 11010519491231002X\u3000\x00",
		"110105194912310021", makeID("11010519900230001"), "", "X", "１",
		makeID("44030419900307001"), "440304900307001", "11010549123100X",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := IDCard(s)
		if err != nil {
			checkErrorHidesInput(t, err, "", s)
			// Messages hold at most two digits, so no input with three or
			// more digits, however short, can appear in one.
			if n := countDigits(err.Error()); n > 2 {
				t.Fatalf("message %q has %d digits", err, n)
			}
			return
		}
		if len(id.Number) != 18 || !isCanonical18(id.Number) || CheckDigit(id.Number) != id.Number[17] {
			t.Fatalf("Number %q is not a canonical valid number", id.Number)
		}
		if id.Quality != IDValid && id.Quality != IDUpgraded15 {
			t.Fatalf("Quality = %d", id.Quality)
		}
		if id.Gender != '1' && id.Gender != '2' {
			t.Fatalf("Gender = %q", id.Gender)
		}
		again, err := IDCard(id.Number)
		if err != nil {
			t.Fatalf("IDCard(IDCard(s).Number): %v", err)
		}
		want := id
		want.Quality = IDValid
		if again != want {
			t.Fatalf("normalising twice = %+v, once = %+v", again, id)
		}
	})
}

func BenchmarkIDCard(b *testing.B) {
	cases := []struct{ name, in string }{
		{"canonical", "11010519491231002X"},
		{"lower_x_padded", " 11010519491231002x "},
		{"full_width", fullWidth("11010519491231002X")},
		{"upgrade_15", "110105491231002"},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := IDCard(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
