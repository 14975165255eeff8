package normalize

import "time"

// This file holds the hand-written, allocation-free parsers for the date
// layouts that Date detects.

// compactFields reads "20060102" or "20060102150405"; the caller has checked
// the length and that every byte is a digit.
func compactFields[T raw](d *dateFields, s T) {
	d.year, d.month, d.day = digits4(s), digits2(s[4:6]), digits2(s[6:8])
	if len(s) == 14 {
		d.hour, d.min, d.sec = digits2(s[8:10]), digits2(s[10:12]), digits2(s[12:14])
	}
}

// isDashed reports whether s starts with "dddd-dd-dd".
func isDashed[T raw](s T) bool {
	return len(s) >= 10 && allDigits(s[0:4]) && s[4] == '-' && allDigits(s[5:7]) &&
		s[7] == '-' && allDigits(s[8:10])
}

// isClock reports whether s[i:] is sep followed by "dd:dd:dd".
func isClock[T raw](s T, i int, sep byte) bool {
	return len(s) >= i+9 && s[i] == sep && allDigits(s[i+1:i+3]) && s[i+3] == ':' &&
		allDigits(s[i+4:i+6]) && s[i+6] == ':' && allDigits(s[i+7:i+9])
}

// dashedFields reads "2006-01-02" and, if present, " 15:04:05" after it; the
// caller has checked the shape.
func dashedFields[T raw](d *dateFields, s T) {
	d.year, d.month, d.day = digits4(s), digits2(s[5:7]), digits2(s[8:10])
	if len(s) >= 19 {
		d.hour, d.min, d.sec = digits2(s[11:13]), digits2(s[14:16]), digits2(s[17:19])
	}
}

func allDigits[T raw](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i]-'0' > 9 {
			return false
		}
	}
	return true
}

func leadingDigits[T raw](s T) int {
	i := 0
	for i < len(s) && s[i]-'0' <= 9 {
		i++
	}
	return i
}

// atoi reads up to 18 ASCII digits already checked by the caller.
func atoi[T raw](s T) int64 {
	var n int64
	for i := 0; i < len(s); i++ {
		n = n*10 + int64(s[i]-'0')
	}
	return n
}

// hasAt reports whether s[i:] starts with p.
func hasAt[T raw](s T, i int, p string) bool {
	if len(s)-i < len(p) {
		return false
	}
	for k := 0; k < len(p); k++ {
		if s[i+k] != p[k] {
			return false
		}
	}
	return true
}

// num12 reads a one- or two-digit number at s[i:].
func num12[T raw](s T, i int) (n, next int, ok bool) {
	if i >= len(s) || s[i]-'0' > 9 {
		return 0, i, false
	}
	n = int(s[i] - '0')
	i++
	if i < len(s) && s[i]-'0' <= 9 {
		n = n*10 + int(s[i]-'0')
		i++
	}
	return n, i, true
}

// num2 reads exactly two digits at s[i:].
func num2[T raw](s T, i int) (n, next int, ok bool) {
	if len(s)-i < 2 || s[i]-'0' > 9 || s[i+1]-'0' > 9 {
		return 0, i, false
	}
	return digits2(s[i : i+2]), i + 2, true
}

const (
	msgLayout = "value does not match a known date layout"
	msgDigits = "all-digit value of unsupported length"
	msgZone   = "zone offset out of range"
)

// parseDetect parses s (already trimmed) with the layout its shape implies.
// The error message is a constant: nothing allocates.
func parseDetect[T raw](s T, loc *time.Location) (time.Time, string) {
	if len(s) == 0 {
		return time.Time{}, "empty value"
	}
	nd := leadingDigits(s)
	switch {
	case nd == len(s) && nd <= 5:
		return excelDays(atoi(s), 0, loc)
	case nd == len(s) && (nd == 8 || nd == 14):
		var d dateFields
		compactFields(&d, s)
		if msg := d.check(); msg != "" {
			return time.Time{}, msg
		}
		return d.time(loc), ""
	case nd == len(s):
		return time.Time{}, msgDigits
	case nd >= 1 && nd <= 5 && s[nd] == '.' && nd+1 < len(s) && allDigits(s[nd+1:]):
		return excelDays(atoi(s[:nd]), fractionMillis(s[nd+1:]), loc)
	case nd != 4:
		return time.Time{}, msgLayout
	}

	// The date: 2006-1-2, 2006/1/2, 2006.1.2 or 2006年1月2日, with one- or
	// two-digit month and day.
	var (
		d  dateFields
		ok bool
	)
	d.year = digits4(s)
	i := 5
	sep := s[4]
	cn := false
	switch sep {
	case '-', '/', '.':
	default:
		if !hasAt(s, 4, "年") {
			return time.Time{}, msgLayout
		}
		cn, i = true, 4+len("年")
	}
	if d.month, i, ok = num12(s, i); !ok {
		return time.Time{}, msgLayout
	}
	switch {
	case cn && hasAt(s, i, "月"):
		i += len("月")
	case !cn && i < len(s) && s[i] == sep:
		i++
	default:
		return time.Time{}, msgLayout
	}
	if d.day, i, ok = num12(s, i); !ok {
		return time.Time{}, msgLayout
	}
	if cn {
		if !hasAt(s, i, "日") {
			return time.Time{}, msgLayout
		}
		i += len("日")
	}
	if msg := d.check(); msg != "" {
		return time.Time{}, msg
	}
	if i == len(s) {
		return d.time(loc), ""
	}

	// The time of day: " 15:04", " 15:04:05" or " 15:04:05.999999999"
	// (also with "T"), then an optional RFC 3339 zone.
	switch {
	case s[i] == 'T' || s[i] == 't':
		i++
	case s[i] == ' ':
		for i < len(s) && s[i] == ' ' {
			i++
		}
	case !cn:
		return time.Time{}, msgLayout
	}
	if d.hour, i, ok = num12(s, i); !ok || i >= len(s) || s[i] != ':' {
		return time.Time{}, msgLayout
	}
	if d.min, i, ok = num2(s, i+1); !ok {
		return time.Time{}, msgLayout
	}
	if i < len(s) && s[i] == ':' {
		if d.sec, i, ok = num2(s, i+1); !ok {
			return time.Time{}, msgLayout
		}
		if i < len(s) && s[i] == '.' {
			j := i + 1 + leadingDigits(s[i+1:])
			if j == i+1 || j-i-1 > 9 {
				return time.Time{}, msgLayout
			}
			d.nsec = int(atoi(s[i+1 : j]))
			for k := j - i - 1; k < 9; k++ {
				d.nsec *= 10
			}
			i = j
		}
	}
	if msg := d.check(); msg != "" {
		return time.Time{}, msg
	}
	if i == len(s) {
		return d.time(loc), ""
	}
	zone, msg := parseZone(s[i:])
	if msg != "" {
		return time.Time{}, msg
	}
	return d.time(zone), ""
}

// parseZone reads "Z" or an offset "+08:00" that must make up all of s.
func parseZone[T raw](s T) (*time.Location, string) {
	if len(s) == 1 && (s[0] == 'Z' || s[0] == 'z') {
		return time.UTC, ""
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' ||
		!allDigits(s[1:3]) || !allDigits(s[4:6]) {
		return nil, msgLayout
	}
	h, m := digits2(s[1:3]), digits2(s[4:6])
	if h > 23 || m > 59 {
		return nil, msgZone
	}
	off := (h*60 + m) * 60
	if s[0] == '-' {
		off = -off
	}
	// time.FixedZone caches unnamed whole-hour zones, so common offsets do
	// not allocate.
	return time.FixedZone("", off), ""
}

// fractionMillis converts the fraction digits of an Excel serial to
// milliseconds of the day, rounded half up. Digits after the ninth are
// ignored (1e-9 day is 86 µs).
func fractionMillis[T raw](s T) int64 {
	if len(s) > 9 {
		s = s[:9]
	}
	f := atoi(s)
	for k := len(s); k < 9; k++ {
		f *= 10
	}
	return (f*dayMillis + 5e8) / 1e9
}
