package normalize

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Encoding is the character encoding of a source's text columns.
type Encoding uint8

// Encodings.
const (
	UTF8 Encoding = iota
	// GBK text is decoded with GB18030, a superset of GBK and GB2312
	// (golang.org/x/text/encoding/simplifiedchinese).
	GBK
)

// String returns "utf8" or "gbk", names that ParseEncoding accepts.
func (e Encoding) String() string {
	switch e {
	case UTF8:
		return "utf8"
	case GBK:
		return "gbk"
	}
	return "unknown"
}

// ParseEncoding parses an encoding name from configuration: "utf8" or
// "utf-8" give UTF8, "gbk" or "gb18030" give GBK. Case is ignored. Unlike
// the other errors of this package, its error quotes the input, which is a
// configuration value, not data.
func ParseEncoding(s string) (Encoding, error) {
	switch strings.ToLower(s) {
	case "utf8", "utf-8":
		return UTF8, nil
	case "gbk", "gb18030":
		return GBK, nil
	}
	return 0, newError(CodeBadEncoding, "unknown encoding "+strconv.Quote(s)+", want utf8 or gbk")
}

// Text normalises a text value.
//
// It trims padding from both ends: ASCII and Unicode white space (including
// U+3000 IDEOGRAPHIC SPACE), NUL from fixed-width CHAR columns and a byte
// order mark. With GBK, a []byte or a string holding raw GBK bytes (as read
// from a latin1 or binary column) is decoded to UTF-8 with GB18030, a
// superset of GBK; bytes that are not valid GB18030 give an *Error with
// code bad_encoding. With UTF8, input that is not valid UTF-8 gives
// bad_encoding. Bytes are never silently replaced.
//
// v may also be a fmt.Stringer, whose result is taken to be UTF-8 text
// already, or a Go integer, which is formatted in decimal. Other types give
// unsupported_type. Text does not allocate for a valid, already trimmed
// string.
func Text(v any, enc Encoding) (string, error) {
	if enc > GBK {
		return "", newError(CodeBadEncoding, "unknown encoding")
	}
	switch x := v.(type) {
	case string:
		if enc == GBK {
			return decodeGBK(x)
		}
		return textUTF8(x)
	case []byte:
		if enc == GBK {
			return decodeGBK(x)
		}
		if b := trimPad(x); utf8.Valid(b) {
			return string(b), nil
		}
		return textUTF8(string(x)) // reports the offset
	case fmt.Stringer:
		return textUTF8(x.String())
	case int:
		return strconv.Itoa(x), nil
	case int8:
		return strconv.FormatInt(int64(x), 10), nil
	case int16:
		return strconv.FormatInt(int64(x), 10), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	}
	return "", typeError(v)
}

// textUTF8 trims s and checks that it is valid UTF-8. The error gives the
// byte offset of the first invalid byte in the trimmed text.
func textUTF8(s string) (string, error) {
	s = trimPad(s)
	if utf8.ValidString(s) {
		return s, nil
	}
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		i += n
	}
	return "", newError(CodeBadEncoding, "invalid UTF-8 at byte offset "+strconv.Itoa(i))
}

// gb18030FFFD is the GB18030 encoding of U+FFFD, the one valid input that
// decodes to the replacement character.
const gb18030FFFD = "\x84\x31\xa4\x37"

// decodeGBK trims and decodes raw GB18030 bytes.
func decodeGBK[T raw](s T) (string, error) {
	// ASCII padding cannot be part of a multi-byte sequence, so it can be
	// removed before decoding; decoded padding (U+3000 is A1 A1) after.
	s = trimASCIIPad(s)
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return string(s), nil // no allocation for a string
	}
	in := string(s)
	out, err := simplifiedchinese.GB18030.NewDecoder().String(in)
	if err != nil || strings.Count(out, "\uFFFD") > strings.Count(in, gb18030FFFD) {
		return "", newError(CodeBadEncoding, "invalid GBK byte sequence")
	}
	return trimPad(out), nil
}
