package connectortest

import (
	"testing"
	"time"
)

// WaitTimeout bounds WaitFor.
const WaitTimeout = 20 * time.Second

// WaitFor polls cond every 20 ms and fails the test if it does not hold
// within WaitTimeout; what names the awaited state in the failure.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
