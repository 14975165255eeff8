// Command hpgate is the health-poverty data-exchange gateway: it maps the
// tables of county legacy systems into the canonical schema and streams
// them over Kafka. Run `hpgate help` for the commands.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError carries an exit status out of a command that already printed
// what went wrong.
type exitError int

func (e exitError) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// run executes one command line and returns the exit status. Tests call it
// in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "hpgate",
		Short:         "Health-poverty data-exchange gateway: legacy tables → canonical schema → Kafka",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(runCmd(), demoCmd(), previewCmd(), checkpointCmd(), checkCmd(), testCmd(), versionCmd(), benchCmd(), benchBrokerCmd(), benchRunCmd(), benchBaselineCmd())
	root.AddCommand(registrySimCmd())
	root.AddCommand(reconcileCmd(), writebackCmd())
	root.AddCommand(identityCmd())
	root.AddCommand(auditCmd(), dlqCmd(), replayCmd())
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if code, ok := err.(exitError); ok {
		return int(code)
	}
	root.PrintErrln("hpgate:", err)
	return 2
}
