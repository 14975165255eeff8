package normalize

import (
	"math"
	"strconv"
	"testing"
)

// decimal stands for a driver's decimal type that implements fmt.Stringer.
type decimal struct{ s string }

func (d decimal) String() string { return d.s }

func TestMoney(t *testing.T) {
	tests := []struct {
		name string
		in   any
		unit Unit
		want Fen
	}{
		{"yuan with fen", "123.45", Yuan, 12345},
		{"whole yuan", "123", Yuan, 12300},
		{"one decimal", "0.1", Yuan, 10},
		{"zero", "0", Yuan, 0},
		{"negative zero", "-0.00", Yuan, 0},
		{"leading dot", ".5", Yuan, 50},
		{"trailing dot", "5.", Yuan, 500},
		{"leading zeros", "007.10", Yuan, 710},
		{"round half up", "1.005", Yuan, 101},
		{"round half up negative", "-1.005", Yuan, -101},
		{"round down", "1.004", Yuan, 100},
		{"round down negative", "-1.0049999", Yuan, -100},
		{"round up many digits", "0.0050000001", Yuan, 1},
		{"round to next yuan", "9.995", Yuan, 1000},
		{"plus sign", "+5", Yuan, 500},
		{"minus sign", "-5.5", Yuan, -550},
		{"thousands", "1,234,567.89", Yuan, 123456789},
		{"thousands negative", "-12,345", Yuan, -1234500},
		{"yen sign", "¥1,234.50", Yuan, 123450},
		{"full-width yen sign and space", "￥ 12", Yuan, 1200},
		{"sign before currency", "-¥5", Yuan, -500},
		{"sign after currency", "¥-5", Yuan, -500},
		{"padding", " \t12.5\u3000\x00", Yuan, 1250},
		{"max", "92233720368547758.07", Yuan, math.MaxInt64},
		{"min", "-92233720368547758.08", Yuan, math.MinInt64},

		{"fen", "12345", FenUnit, 12345},
		{"fen thousands", "12,345", FenUnit, 12345},
		{"fen half up", "12.5", FenUnit, 13},
		{"fen half up negative", "-12.5", FenUnit, -13},
		{"fen round down", "12.49", FenUnit, 12},
		{"fen max", "9223372036854775807", FenUnit, math.MaxInt64},
		{"fen min", "-9223372036854775808", FenUnit, math.MinInt64},

		{"decimal bytes", []byte("1234.56"), Yuan, 123456},
		{"decimal bytes padded", []byte(" -0.10 "), Yuan, -10},
		{"stringer decimal", decimal{"12.34"}, Yuan, 1234},
		{"int", 12, Yuan, 1200},
		{"int fen", 12, FenUnit, 12},
		{"int8", int8(-3), Yuan, -300},
		{"int32", int32(7), Yuan, 700},
		{"int64", int64(-250), FenUnit, -250},
		{"uint64", uint64(5), Yuan, 500},
		{"int64 fen max", int64(math.MaxInt64), FenUnit, math.MaxInt64},
		{"float 0.3", 0.3, Yuan, 30},
		{"float 0.1+0.2", 0.1 + 0.2, Yuan, 30}, // 0.30000000000000004
		{"float 1.005 rounds up", 1.005, Yuan, 101},
		{"float 2.675 rounds up", 2.675, Yuan, 268},
		{"float negative", -19.99, Yuan, -1999},
		{"float fen half", -2.5, FenUnit, -3},
		{"float32 0.1", float32(0.1), Yuan, 10},
		{"float tiny", 1e-300, Yuan, 0},
		{"float large", 1e15, Yuan, 1e17},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Money(tc.in, tc.unit)
			if err != nil {
				t.Fatalf("Money: %v", err)
			}
			if got != tc.want {
				t.Errorf("Money = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestMoneyErrors(t *testing.T) {
	tests := []struct {
		name string
		in   any
		unit Unit
		code string
	}{
		{"empty", "", Yuan, CodeBadMoney},
		{"padding only", " \u3000", Yuan, CodeBadMoney},
		{"letters", "abc", Yuan, CodeBadMoney},
		{"sign only", "-", Yuan, CodeBadMoney},
		{"currency only", "¥", Yuan, CodeBadMoney},
		{"dot only", ".", Yuan, CodeBadMoney},
		{"two dots", "1.2.3", Yuan, CodeBadMoney},
		{"decimal comma", "1,5", Yuan, CodeBadMoney},
		{"bad grouping", "1,23,456", Yuan, CodeBadMoney},
		{"long group", "1,2345", Yuan, CodeBadMoney},
		{"long first group", "1234,567", Yuan, CodeBadMoney},
		{"leading comma", ",123", Yuan, CodeBadMoney},
		{"double comma", "1,,234", Yuan, CodeBadMoney},
		{"comma in fraction", "1.234,5", Yuan, CodeBadMoney},
		{"two signs", "--5", Yuan, CodeBadMoney},
		{"sign on both sides of currency", "-¥-5", Yuan, CodeBadMoney},
		{"space after sign", "- 5", Yuan, CodeBadMoney},
		{"exponent", "1e3", Yuan, CodeBadMoney},
		{"unit suffix", "12元", Yuan, CodeBadMoney},
		{"inner space", "1 234", Yuan, CodeBadMoney},
		{"NaN text", "NaN", Yuan, CodeBadMoney},
		{"overflow", "92233720368547758.08", Yuan, CodeBadMoney},
		{"overflow by rounding", "92233720368547758.075", Yuan, CodeBadMoney},
		{"negative overflow", "-92233720368547758.09", Yuan, CodeBadMoney},
		{"fen overflow", "9223372036854775808", FenUnit, CodeBadMoney},
		{"fen overflow by rounding", "9223372036854775807.5", FenUnit, CodeBadMoney},
		{"huge", "123456789012345678901234567890", Yuan, CodeBadMoney},
		{"int overflow", int64(math.MaxInt64), Yuan, CodeBadMoney},
		{"int negative overflow", int64(math.MinInt64 / 10), Yuan, CodeBadMoney},
		{"uint overflow", uint64(math.MaxUint64), FenUnit, CodeBadMoney},
		{"float overflow", 1e17, Yuan, CodeBadMoney},
		{"float huge", 1e300, FenUnit, CodeBadMoney},
		{"float NaN", math.NaN(), Yuan, CodeBadMoney},
		{"float infinity", math.Inf(-1), Yuan, CodeBadMoney},
		{"junk bytes", []byte("12.3x"), Yuan, CodeBadMoney},
		{"junk stringer", decimal{"n/a"}, Yuan, CodeBadMoney},
		{"unknown unit", "1", Unit(7), CodeBadMoney},
		{"bool", true, Yuan, CodeUnsupportedType},
		{"nil", nil, Yuan, CodeUnsupportedType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Money(tc.in, tc.unit)
			if err == nil {
				t.Fatalf("Money = %d, want error %s", got, tc.code)
			}
			if got != 0 {
				t.Errorf("Money returned %d with an error", got)
			}
			in, _ := tc.in.(string)
			checkErrorHidesInput(t, err, tc.code, in)
		})
	}
}

func TestFenAppendYuan(t *testing.T) {
	tests := []struct {
		in   Fen
		want string
	}{
		{12345, "123.45"},
		{-5, "-0.05"},
		{0, "0.00"},
		{100, "1.00"},
		{-100, "-1.00"},
		{7, "0.07"},
		{-12345, "-123.45"},
		{math.MaxInt64, "92233720368547758.07"},
		{math.MinInt64, "-92233720368547758.08"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := string(tc.in.AppendYuan([]byte("x="))); got != "x="+tc.want {
				t.Errorf("AppendYuan = %q, want %q", got, "x="+tc.want)
			}
			if got := tc.in.String(); got != tc.want {
				t.Errorf("String = %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzMoney(f *testing.F) {
	for _, s := range []string{
		"123.45", "-1.005", "1,234,567.89", "¥1", "￥-0.5", " 12 ", "1,5", "",
		"92233720368547758.07", "-92233720368547758.08", "9223372036854775807", ".5", "5.",
	} {
		f.Add(s, false, int64(0))
	}
	f.Add("12.5", true, int64(math.MinInt64))
	f.Add("-12.5", true, int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, s string, fen bool, n int64) {
		unit := Yuan
		if fen {
			unit = FenUnit
		}
		got, err := Money(s, unit)
		fromBytes, errBytes := Money([]byte(s), unit)
		if got != fromBytes || (err == nil) != (errBytes == nil) {
			t.Fatalf("string and []byte disagree: %d %v / %d %v", got, err, fromBytes, errBytes)
		}
		if err != nil {
			checkErrorHidesInput(t, err, CodeBadMoney, s)
		} else {
			checkYuanRoundTrip(t, got)
		}
		checkYuanRoundTrip(t, Fen(n))

		// Every int64 amount of fen is accepted with FenUnit.
		if got, err := Money(strconv.FormatInt(n, 10), FenUnit); err != nil || got != Fen(n) {
			t.Fatalf("Money(%d, FenUnit) = %d, %v", n, got, err)
		}
	})
}

func checkYuanRoundTrip(t *testing.T, f Fen) {
	t.Helper()
	s := string(f.AppendYuan(nil))
	if got, err := Money(s, Yuan); err != nil || got != f {
		t.Fatalf("Money(%q, Yuan) = %d, %v; want %d", s, got, err, f)
	}
}

func BenchmarkMoney(b *testing.B) {
	cases := []struct {
		name string
		in   any
		unit Unit
	}{
		{"string", "1,234.56", Yuan},
		{"string_fen", "123456", FenUnit},
		{"bytes_decimal", []byte("1234.56"), Yuan},
		{"int64", int64(123456), FenUnit},
		{"float64", 1234.56, Yuan},
		{"stringer", decimal{"1234.56"}, Yuan},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Money(bc.in, bc.unit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("append_yuan", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 32)
		for b.Loop() {
			buf = Fen(123456).AppendYuan(buf[:0])
		}
	})
}
