package pipeline

import (
	"testing"
	"time"
)

func TestCatchupEstimate(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		lag, covered, elapsed time.Duration
		want                  time.Duration
	}{
		{"reads an hour of source a second, ten hours behind", 10 * time.Hour, time.Hour, time.Second, 10 * time.Hour / 3599},
		{"reads as fast as the source moves: not gaining", time.Hour, time.Minute, time.Minute, -time.Second},
		{"nothing covered yet", time.Hour, 0, time.Second, -time.Second},
		{"twice real time: the lag again", 2 * time.Hour, 2 * time.Minute, time.Minute, 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := estimateRemaining(tc.lag, tc.covered, tc.elapsed)
			if d := got - tc.want; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("estimateRemaining(%v, %v, %v) = %v, want %v", tc.lag, tc.covered, tc.elapsed, got, tc.want)
			}
		})
	}
}
