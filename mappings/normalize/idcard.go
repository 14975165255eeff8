package normalize

import (
	"strconv"
	"unicode/utf8"
)

// IDQuality says how an ID number was obtained.
type IDQuality uint8

// ID qualities. The zero value is not a valid quality.
const (
	// IDValid is an 18-character number that validated as given (after
	// white space, full-width and case normalisation).
	IDValid IDQuality = iota + 1
	// IDUpgraded15 is a legacy 15-digit number upgraded to 18 characters:
	// its check digit was computed, not verified.
	IDUpgraded15
)

// String returns "valid", "upgraded_15", or "unknown" for other values.
func (q IDQuality) String() string {
	switch q {
	case IDValid:
		return "valid"
	case IDUpgraded15:
		return "upgraded_15"
	}
	return "unknown"
}

// ID is a validated resident ID number (GB 11643-1999).
type ID struct {
	Number    string // normalised 18-character GB 11643 number, upper-case X
	Quality   IDQuality
	BirthYear int
	Gender    byte // '1' male, '2' female (GB/T 2261.1), from the 17th digit (odd = male)
}

// idWeights are the ISO 7064 MOD 11-2 weights 2^(17-i) mod 11.
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// CheckDigit returns the ISO 7064 MOD 11-2 check character ('0'-'9' or
// 'X') for the first 17 bytes of first17, which must be ASCII digits. A full
// 18-character number may be passed; its last character is ignored. It
// returns 0 if first17 is shorter than 17 bytes or holds a non-digit.
func CheckDigit(first17 string) byte {
	if len(first17) < 17 {
		return 0
	}
	sum := 0
	for i, w := range idWeights {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0
		}
		sum += int(c-'0') * w
	}
	return "10X98765432"[sum%11]
}

// IDCard normalises and validates a resident ID number.
//
// It trims ASCII and Unicode white space (including U+3000 IDEOGRAPHIC
// SPACE), NUL padding and a byte order mark; converts full-width digits
// (０-９) and full-width Ｘ/ｘ to ASCII and a lower-case x to X; and
// upgrades a 15-digit legacy number (YYMMDD birth date: "19" is inserted and
// the check digit computed). It then validates: 18 characters, 17 digits
// followed by a digit or X, a real calendar birth date between 1880-01-01
// and 2100-12-31, and the check digit.
//
// Errors are *Error with code bad_id_format, bad_birth_date or
// bad_check_digit. IDCard does not allocate when s is already a normalised
// valid 18-character number (Number is then s itself), and allocates at most
// once otherwise.
func IDCard(s string) (ID, error) {
	if len(s) == 18 && isCanonical18(s) {
		return check18(s, IDValid)
	}
	return idCardSlow(s)
}

// isCanonical18 reports whether s is 17 ASCII digits and a digit or 'X'.
func isCanonical18(s string) bool {
	for i := 0; i < 17; i++ {
		if s[i]-'0' > 9 {
			return false
		}
	}
	return s[17]-'0' <= 9 || s[17] == 'X'
}

func idCardSlow(s string) (ID, error) {
	t := trimPad(s)
	n := utf8.RuneCountInString(t)
	switch {
	case n == 0:
		return ID{}, newError(CodeBadIDFormat, "empty value")
	case n != 18 && n != 15:
		// A message holds at most two digits, so it can never contain a
		// meaningful part of an ID number.
		if n > 99 {
			return ID{}, newError(CodeBadIDFormat, "wrong length: over 99 characters")
		}
		return ID{}, newError(CodeBadIDFormat, "wrong length: "+strconv.Itoa(n)+" characters")
	}

	var buf [18]byte
	canonical := len(t) == n // ASCII only so far; cleared on any rewrite
	pos := 0
	for _, r := range t {
		c, rewritten := idChar(r)
		bad := c == 0 || (c == 'X' && !(n == 18 && pos == 17))
		if bad {
			return ID{}, newError(CodeBadIDFormat, "invalid character at position "+strconv.Itoa(pos+1))
		}
		if rewritten {
			canonical = false
		}
		buf[pos] = c
		pos++
	}

	if n == 15 {
		copy(buf[8:17], buf[6:15])
		buf[6], buf[7] = '1', '9'
		buf[17] = CheckDigit(string(buf[:17]))
		return check18(string(buf[:]), IDUpgraded15)
	}
	if canonical {
		return check18(t, IDValid)
	}
	return check18(string(buf[:]), IDValid)
}

// idChar maps one rune of an ID number to its canonical ASCII byte. It
// returns 0 for a rune that cannot appear in an ID number, and rewritten =
// true if the byte differs from the input rune.
func idChar(r rune) (c byte, rewritten bool) {
	switch {
	case r >= '0' && r <= '9':
		return byte(r), false
	case r == 'X':
		return 'X', false
	case r == 'x', r == 'Ｘ', r == 'ｘ':
		return 'X', true
	case r >= '０' && r <= '９':
		return byte('0' + r - '０'), true
	}
	return 0, false
}

// check18 validates the birth date and check digit of num, which must
// already be 17 ASCII digits and a digit or 'X'.
func check18(num string, q IDQuality) (ID, error) {
	year := digits4(num[6:10])
	month := digits2(num[10:12])
	day := digits2(num[12:14])
	if year < 1880 || year > 2100 {
		return ID{}, newError(CodeBadBirthDate, "birth year out of the supported range")
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) {
		return ID{}, newError(CodeBadBirthDate, "birth date is not a calendar date")
	}
	if q == IDValid && CheckDigit(num) != num[17] {
		return ID{}, newError(CodeBadCheckDigit, "check digit does not match")
	}
	g := byte('2')
	if (num[16]-'0')%2 == 1 {
		g = '1'
	}
	return ID{Number: num, Quality: q, BirthYear: year, Gender: g}, nil
}

// digits2 and digits4 read fixed-width ASCII digits already checked by the
// caller.
func digits2[T raw](s T) int { return int(s[0]-'0')*10 + int(s[1]-'0') }

func digits4[T raw](s T) int { return digits2(s[0:2])*100 + digits2(s[2:4]) }

// daysIn returns the number of days in month m (1-12) of year y in the
// proleptic Gregorian calendar.
func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
