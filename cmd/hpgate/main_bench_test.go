package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/hpgate/hpgate/connectors/connectortest"
)

// TestMain lets `hpgate bench`, run by a test, start its children (the
// broker and the measured runs) from the test binary: they come back here
// with benchChildEnv set and run their command line instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv(benchChildEnv) != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	// RunMain also stops the private MariaDB the end-to-end tests start.
	os.Exit(connectortest.RunMain(m))
}
