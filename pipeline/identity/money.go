package identity

import (
	"errors"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Money is handled in fen (int64) and ratios as big.Rat: exact, with no
// float64 anywhere in a rule.

var reDecimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

func mustRE(s string) *regexp.Regexp { return regexp.MustCompile(s) }

func isDecimal(s string) bool { return reDecimal.MatchString(s) }

var errMoney = errors.New("not an amount in yuan with at most two decimals")

// parseYuan parses a canonical money value ("1234.50", or a whole or
// one-decimal amount from a policy file) into fen.
func parseYuan(s string) (int64, error) {
	if !isDecimal(s) {
		return 0, errMoney
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 {
		return 0, errMoney
	}
	frac += strings.Repeat("0", 2-len(frac))
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > 1<<53 {
		return 0, errMoney
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	v := w*100 + f
	if neg {
		v = -v
	}
	return v, nil
}

// fen returns the amount of a money field, 0 when absent or malformed (the
// mapping has already validated it), and whether it was present.
func fen(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	v, err := parseYuan(s)
	return v, err == nil
}

// formatFen writes fen as yuan with two decimals.
func formatFen(v int64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	s := strconv.FormatInt(v/100, 10) + "." + pad2(v%100)
	if neg {
		s = "-" + s
	}
	return s
}

func pad2(v int64) string {
	if v < 10 {
		return "0" + strconv.FormatInt(v, 10)
	}
	return strconv.FormatInt(v, 10)
}

// percent returns part/whole×100 exactly; whole must not be 0.
func percent(part, whole int64) *big.Rat {
	return new(big.Rat).SetFrac(big.NewInt(part*100), big.NewInt(whole))
}

// formatPct writes a percentage with two decimals, rounded half away from
// zero, for alert figures (the comparison itself is exact).
func formatPct(r *big.Rat) string { return r.FloatString(2) }

// ratOf returns pct% of v fen, exactly.
func ratOf(v int64, pct *big.Rat) *big.Rat {
	r := new(big.Rat).SetInt64(v)
	r.Mul(r, pct)
	return r.Quo(r, big.NewRat(100, 1))
}

// formatRatFen writes an amount in fen held as a Rat as yuan, two decimals.
func formatRatFen(r *big.Rat) string {
	y := new(big.Rat).Quo(r, big.NewRat(100, 1))
	return y.FloatString(2)
}
