package normalize

import (
	"fmt"
	"math"
	"strconv"
)

// Fen is an amount of money in fen (0.01 yuan).
type Fen int64

// Unit is the unit an input amount is expressed in.
type Unit uint8

// Units of input amounts.
const (
	Yuan    Unit = iota // amounts in yuan, e.g. "123.45"
	FenUnit             // amounts in fen, e.g. "12345"
)

// maxFloatAmount bounds float input before it is formatted: anything at or
// above it overflows int64 fen in either unit, and formatting a huge float
// with 'f' would allocate a long string.
const maxFloatAmount = 1e19

// Money parses an amount of money.
//
// v may be a string, a []byte (e.g. a DECIMAL column from MySQL), any Go
// integer or float type, or a fmt.Stringer (some drivers return decimal
// types). Floats are formatted with strconv 'f' -1 (shortest representation)
// and then parsed as decimal text, so float64(0.3) is exactly 30 fen and no
// arithmetic is ever done in floating point.
//
// Text may have surrounding white space, a leading '+' or '-', a currency
// sign "¥" or "￥" (before or after the sign, optionally followed by
// spaces), and thousands separators "," in correctly placed groups of three
// ("1,234,567.89"; "1,5" is rejected, since it may be a decimal comma). With
// unit Yuan, digits after the second decimal are rounded half away from zero
// (1.005 → 1.01, -1.005 → -1.01); with FenUnit the amount is in fen and a
// fraction of a fen rounds the same way.
//
// Empty input, junk and amounts that overflow int64 fen give an *Error with
// code bad_money; unsupported Go types give unsupported_type. Money does not
// allocate for string, []byte and integer input.
func Money(v any, unit Unit) (Fen, error) {
	if unit > FenUnit {
		return 0, newError(CodeBadMoney, "unknown unit")
	}
	switch x := v.(type) {
	case string:
		return moneyText(x, unit)
	case []byte:
		return moneyText(x, unit)
	case int:
		return moneyInt(int64(x), unit)
	case int8:
		return moneyInt(int64(x), unit)
	case int16:
		return moneyInt(int64(x), unit)
	case int32:
		return moneyInt(int64(x), unit)
	case int64:
		return moneyInt(x, unit)
	case uint:
		return moneyUint(uint64(x), unit)
	case uint8:
		return moneyInt(int64(x), unit)
	case uint16:
		return moneyInt(int64(x), unit)
	case uint32:
		return moneyInt(int64(x), unit)
	case uint64:
		return moneyUint(x, unit)
	case float32:
		return moneyFloat(float64(x), 32, unit)
	case float64:
		return moneyFloat(x, 64, unit)
	case fmt.Stringer:
		return moneyText(x.String(), unit)
	}
	return 0, typeError(v)
}

func moneyText[T raw](s T, unit Unit) (Fen, error) {
	f, msg := parseMoney(s, unit)
	if msg != "" {
		return 0, newError(CodeBadMoney, msg)
	}
	return f, nil
}

func moneyInt(n int64, unit Unit) (Fen, error) {
	if unit == FenUnit {
		return Fen(n), nil
	}
	if n > math.MaxInt64/100 || n < math.MinInt64/100 {
		return 0, newError(CodeBadMoney, msgOverflow)
	}
	return Fen(n * 100), nil
}

func moneyUint(n uint64, unit Unit) (Fen, error) {
	if n > math.MaxInt64 {
		return 0, newError(CodeBadMoney, msgOverflow)
	}
	return moneyInt(int64(n), unit)
}

func moneyFloat(f float64, bits int, unit Unit) (Fen, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, newError(CodeBadMoney, "not a finite number")
	}
	if math.Abs(f) >= maxFloatAmount {
		return 0, newError(CodeBadMoney, msgOverflow)
	}
	if math.Abs(f) < 1e-6 {
		// Rounds to zero in both units; formatting it would need a long
		// string of zeros.
		return 0, nil
	}
	var buf [64]byte
	return moneyText(strconv.AppendFloat(buf[:0], f, 'f', -1, bits), unit)
}

const (
	msgOverflow = "amount overflows int64 fen"
	msgJunk     = "not a decimal amount"
)

// parseMoney parses decimal text; the message is a constant, so the error
// path allocates only the *Error.
func parseMoney[T raw](s T, unit Unit) (Fen, string) {
	s = trimPad(s)
	if len(s) == 0 {
		return 0, "empty value"
	}
	neg, signed := false, false
	if s[0] == '+' || s[0] == '-' {
		neg, signed = s[0] == '-', true
		s = s[1:]
	}
	if n := currencyLen(s); n > 0 {
		s = s[n:]
		for len(s) > 0 && s[0] == ' ' {
			s = s[1:]
		}
		if !signed && len(s) > 0 && (s[0] == '+' || s[0] == '-') {
			neg = s[0] == '-'
			s = s[1:]
		}
	}

	// Integer part, with optional thousands separators.
	var mag uint64
	const limit = 1 << 63 // magnitude of math.MinInt64
	i, group, ndig, commas := 0, 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		if c == ',' {
			// The first group has 1-3 digits, later ones exactly 3.
			if group == 0 || group > 3 || (commas && group != 3) {
				return 0, msgJunk
			}
			commas, group = true, 0
			continue
		}
		if c-'0' > 9 {
			break
		}
		d := uint64(c - '0')
		if mag > (limit-d)/10 {
			return 0, msgOverflow
		}
		mag = mag*10 + d
		group++
		ndig++
	}
	if commas && group != 3 {
		return 0, msgJunk
	}

	// Fraction: the digits the unit keeps, then one rounding digit; any
	// further digits must be digits but cannot change a half-up rounding.
	keep := 2
	if unit == FenUnit {
		keep = 0
	}
	var fd T
	if i < len(s) && s[i] == '.' {
		fd = s[i+1:]
		i = len(s)
		if !allDigits(fd) {
			return 0, msgJunk
		}
	}
	if i != len(s) {
		return 0, msgJunk
	}
	if ndig == 0 && len(fd) == 0 {
		return 0, msgJunk
	}
	for k := 0; k < keep; k++ {
		d := uint64(0)
		if k < len(fd) {
			d = uint64(fd[k] - '0')
		}
		if mag > (limit-d)/10 {
			return 0, msgOverflow
		}
		mag = mag*10 + d
	}
	if len(fd) > keep && fd[keep] >= '5' {
		mag++
	}
	switch {
	case neg && mag > limit, !neg && mag > limit-1:
		return 0, msgOverflow
	case neg:
		return Fen(-int64(mag)), "" // wraps to math.MinInt64 for 1<<63
	}
	return Fen(mag), ""
}

// currencyLen returns the length of a leading "¥" or "￥" in s, or 0.
func currencyLen[T raw](s T) int {
	switch {
	case hasAt(s, 0, "¥"):
		return len("¥")
	case hasAt(s, 0, "￥"):
		return len("￥")
	}
	return 0
}

// AppendYuan appends the amount in yuan with exactly two decimals to dst and
// returns the extended slice: 12345 → "123.45", -5 → "-0.05", 0 → "0.00".
func (f Fen) AppendYuan(dst []byte) []byte {
	u := uint64(f)
	if f < 0 {
		dst = append(dst, '-')
		u = -u // also right for math.MinInt64
	}
	dst = strconv.AppendUint(dst, u/100, 10)
	c := u % 100
	return append(dst, '.', byte('0'+c/10), byte('0'+c%10))
}

// String returns the amount in yuan with exactly two decimals, as
// AppendYuan does.
func (f Fen) String() string {
	var buf [24]byte
	return string(f.AppendYuan(buf[:0]))
}
