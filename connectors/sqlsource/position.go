package sqlsource

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hpgate/hpgate/connectors"
)

// positionPrefix versions the position encoding: "k1:" then a JSON array of
// the cursor values, timestamp first in incremental mode, for example
//
//	k1:["2019-03-01 10:00:00","JS001"]
//	k1:["2019-03-01 10:00:00",42,{"hex":"d5c5"}]
//
// Text is a JSON string; an integer a JSON number (floats carry a fraction
// or an exponent); bytes that are not valid UTF-8 are {"hex":"…"} (bound
// back as []byte) and a driver string that is not valid UTF-8 is
// {"text_hex":"…"} (bound back as a string). A later encoding gets another
// prefix, and decoding keeps reading this one.
const positionPrefix = "k1:"

var (
	errNullCursor = errors.New("cursor column is NULL (cursor columns must be NOT NULL)")
	errPosition   = errors.New("malformed position")
)

// appendPosition appends the encoding of the cursor values vals to buf.
// Values may alias driver memory: they are copied into buf.
func appendPosition(buf []byte, vals []any) ([]byte, error) {
	buf = append(buf, positionPrefix...)
	buf = append(buf, '[')
	for i, v := range vals {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = appendValue(buf, v); err != nil {
			return buf, err
		}
	}
	return append(buf, ']'), nil
}

func appendValue(buf []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return buf, errNullCursor
	case []byte:
		if utf8.Valid(v) {
			return appendJSONString(buf, v), nil
		}
		return appendHex(buf, "hex", v), nil
	case string:
		if utf8.ValidString(v) {
			return appendJSONString(buf, v), nil
		}
		return appendHex(buf, "text_hex", v), nil
	case int64:
		return strconv.AppendInt(buf, v, 10), nil
	case int32:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case uint64:
		return strconv.AppendUint(buf, v, 10), nil
	case float64:
		return appendFloat(buf, v, 64)
	case float32:
		return appendFloat(buf, float64(v), 32)
	case bool:
		if v {
			return append(buf, '1'), nil
		}
		return append(buf, '0'), nil
	case time.Time:
		return appendJSONString(buf, wallClock(v)), nil
	default:
		return buf, fmt.Errorf("cursor value of type %T is not supported", v)
	}
}

func appendFloat(buf []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return buf, errors.New("cursor value is not a finite number")
	}
	start := len(buf)
	buf = strconv.AppendFloat(buf, f, 'g', -1, bits)
	// Keep floats apart from integers: 3 is written 3.0.
	if !strings.ContainsAny(string(buf[start:]), ".eE") {
		buf = append(buf, ".0"...)
	}
	return buf, nil
}

// appendJSONString appends s as a JSON string; s is valid UTF-8.
func appendJSONString[T string | []byte](buf []byte, s T) []byte {
	const digits = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', digits[c>>4], digits[c&0xf])
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"')
}

func appendHex[T string | []byte](buf []byte, tag string, v T) []byte {
	buf = append(buf, `{"`...)
	buf = append(buf, tag...)
	buf = append(buf, `":"`...)
	buf = hex.AppendEncode(buf, []byte(v))
	return append(buf, `"}`...)
}

// decodePosition returns the n cursor values of p, or nil for the zero
// position. Its errors never quote p, which may hold personal data.
func decodePosition(p connectors.Position, n int) ([]any, error) {
	if p == "" {
		return nil, nil
	}
	body, ok := strings.CutPrefix(string(p), positionPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: unknown encoding (want prefix %q)", errPosition, positionPrefix)
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var raw []any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: not a JSON array", errPosition)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data", errPosition)
	}
	if len(raw) != n {
		return nil, fmt.Errorf("%w: %d values, the stream's cursor has %d columns", errPosition, len(raw), n)
	}
	vals := make([]any, n)
	for i, r := range raw {
		v, err := decodeValue(r)
		if err != nil {
			return nil, fmt.Errorf("%w: value %d: %w", errPosition, i+1, err)
		}
		vals[i] = v
	}
	return vals, nil
}

func decodeValue(r any) (any, error) {
	switch r := r.(type) {
	case string:
		return r, nil
	case json.Number:
		if !strings.ContainsAny(string(r), ".eE") {
			if i, err := r.Int64(); err == nil {
				return i, nil
			}
			if u, err := strconv.ParseUint(string(r), 10, 64); err == nil {
				return u, nil
			}
		}
		f, err := r.Float64()
		if err != nil {
			return nil, errors.New("number out of range")
		}
		return f, nil
	case map[string]any:
		if len(r) != 1 {
			return nil, errors.New("object must have one key")
		}
		for k, v := range r {
			s, ok := v.(string)
			if !ok {
				return nil, errors.New("hex value is not a string")
			}
			b, err := hex.DecodeString(s)
			if err != nil {
				return nil, errors.New("bad hex")
			}
			switch k {
			case "hex":
				return b, nil
			case "text_hex":
				return string(b), nil
			}
			return nil, errors.New("unknown object key")
		}
	}
	return nil, fmt.Errorf("unexpected %T", r)
}
