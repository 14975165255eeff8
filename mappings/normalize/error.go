package normalize

import "reflect"

// Error codes carried by *Error. They are stable: they are used as metric
// label values and in dead-letter messages.
const (
	CodeBadIDFormat     = "bad_id_format"
	CodeBadCheckDigit   = "bad_check_digit"
	CodeBadBirthDate    = "bad_birth_date"
	CodeUnparseableDate = "unparseable_date"
	CodeBadMoney        = "bad_money"
	CodeBadEncoding     = "bad_encoding"
	CodeUnsupportedType = "unsupported_type"
)

// Error is a normalisation failure. Code is a stable snake_case word (one of
// the Code... constants) used as a metric label and in DLQ messages. Msg
// never contains the input value, which may hold personal data; it may
// describe it (its length, the position of a bad character).
type Error struct{ Code, Msg string }

// Error returns Code + ": " + Msg.
func (e *Error) Error() string { return e.Code + ": " + e.Msg }

func newError(code, msg string) *Error { return &Error{Code: code, Msg: msg} }

// typeError reports a Go type the normaliser does not accept. Only the type
// name is reported, never the value.
func typeError(v any) *Error {
	if v == nil {
		return newError(CodeUnsupportedType, "nil value")
	}
	// reflect.TypeOf, unlike fmt's %T, does not make v escape, so callers
	// can pass a string without boxing it on the heap.
	return newError(CodeUnsupportedType, "unsupported type "+reflect.TypeOf(v).String())
}
