package normalize

// TextString is Text for a string already in hand: it trims padding and
// checks UTF-8 (or decodes GBK) without boxing the value into an interface,
// so the mapper's hot path allocates nothing for clean text.
func TextString(s string, enc Encoding) (string, error) {
	switch enc {
	case UTF8:
		return textUTF8(s)
	case GBK:
		return decodeGBK(s)
	}
	return "", newError(CodeBadEncoding, "unknown encoding")
}
