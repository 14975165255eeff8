package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/yamlfile"
)

func testCmd() *cobra.Command {
	var (
		verbose bool
		runExpr string
	)
	cmd := &cobra.Command{
		Use:   "test [PATH…]",
		Short: "Run the fixtures (tests:) of mapping files",
		Long: `Runs every fixture in the mapping files under the given files or
directories (default: the current directory) and ends with the line
"N passed, N failed". Fixtures run under the fixed test key, so they can
state person_key values. Exit status 1 on any failure or invalid file.

With -v every fixture is listed with what the mapping made of its row: the
canonical record (the envelope's data, as indented JSON: identity appears
only as person_key and id_masked), the rejection (field, code, message) or
"filtered out". --run REGEXP runs only the fixtures whose name matches the
regular expression (Go syntax, unanchored); a selection that matches no
fixture is an error, so a typo cannot pass silently.`,
		Example: `  hpgate test mappings/
  hpgate test -v --run 'rejected$' mappings/370282-jimo/registry-person.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var sel *regexp.Regexp
			if runExpr != "" {
				var err error
				if sel, err = regexp.Compile(runExpr); err != nil {
					return fmt.Errorf("--run: %w", err)
				}
			}
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
					if sel != nil && !sel.MatchString(r.Fixture.Name) {
						continue
					}
					status := "ok  "
					if r.Passed() {
						passed++
					} else {
						failed++
						status = "FAIL"
					}
					if !r.Passed() || verbose {
						fmt.Fprintf(out, "%s %s:%d %s / %s\n", status, r.File, r.Fixture.Line, r.Mapping, r.Fixture.Name)
					}
					for _, p := range r.Problems {
						fmt.Fprintf(out, "     %s\n", p)
					}
					if verbose {
						printFixtureOutput(out, &r)
					}
				}
			}
			fmt.Fprintf(out, "%d passed, %d failed\n", passed, failed)
			if sel != nil && passed+failed == 0 && invalid == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "no fixture name matches --run %q\n", runExpr)
				return exitError(1)
			}
			if failed > 0 || invalid > 0 {
				return exitError(1)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list every fixture with the record or rejection it produced")
	cmd.Flags().StringVar(&runExpr, "run", "", "run only the fixtures whose name matches this regular expression")
	return cmd
}

// printFixtureOutput shows, indented under the fixture's line, what the
// mapping made of the fixture row. The record's data holds identity only as
// person_key and id_masked; rejection texts hold no personal data.
func printFixtureOutput(w io.Writer, r *mappings.FixtureResult) {
	const indent = "     "
	switch {
	case r.Data != nil:
		var buf bytes.Buffer
		if err := json.Indent(&buf, r.Data, indent, "  "); err != nil {
			fmt.Fprintf(w, "%s%s record: not JSON: %v\n", indent, r.Op, err)
			return
		}
		fmt.Fprintf(w, "%s%s record: %s\n", indent, r.Op, buf.Bytes())
	case r.Rejection != nil:
		field := r.Rejection.Field
		if field == "" {
			field = "(row)"
		}
		fmt.Fprintf(w, "%srejected: field %s, code %s: %s\n", indent, field, r.Rejection.Code, r.Rejection.Message)
	case r.Filtered:
		fmt.Fprintf(w, "%sfiltered out\n", indent)
	}
}
