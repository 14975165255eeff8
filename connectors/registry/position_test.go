package registry

import (
	"errors"
	"strings"
	"testing"

	"github.com/hpgate/hpgate/connectors"
)

func TestPositionRoundTrip(t *testing.T) {
	for _, p := range []position{
		{},
		{ID: "P1"},
		{TS: "2026-12-03T09:15:02.120+08:00", ID: "P370282101201001201"},
		{TS: "2026-12-03T09:05:02.120+08:00", HWTS: "2026-12-03T09:15:02.120+08:00", HWID: "P9", Swept: "2026-12-03T09:16:00.000+08:00"},
	} {
		got, err := decodePosition(p.encode())
		if err != nil || got != p {
			t.Errorf("%+v: decoded %+v, %v", p, got, err)
		}
	}
	if got, err := decodePosition(""); err != nil || got != (position{}) {
		t.Errorf("the zero position: %+v, %v", got, err)
	}
}

// TestPositionByHand reads what `hpgate checkpoint set NAME TS ID` writes.
func TestPositionByHand(t *testing.T) {
	got, err := decodePosition(`k1:["2026-12-03T09:15:02.120+08:00","P1"]`)
	if err != nil || got != (position{TS: "2026-12-03T09:15:02.120+08:00", ID: "P1"}) {
		t.Errorf("got %+v, %v", got, err)
	}
	if got, err := decodePosition(`k1:["P1"]`); err != nil || got != (position{ID: "P1"}) {
		t.Errorf("snapshot: got %+v, %v", got, err)
	}
	for _, bad := range []connectors.Position{
		`k1:["20190301","P1"]`, `k1:[1,2]`, `k1:["a","b","c"]`, `r1:{"ts":"yesterday"}`, `r1:{"hw_ts":"2026-12-03T09:15:02Z"}`,
		`r1:{"nope":1}`, `x9:abc`, `r1:["370282194902030311"]`,
	} {
		_, err := decodePosition(bad)
		if !errors.Is(err, errPosition) {
			t.Errorf("%s: err = %v", bad, err)
		}
		if err != nil && (len(bad) > 8 && (strings.Contains(err.Error(), "370282194902030311") || strings.Contains(err.Error(), "yesterday"))) {
			t.Errorf("%s: the error quotes the position: %v", bad, err)
		}
	}
}

func TestFlatten(t *testing.T) {
	got := Flatten(map[string]any{
		"id": "P1", "n": nil, "a": []any{"x", map[string]any{"k": true}},
		"household": map[string]any{"id": "H1", "head": map[string]any{"id_number": "X"}},
		"flags":     map[string]any{},
	})
	want := map[string]any{"id": "P1", "n": nil, "a": `["x",{"k":true}]`, "household.id": "H1", "household.head.id_number": "X"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
}
