package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hpgate/hpgate/connectors"
)

// positionPrefix versions the position encoding: "r1:" then a JSON object,
//
//	r1:{"ts":"2026-12-03T10:00:00.000+08:00","id":"P37028210120100120"}
//
// ts and id are the last record's updated_at (the server's exact text) and
// id; a snapshot position has only id. While a look-back re-read runs,
// "hw_ts"/"hw_id" hold the position it returns to, and "swept" is the
// server time at which the latest re-read began.
const positionPrefix = "r1:"

var errPosition = errors.New("malformed position")

// handPrefix is the layout `hpgate checkpoint set` writes for every source
// (sqlsource.PositionOf): a JSON array of the cursor values, here
// ["<updated_at>","<id>"], or ["<id>"] in snapshot mode.
const handPrefix = "k1:"

func handPosition(body string) (position, error) {
	var vals []string
	if err := json.Unmarshal([]byte(body), &vals); err != nil {
		return position{}, fmt.Errorf("%w: want [\"<updated_at>\", \"<id>\"] text values", errPosition)
	}
	switch len(vals) {
	case 1:
		return position{ID: vals[0]}, nil
	case 2:
		if _, err := parseTime(vals[0]); err != nil {
			return position{}, fmt.Errorf("%w: updated_at is not an RFC 3339 time", errPosition)
		}
		return position{TS: vals[0], ID: vals[1]}, nil
	}
	return position{}, fmt.Errorf("%w: %d values, want updated_at and id", errPosition, len(vals))
}

type position struct {
	TS    string `json:"ts,omitempty"`
	ID    string `json:"id,omitempty"`
	HWTS  string `json:"hw_ts,omitempty"`
	HWID  string `json:"hw_id,omitempty"`
	Swept string `json:"swept,omitempty"`
}

// sweeping reports whether a look-back re-read is under way.
func (p position) sweeping() bool { return p.HWTS != "" }

func (p position) encode() connectors.Position {
	b, _ := json.Marshal(p) // strings only: cannot fail
	return connectors.Position(positionPrefix + string(b))
}

// decodePosition reads a position; its errors never quote it (it may hold
// personal data).
func decodePosition(p connectors.Position) (position, error) {
	var out position
	if p == "" {
		return out, nil
	}
	if vals, ok := strings.CutPrefix(string(p), handPrefix); ok {
		return handPosition(vals)
	}
	body, ok := strings.CutPrefix(string(p), positionPrefix)
	if !ok {
		return out, fmt.Errorf("%w: unknown encoding (want prefix %q)", errPosition, positionPrefix)
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return position{}, fmt.Errorf("%w: not a registry position object", errPosition)
	}
	for _, ts := range []string{out.TS, out.HWTS, out.Swept} {
		if ts == "" {
			continue
		}
		if _, err := parseTime(ts); err != nil {
			return position{}, fmt.Errorf("%w: bad timestamp", errPosition)
		}
	}
	if (out.HWTS == "") != (out.HWID == "") {
		return position{}, fmt.Errorf("%w: incomplete look-back state", errPosition)
	}
	return out, nil
}

// TimeLayout is how the contract writes times: RFC 3339 with milliseconds
// and the zone offset.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// key is a record's place in cursor order.
type key struct {
	ts time.Time
	id string
}

// compare orders keys by time, then id (byte order, as the server does).
func (k key) compare(o key) int {
	if c := k.ts.Compare(o.ts); c != 0 {
		return c
	}
	return strings.Compare(k.id, o.id)
}
