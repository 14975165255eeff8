package normalize

import (
	"math"
	"testing"
	"time"
)

func TestDate(t *testing.T) {
	cstDate := func(y int, m time.Month, d, hh, mm, ss, ns int) time.Time {
		return time.Date(y, m, d, hh, mm, ss, ns, CST())
	}
	march1 := cstDate(2019, 3, 1, 0, 0, 0, 0)
	march1At := cstDate(2019, 3, 1, 10, 20, 30, 0)
	plus2 := time.FixedZone("+02", 2*60*60)
	tests := []struct {
		name    string
		in      any
		loc     *time.Location
		layouts []string
		want    time.Time
	}{
		{"20060102", "20190301", nil, nil, march1},
		{"20060102150405", "20190301102030", nil, nil, march1At},
		{"2006-01-02", "2019-03-01", nil, nil, march1},
		{"2006-1-2", "2019-3-1", nil, nil, march1},
		{"2006/1/2", "2019/3/1", nil, nil, march1},
		{"2006/01/02", "2019/03/01", nil, nil, march1},
		{"2006.01.02", "2019.03.01", nil, nil, march1},
		{"2006年1月2日", "2019年3月1日", nil, nil, march1},
		{"2006年01月02日", "2019年03月01日", nil, nil, march1},
		{"2006-01-02 15:04:05", "2019-03-01 10:20:30", nil, nil, march1At},
		{"2006-01-02T15:04:05", "2019-03-01T10:20:30", nil, nil, march1At},
		{"fractional seconds", "2019-03-01 10:20:30.123456", nil, nil, cstDate(2019, 3, 1, 10, 20, 30, 123456000)},
		{"nanoseconds with T", "2019-03-01T10:20:30.000000001", nil, nil, cstDate(2019, 3, 1, 10, 20, 30, 1)},
		{"2006/1/2 15:04:05", "2019/3/1 10:20:30", nil, nil, march1At},
		{"2006/1/2 15:04", "2019/3/1 9:05", nil, nil, cstDate(2019, 3, 1, 9, 5, 0, 0)},
		{"chinese with time", "2019年3月1日 10:20:30", nil, nil, march1At},
		{"RFC 3339 UTC", "2019-03-01T10:20:30Z", nil, nil, time.Date(2019, 3, 1, 10, 20, 30, 0, time.UTC)},
		{"RFC 3339 offset kept", "2019-03-01T10:20:30+05:30", nil, nil, time.Date(2019, 3, 1, 10, 20, 30, 0, time.FixedZone("", 5*3600+1800))},
		{"RFC 3339 negative offset and fraction", "2019-03-01T10:20:30.5-07:00", nil, nil, time.Date(2019, 3, 1, 10, 20, 30, 5e8, time.FixedZone("", -7*3600))},
		{"padded", " 2019-03-01\u3000\x00", nil, nil, march1},
		{"bytes", []byte("2019-03-01 10:20:30"), nil, nil, march1At},
		{"bytes chinese", []byte("2019年3月1日"), nil, nil, march1},
		{"leap day", "20200229", nil, nil, cstDate(2020, 2, 29, 0, 0, 0, 0)},
		{"other location", "2019-03-01", plus2, nil, time.Date(2019, 3, 1, 0, 0, 0, 0, plus2)},

		{"excel string", "43525", nil, nil, march1},
		{"excel string with fraction", "43525.5", nil, nil, cstDate(2019, 3, 1, 12, 0, 0, 0)},
		{"excel string fraction rounds to ms", "43525.0000000116", nil, nil, cstDate(2019, 3, 1, 0, 0, 0, 1e6)},
		{"excel string near midnight", "43525.9999999999", nil, nil, cstDate(2019, 3, 2, 0, 0, 0, 0)},
		{"excel int", 43525, nil, nil, march1},
		{"excel int32", int32(43525), nil, nil, march1},
		{"excel int64", int64(43525), nil, nil, march1},
		{"excel float64", 43525.25, nil, nil, cstDate(2019, 3, 1, 6, 0, 0, 0)},
		{"excel float64 one second", 43525 + 1.0/86400, nil, nil, cstDate(2019, 3, 1, 0, 0, 1, 0)},
		{"excel serial 1", 1, nil, nil, cstDate(1900, 1, 1, 0, 0, 0, 0)},
		{"excel serial 59", "59", nil, nil, cstDate(1900, 2, 28, 0, 0, 0, 0)},
		{"excel serial 61", 61, nil, nil, cstDate(1900, 3, 1, 0, 0, 0, 0)},
		{"excel serial max", 2958465, nil, nil, cstDate(9999, 12, 31, 0, 0, 0, 0)},
		{"excel in other location", 43525, plus2, nil, time.Date(2019, 3, 1, 0, 0, 0, 0, plus2)},

		{"time.Time wall clock re-read", time.Date(2019, 3, 1, 10, 20, 30, 0, time.UTC), nil, nil, march1At},
		{"time.Time from other zone", time.Date(2019, 3, 1, 10, 20, 30, 7, plus2), nil, nil, cstDate(2019, 3, 1, 10, 20, 30, 7)},
		{"time.Time into loc", time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC), plus2, nil, time.Date(2019, 3, 1, 0, 0, 0, 0, plus2)},

		{"layout day first", "01/03/2019", nil, []string{"02/01/2006"}, march1},
		{"second layout matches", "20190301", nil, []string{"2006-01-02", "20060102"}, march1},
		{"hot layout 19", "2019-03-01 10:20:30", nil, []string{"2006-01-02 15:04:05"}, march1At},
		{"hot layout 19 one-digit hour falls back", "2019-03-01 9:20:30", nil, []string{"2006-01-02 15:04:05"}, cstDate(2019, 3, 1, 9, 20, 30, 0)},
		{"hot layout with fraction falls back", "2019-03-01 10:20:30.25", nil, []string{"2006-01-02 15:04:05"}, cstDate(2019, 3, 1, 10, 20, 30, 25e7)},
		{"hot layout 14", "20190301102030", nil, []string{"20060102150405"}, march1At},
		{"hot layout 10 bytes", []byte("2019-03-01"), nil, []string{"2006-01-02"}, march1},
		{"layout with month name", "Mar 1, 2019", nil, []string{"Jan 2, 2006"}, march1},
		{"layout and padding", " 2019-03-01 ", nil, []string{"2006-01-02"}, march1},
		{"layout and excel int", 43525, nil, []string{"02/01/2006"}, march1},
		{"layout and time.Time", time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC), nil, []string{"02/01/2006"}, march1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Date(tc.in, tc.loc, tc.layouts...)
			if err != nil {
				t.Fatalf("Date: %v", err)
			}
			// RFC 3339 output includes the zone offset, so this also checks
			// that naive values land in loc and explicit zones are kept.
			if !got.Equal(tc.want) || got.Format(time.RFC3339Nano) != tc.want.Format(time.RFC3339Nano) {
				t.Errorf("Date = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDateLocation(t *testing.T) {
	got, err := Date("2019-03-01", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Location() != CST() {
		t.Errorf("location = %v, want CST()", got.Location())
	}
	if name, off := got.Zone(); name != "CST" || off != 8*60*60 {
		t.Errorf("zone = %s %d, want CST 28800", name, off)
	}
}

func TestDateErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      any
		layouts []string
		code    string
	}{
		{"february 30 dashed", "2019-02-30", nil, CodeUnparseableDate},
		{"february 30 compact", "20190230", nil, CodeUnparseableDate},
		{"february 29 non-leap", "2019-02-29", nil, CodeUnparseableDate},
		{"february 29 1900", "1900/2/29", nil, CodeUnparseableDate},
		{"april 31", "2019年4月31日", nil, CodeUnparseableDate},
		{"month 13", "2019-13-01", nil, CodeUnparseableDate},
		{"month 0", "20190001", nil, CodeUnparseableDate},
		{"day 0", "2019-03-00", nil, CodeUnparseableDate},
		{"mysql zero date", "0000-00-00", nil, CodeUnparseableDate},
		{"mysql zero datetime", "0000-00-00 00:00:00", nil, CodeUnparseableDate},
		{"year 0", "0000-01-01", nil, CodeUnparseableDate},
		{"hour 24", "2019-03-01 24:00:00", nil, CodeUnparseableDate},
		{"minute 60", "2019-03-01 10:60:00", nil, CodeUnparseableDate},
		{"second 60", "20190301102060", nil, CodeUnparseableDate},
		{"empty", "", nil, CodeUnparseableDate},
		{"padding only", " \u3000 ", nil, CodeUnparseableDate},
		{"junk", "yesterday", nil, CodeUnparseableDate},
		{"year and month", "2019-03", nil, CodeUnparseableDate},
		{"six digits", "201903", nil, CodeUnparseableDate},
		{"twelve digits", "201903011020", nil, CodeUnparseableDate},
		{"mixed separators", "2019-03/01", nil, CodeUnparseableDate},
		{"missing 日", "2019年3月1", nil, CodeUnparseableDate},
		{"three-digit month", "2019-003-01", nil, CodeUnparseableDate},
		{"two-digit year", "19-03-01", nil, CodeUnparseableDate},
		{"trailing junk", "2019-03-01x", nil, CodeUnparseableDate},
		{"time without minutes", "2019-03-01 10", nil, CodeUnparseableDate},
		{"one-digit minute", "2019-03-01 10:2", nil, CodeUnparseableDate},
		{"empty fraction", "2019-03-01 10:20:30.", nil, CodeUnparseableDate},
		{"ten-digit fraction", "2019-03-01 10:20:30.1234567890", nil, CodeUnparseableDate},
		{"zone without time", "2019-03-01Z", nil, CodeUnparseableDate},
		{"zone hour 24", "2019-03-01T10:20:30+24:00", nil, CodeUnparseableDate},
		{"zone without colon", "2019-03-01T10:20:30+0800", nil, CodeUnparseableDate},
		{"excel serial 0", "0", nil, CodeUnparseableDate},
		{"excel serial 60", 60, nil, CodeUnparseableDate},
		{"excel negative", -5, nil, CodeUnparseableDate},
		{"excel too large", int64(2958466), nil, CodeUnparseableDate},
		{"excel NaN", math.NaN(), nil, CodeUnparseableDate},
		{"excel infinity", math.Inf(1), nil, CodeUnparseableDate},
		{"excel fraction without digits", "43525.", nil, CodeUnparseableDate},
		{"zero time.Time", time.Time{}, nil, CodeUnparseableDate},
		{"layout mismatch", "2019-03-01", []string{"20060102"}, CodeUnparseableDate},
		{"layout impossible date", "2019-02-30", []string{"2006-01-02"}, CodeUnparseableDate},
		{"layouts exclude excel strings", "43525", []string{"2006-01-02"}, CodeUnparseableDate},
		{"layouts exclude detection", "2019年3月1日", []string{"2006-01-02", "20060102"}, CodeUnparseableDate},
		{"layout year 0", "0000-01-01", []string{"2006-01-02"}, CodeUnparseableDate},
		{"bool", true, nil, CodeUnsupportedType},
		{"nil", nil, nil, CodeUnsupportedType},
		{"pointer", new(time.Time), nil, CodeUnsupportedType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Date(tc.in, nil, tc.layouts...)
			if err == nil {
				t.Fatalf("Date = %v, want error %s", got, tc.code)
			}
			if !got.IsZero() {
				t.Errorf("Date returned %v with an error", got)
			}
			in, _ := tc.in.(string)
			checkErrorHidesInput(t, err, tc.code, in)
		})
	}
}

func FuzzDate(f *testing.F) {
	for _, s := range []string{
		"20190301", "20190301102030", "2019-03-01", "2019-3-1", "2019/3/1",
		"2019.03.01", "2019年3月1日", "2019-03-01 10:20:30", "2019-03-01T10:20:30.123",
		"2019/3/1 10:20:30", "2019/3/1 9:05", "2019-03-01T10:20:30+05:30",
		"0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "2019-03-01T10:20:30Z",
		"43525", "43525.5", "1.9999999999", "2958465.99999999", "2019-02-30", "",
	} {
		f.Add(s)
	}
	const layout = "2006-01-02 15:04:05"
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Date(s, nil)
		fromBytes, errBytes := Date([]byte(s), nil)
		if (err == nil) != (errBytes == nil) || !got.Equal(fromBytes) {
			t.Fatalf("string and []byte disagree: %v %v / %v %v", got, err, fromBytes, errBytes)
		}
		if err != nil {
			checkErrorHidesInput(t, err, CodeUnparseableDate, s)
			return
		}
		// Formatting the result back (in its own zone, so that a kept RFC 3339
		// zone survives) and parsing again gives the same instant.
		back := got.Format(layout)
		again, err := Date(back, got.Location())
		if err != nil {
			t.Fatalf("Date(%q) = %v: reparse of %q: %v", s, got, back, err)
		}
		if want := got.Truncate(time.Second); !again.Equal(want) {
			t.Fatalf("Date(%q) = %v: reparse of %q = %v", s, got, back, again)
		}
		back = got.Format(layout + ".999999999")
		if again, err = Date(back, got.Location()); err != nil || !again.Equal(got) {
			t.Fatalf("Date(%q) = %v: reparse of %q = %v, %v", s, got, back, again, err)
		}
	})
}

func BenchmarkDate(b *testing.B) {
	cases := []struct {
		name string
		in   any
	}{
		{"compact_8", "20190301"},
		{"compact_14", "20190301102030"},
		{"dashed_10", "2019-03-01"},
		{"dashed_19", "2019-03-01 10:20:30"},
		{"chinese", "2019年3月1日"},
		{"slashes_time", "2019/3/1 9:05"},
		{"rfc3339_offset", "2019-03-01T10:20:30+08:00"},
		{"excel_string", "43525"},
		{"excel_float", 43525.5},
		{"time_time", time.Date(2019, 3, 1, 10, 20, 30, 0, time.UTC)},
		{"bytes_19", []byte("2019-03-01 10:20:30")},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Date(bc.in, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("layout_fallback", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Date("01/03/2019", nil, "02/01/2006"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
