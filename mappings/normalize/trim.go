package normalize

import (
	"unicode"
	"unicode/utf8"
)

// raw is the set of input representations the parsers work on directly, so
// that []byte values (e.g. DECIMAL columns from MySQL) are parsed without
// being copied into a string.
type raw interface{ ~string | ~[]byte }

// isPad reports whether r is padding that legacy systems leave around a
// value: Unicode white space (which includes U+3000 IDEOGRAPHIC SPACE and
// U+00A0), NUL from fixed-width CHAR columns, and a byte order mark.
func isPad(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiPad[r]
	}
	return r == '\uFEFF' || unicode.IsSpace(r)
}

// asciiPad marks NUL and ASCII white space.
var asciiPad = [utf8.RuneSelf]bool{0: true, '\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// decodeBMP decodes one rune of at most three bytes from the start of s.
// Anything else (including four-byte sequences, which are never padding)
// yields utf8.RuneError with size 1. Overlong forms and surrogates are
// rejected so that invalid bytes are never trimmed away.
func decodeBMP[T raw](s T) (rune, int) {
	c0 := s[0]
	switch {
	case c0 < utf8.RuneSelf:
		return rune(c0), 1
	case c0&0xE0 == 0xC0 && len(s) >= 2 && s[1]&0xC0 == 0x80:
		r := rune(c0&0x1F)<<6 | rune(s[1]&0x3F)
		if r >= 0x80 {
			return r, 2
		}
	case c0&0xF0 == 0xE0 && len(s) >= 3 && s[1]&0xC0 == 0x80 && s[2]&0xC0 == 0x80:
		r := rune(c0&0x0F)<<12 | rune(s[1]&0x3F)<<6 | rune(s[2]&0x3F)
		if r >= 0x800 && (r < 0xD800 || r > 0xDFFF) {
			return r, 3
		}
	}
	return utf8.RuneError, 1
}

// trimPad removes padding (see isPad) from both ends of s. It returns a
// subslice of s and never allocates.
func trimPad[T raw](s T) T {
	i := 0
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if !asciiPad[c] {
				break
			}
			i++
			continue
		}
		r, n := decodeBMP(s[i:])
		if n == 1 || !isPad(r) {
			break
		}
		i += n
	}
	j := len(s)
	for j > i {
		if c := s[j-1]; c < utf8.RuneSelf {
			if !asciiPad[c] {
				break
			}
			j--
			continue
		}
		n := lastBMP(s[i:j])
		if n == 0 {
			break
		}
		if r, _ := decodeBMP(s[j-n : j]); !isPad(r) {
			break
		}
		j -= n
	}
	return s[i:j]
}

// lastBMP returns the size of the valid two- or three-byte sequence ending
// s, or 0 if there is none.
func lastBMP[T raw](s T) int {
	for n := 2; n <= 3 && n <= len(s); n++ {
		if r, size := decodeBMP(s[len(s)-n:]); size == n && r != utf8.RuneError {
			return n
		}
	}
	return 0
}

// trimASCIIPad removes NUL and ASCII white space from both ends of s. It is
// safe on GBK and GB18030 bytes: no byte of a multi-byte sequence is below
// 0x30.
func trimASCIIPad[T raw](s T) T {
	i, j := 0, len(s)
	for i < j && s[i] < utf8.RuneSelf && asciiPad[s[i]] {
		i++
	}
	for j > i && s[j-1] < utf8.RuneSelf && asciiPad[s[j-1]] {
		j--
	}
	return s[i:j]
}
