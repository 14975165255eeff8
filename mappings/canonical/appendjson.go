package canonical

import "unicode/utf8"

// AppendString appends s to dst as a quoted JSON string and returns the
// extended buffer. The output is byte for byte what encoding/json.Marshal
// writes for s: '"' and '\' escaped with a backslash; \b \f \n \r \t by
// name and other control characters as \u00XX; '<', '>' and '&' as \u003c
// \u003e \u0026; U+2028 and U+2029 as \u2028 \u2029; and each byte of
// invalid UTF-8 as \ufffd.
//
// It allocates only when dst lacks capacity, so a caller that reuses its
// buffer encodes without allocating. It is safe for concurrent use.
func AppendString(dst []byte, s string) []byte {
	return appendString(dst, s, true)
}

// AppendBytesString is [AppendString] for a byte slice, such as a column
// value read as raw bytes. It does not retain b.
func AppendBytesString(dst []byte, b []byte) []byte {
	return appendString(dst, b, true)
}

const hexDigits = "0123456789abcdef"

// safeASCII[b] is true for the ASCII bytes written as they are; htmlSafe
// also excludes '<', '>' and '&'.
var safeASCII, htmlSafeASCII = func() (safe, html [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		safe[b] = b != '"' && b != '\\'
		html[b] = safe[b] && b != '<' && b != '>' && b != '&'
	}
	return safe, html
}()

// appendString is AppendString with HTML escaping optional: the schema
// files are written without it, to stay readable.
func appendString[T string | []byte](dst []byte, s T, escapeHTML bool) []byte {
	safe := &safeASCII
	if escapeHTML {
		safe = &htmlSafeASCII
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		// Fast path for the common three-byte runes (CJK is E4-E9): lead
		// bytes E1-EC and EE-EF take any two continuation bytes, and none of
		// them starts U+2028 or U+2029 (E2 80 A8/A9 are caught below).
		if c >= 0xE1 && c <= 0xEF && c != 0xE2 && c != 0xED && i+2 < len(s) &&
			s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80 {
			i += 3
			continue
		}
		// Converting at most utf8.UTFMax bytes keeps the conversion on
		// the stack, as encoding/json does.
		r, size := utf8.DecodeRuneInString(string(s[i : i+min(len(s)-i, utf8.UTFMax)]))
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
