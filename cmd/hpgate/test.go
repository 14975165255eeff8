package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/yamlfile"
)

func testCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test [PATH…]",
		Short: "Run the fixtures (tests:) of mapping files",
		Long: `Runs every fixture in the mapping files under the given files or
directories (default: the current directory) and ends with the line
"N passed, N failed". Fixtures run under the fixed test key, so they can
state person_key values. Exit status 1 on any failure or invalid file.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			out := cmd.OutOrStdout()
			ms, err := mappings.Load(mappings.Options{}, args...)
			var perrs yamlfile.Errors
			if err != nil && !errors.As(err, &perrs) {
				return err
			}
			invalid := 0
			for _, e := range perrs {
				fmt.Fprintln(cmd.ErrOrStderr(), e)
				invalid++
			}
			passed, failed := 0, 0
			for _, m := range ms {
				for _, r := range m.RunFixtures() {
					if r.Passed() {
						passed++
						if verbose {
							fmt.Fprintf(out, "ok   %s:%d %s / %s\n", r.File, r.Fixture.Line, r.Mapping, r.Fixture.Name)
						}
						continue
					}
					failed++
					fmt.Fprintf(out, "FAIL %s:%d %s / %s\n", r.File, r.Fixture.Line, r.Mapping, r.Fixture.Name)
					for _, p := range r.Problems {
						fmt.Fprintf(out, "     %s\n", p)
					}
				}
			}
			fmt.Fprintf(out, "%d passed, %d failed\n", passed, failed)
			if failed > 0 || invalid > 0 {
				return exitError(1)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing fixtures too")
	return cmd
}
