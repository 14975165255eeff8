package mappings

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestAppendRFC3339MatchesStdlib(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("CST", 8*3600), time.FixedZone("x", -(3*3600 + 30*60)), time.FixedZone("y", 5*3600+45*60)}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		sec := r.Int64N(253402300799) - 62135596800 // years 1..9999
		tm := time.Unix(sec, int64(r.IntN(1e9))).In(zones[i%len(zones)])
		if got, want := string(appendRFC3339(nil, tm)), tm.Format(time.RFC3339); got != want {
			t.Fatalf("%v: got %s, want %s", tm, got, want)
		}
		if got, want := string(appendDate(nil, tm)), tm.Format(time.DateOnly); got != want {
			t.Fatalf("%v: got %s, want %s", tm, got, want)
		}
	}
}
