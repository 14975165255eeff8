// Package normalize turns the raw field values that legacy county systems
// hand us (resident ID numbers, dates, money amounts and text in UTF-8 or
// GBK) into canonical Go values.
//
// Every function is pure: no I/O, no logging, no global state beyond
// read-only tables, and all are safe for concurrent use. The hot paths
// (an already normalised ID number, the common date layouts, a plain money
// string, clean text) do not allocate, so the mapper can call them once per
// field of every row.
//
// Failures are *Error values. Their Code is a stable snake_case word used
// as a metric label and in dead-letter messages; their Msg describes the
// problem (a length, the position of a bad character) but never contains
// the input value, which may be personal data. Callers that need the value
// for diagnosis must mask it themselves (see package pii).
package normalize
