package normalize

import (
	"math"
	"time"
)

// cst is China Standard Time as a fixed zone: China has no daylight saving
// time, and a fixed zone needs no tzdata on the host.
var cst = time.FixedZone("CST", 8*60*60)

// CST returns the shared fixed +08:00 location named "CST" that Date uses
// when loc is nil.
func CST() *time.Location { return cst }

// Excel serial day numbers accepted by Date: 1 is 1900-01-01 and 2958465 is
// 9999-12-31.
const (
	excelMin = 1
	excelMax = 2958465
	// excelLeapBug is the serial of 1900-02-29, a day that Excel counts
	// (as Lotus 1-2-3 did) but that does not exist.
	excelLeapBug = 60
	dayMillis    = 24 * 60 * 60 * 1000
)

// Date parses a date or date-time value as legacy systems store it.
//
// v may be:
//   - a string or []byte in a legacy layout (see below); padding (white
//     space, U+3000, NUL) around it is ignored;
//   - a time.Time, as database drivers return DATE and DATETIME columns: its
//     wall-clock fields are re-read in loc, because drivers attach UTC to
//     naive values. The zero time.Time (what drivers return for
//     0000-00-00) is rejected;
//   - an integer or floating-point Excel serial day number (days since
//     1899-12-30; the fraction is the time of day, rounded to the
//     millisecond). Serials below 61 follow Excel's 1900 calendar, and 60,
//     Excel's nonexistent 1900-02-29, is rejected.
//
// A string that is all digits, at most five of them, optionally followed by
// a decimal fraction, is an Excel serial too.
//
// If layouts is empty, the layout is detected from the shape of the input:
// "20060102", "20060102150405", "2006-01-02", "2006-1-2", "2006/1/2",
// "2006.01.02", "2006年1月2日", any of these followed by a space (or "T")
// and a time of day "15:04" or "15:04:05" with optional fractional seconds
// (so "2006-01-02 15:04:05", "2006-01-02T15:04:05.000" and
// "2006/1/2 15:04" are accepted), and RFC 3339 with an explicit zone ("Z" or
// "+08:00"), in which case the zone is kept. If layouts is given, strings
// are parsed with those Go layouts only (time.ParseInLocation, first match
// wins); time.Time and numeric input are still accepted.
//
// Naive values are placed in loc; a nil loc means CST(). Impossible dates
// such as 2019-02-30 and years outside 0001-9999 are rejected. Errors are
// *Error with code unparseable_date, or unsupported_type for other Go types.
//
// The detected layouts are parsed by hand and do not allocate, except that
// an RFC 3339 offset that is not a whole number of hours allocates its
// zone.
func Date(v any, loc *time.Location, layouts ...string) (time.Time, error) {
	if loc == nil {
		loc = cst
	}
	var (
		t   time.Time
		msg string
	)
	switch x := v.(type) {
	case string:
		return dateText(x, loc, layouts)
	case []byte:
		return dateText(x, loc, layouts)
	case time.Time:
		if x.IsZero() {
			return time.Time{}, newError(CodeUnparseableDate, "zero time value")
		}
		yy, mm, dd := x.Date()
		h, m, s := x.Clock()
		t = time.Date(yy, mm, dd, h, m, s, x.Nanosecond(), loc)
	case int:
		t, msg = excelDays(int64(x), 0, loc)
	case int32:
		t, msg = excelDays(int64(x), 0, loc)
	case int64:
		t, msg = excelDays(x, 0, loc)
	case float64:
		t, msg = excelFloat(x, loc)
	case float32:
		t, msg = excelFloat(float64(x), loc)
	default:
		return time.Time{}, typeError(v)
	}
	if msg == "" {
		msg = checkYear(t)
	}
	if msg != "" {
		return time.Time{}, newError(CodeUnparseableDate, msg)
	}
	return t, nil
}

func checkYear(t time.Time) string {
	if y := t.Year(); y < 1 || y > 9999 {
		return "year out of range"
	}
	return ""
}

func dateText[T raw](s T, loc *time.Location, layouts []string) (time.Time, error) {
	s = trimPad(s)
	var (
		t   time.Time
		msg string
	)
	if len(layouts) == 0 {
		t, msg = parseDetect(s, loc)
	} else {
		t, msg = parseLayouts(s, loc, layouts)
	}
	if msg == "" {
		msg = checkYear(t)
	}
	if msg != "" {
		return time.Time{}, newError(CodeUnparseableDate, msg)
	}
	return t, nil
}

// parseLayouts tries the given Go layouts in order. The common fixed-width
// layouts are parsed by hand first; whenever the hand parser accepts, it
// gives the same result as time.ParseInLocation.
func parseLayouts[T raw](s T, loc *time.Location, layouts []string) (time.Time, string) {
	var str string
	converted := false
	for _, layout := range layouts {
		if t, ok := parseFixed(s, layout, loc); ok {
			return t, ""
		}
		if !converted {
			str, converted = string(s), true
		}
		if t, err := time.ParseInLocation(layout, str, loc); err == nil {
			return t, ""
		}
	}
	if len(s) == 0 {
		return time.Time{}, "empty value"
	}
	if len(layouts) == 1 {
		return time.Time{}, "value does not match the layout"
	}
	return time.Time{}, "value does not match any of the layouts"
}

// parseFixed parses s with one of the fixed-width hot layouts by hand.
func parseFixed[T raw](s T, layout string, loc *time.Location) (time.Time, bool) {
	var d dateFields
	switch layout {
	case "20060102":
		if len(s) != 8 || !allDigits(s) {
			return time.Time{}, false
		}
		compactFields(&d, s)
	case "20060102150405":
		if len(s) != 14 || !allDigits(s) {
			return time.Time{}, false
		}
		compactFields(&d, s)
	case "2006-01-02":
		if len(s) != 10 || !isDashed(s) {
			return time.Time{}, false
		}
		dashedFields(&d, s)
	case "2006-01-02 15:04:05":
		if len(s) != 19 || !isDashed(s) || !isClock(s, 10, ' ') {
			return time.Time{}, false
		}
		dashedFields(&d, s)
	default:
		return time.Time{}, false
	}
	if d.check() != "" {
		return time.Time{}, false
	}
	return d.time(loc), true
}

// dateFields are the parsed parts of a naive date-time.
type dateFields struct {
	year, month, day, hour, min, sec, nsec int
}

func (d *dateFields) check() string {
	switch {
	case d.year < 1:
		return "year out of range"
	case d.month < 1 || d.month > 12:
		return "month out of range"
	case d.day < 1 || d.day > daysIn(d.month, d.year):
		return "day out of range for the month"
	case d.hour > 23:
		return "hour out of range"
	case d.min > 59:
		return "minute out of range"
	case d.sec > 59:
		return "second out of range"
	}
	return ""
}

func (d *dateFields) time(loc *time.Location) time.Time {
	return time.Date(d.year, time.Month(d.month), d.day, d.hour, d.min, d.sec, d.nsec, loc)
}

// excelFloat converts a floating-point Excel serial; the fraction is the
// time of day, rounded to the millisecond (float64 holds a serial to about a
// microsecond).
func excelFloat(f float64, loc *time.Location) (time.Time, string) {
	if math.IsNaN(f) || f < excelMin || f >= excelMax+1 {
		return time.Time{}, "excel serial out of range"
	}
	days := math.Floor(f)
	ms := int64(math.Round((f - days) * dayMillis))
	return excelDays(int64(days), ms, loc)
}

// excelDays converts an Excel serial day number plus milliseconds into the
// day, placed in loc.
func excelDays(days, ms int64, loc *time.Location) (time.Time, string) {
	if ms >= dayMillis {
		days++
		ms -= dayMillis
	}
	switch {
	case days < excelMin || days > excelMax:
		return time.Time{}, "excel serial out of range"
	case days == excelLeapBug:
		return time.Time{}, "excel serial of the nonexistent 1900-02-29"
	case days < excelLeapBug:
		days++ // Excel counts 1900-02-29, so earlier serials are one day off
	}
	ns := ms * int64(time.Millisecond)
	return time.Date(1899, 12, 30+int(days), 0, 0, 0, int(ns), loc), ""
}
