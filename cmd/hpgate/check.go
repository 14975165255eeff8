package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/yamlfile"
	"github.com/hpgate/hpgate/pipeline/config"
	"github.com/hpgate/hpgate/pipeline/identity"
	"github.com/hpgate/hpgate/pipeline/writeback"
)

func checkCmd() *cobra.Command {
	var configPath string
	var live bool
	cmd := &cobra.Command{
		Use:   "check [-c CONFIG [--live]] [PATH…]",
		Short: "Validate the config file, mapping, writeback and policy files",
		Long: `Validates mapping files, writeback files (kind: writeback) and county
policy files (kind: policy, with their disease and annual-cap tables) (and,
with -c, the config file and the files it names: mappings.paths, and
identity.policy_paths when set) without touching any source or broker. Every problem is printed
as path:line:col: message; exit status 1 when there is any. Warnings
(path:line:col: warning: …) are printed too but do not fail the check.

A mapping's custom query is checked as SQL: one SELECT (or WITH … SELECT),
no bind placeholders, no trailing ';', no ORDER BY, LIMIT or FETCH at its
top level, and the cursor and mapped columns in its select list.

With --live (and -c), every mapping's source is opened and its first page
is run (at most one row, read and discarded), which reports missing tables,
columns and privileges, and the indexes of each table are read: a cursor
that no index serves is a warning naming the CREATE INDEX to add.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if live && configPath == "" {
				return errors.New("--live needs the config file (-c): it names the sources")
			}
			if configPath == "" && len(args) == 0 {
				args = []string{"."}
			}
			var errs, warns yamlfile.Errors
			if configPath != "" {
				errs, warns = checkConfig(cmd, configPath, args, live)
			} else {
				errs, warns = checkFiles(args)
			}
			// The mapping and writeback loaders read the same files: a
			// file that is not YAML is reported by both.
			seen := map[string]bool{}
			errs = slices.DeleteFunc(errs, func(e *yamlfile.PosError) bool {
				dup := seen[e.Error()]
				seen[e.Error()] = true
				return dup
			})
			for _, e := range errs {
				fmt.Fprintln(cmd.OutOrStdout(), e)
			}
			for _, w := range warns {
				fmt.Fprintln(cmd.OutOrStdout(), w)
			}
			if len(errs) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d problem(s)\n", len(errs))
				return exitError(1)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "config file (also checks the mappings it names)")
	cmd.Flags().BoolVar(&live, "live", false, "also open every mapping's source and try its first page and indexes (needs -c)")
	return cmd
}

// checkFiles validates mapping files without a config.
func checkFiles(paths []string) (errs, warns yamlfile.Errors) {
	wbErrs := append(checkWritebacks(paths, nil, ""), checkPolicies(paths, 0)...)
	ms, err := mappings.Load(mappings.Options{}, paths...)
	if err != nil {
		var perrs yamlfile.Errors
		if errors.As(err, &perrs) {
			return append(perrs, wbErrs...), nil
		}
		return yamlfile.Errors{{File: paths[0], Msg: err.Error()}}, nil
	}
	errs = wbErrs
	for _, m := range ms {
		e, w := placeFindings(m, sqlsource.CheckStream("", m.Stream))
		errs, warns = append(errs, e...), append(warns, w...)
	}
	return errs, warns
}

// checkWritebacks validates the writeback files (kind: writeback) under
// paths with the loader of `hpgate writeback` and, given the config, their
// targets (a source of the config on a driver writeback can write).
func checkWritebacks(paths []string, cfg *config.Config, configPath string) yamlfile.Errors {
	wbs, err := writeback.Load(paths...)
	if err != nil {
		var perrs yamlfile.Errors
		if errors.As(err, &perrs) {
			return perrs
		}
		return yamlfile.Errors{{File: paths[0], Msg: err.Error()}}
	}
	if cfg == nil {
		return nil
	}
	return writeback.CheckTargets(wbs, configPath, sourceDriver(cfg))
}

// checkPolicies validates the county policy files (kind: policy) under
// paths with the loader of `hpgate identity`; grace is the config's
// default grace period (0 for none).
func checkPolicies(paths []string, grace time.Duration) yamlfile.Errors {
	if _, err := identity.LoadPolicies(grace, paths...); err != nil {
		var perrs yamlfile.Errors
		if errors.As(err, &perrs) {
			return perrs
		}
		return yamlfile.Errors{{File: strings.Join(paths, ", "), Msg: err.Error()}}
	}
	return nil
}

// sourceDriver returns the driver of a source instance of cfg.
func sourceDriver(cfg *config.Config) func(source string) (string, bool) {
	return func(source string) (string, bool) {
		if s, ok := cfg.Sources[source]; ok && s != nil {
			return s.Driver, true
		}
		return "", false
	}
}

// placeFindings places a check's findings on a mapping at its query key
// (or table key, or source key), warnings marked as such.
func placeFindings(m *mappings.Mapping, findings []error) (errs, warns yamlfile.Errors) {
	if len(findings) == 0 {
		return nil, nil
	}
	line, col := m.SourceLine, m.SourceCol
	if doc, perrs := yamlfile.ReadFile(m.File); len(perrs) == 0 {
		for _, key := range []string{"query", "table"} {
			if n := doc.LookupKey(key); n != nil && n.Value == key {
				line, col = n.Line, n.Column
				break
			}
		}
	}
	for _, f := range findings {
		var w *sqlsource.Warning
		if errors.As(f, &w) {
			warns = append(warns, &yamlfile.PosError{File: m.File, Line: line, Col: col, Msg: "warning: mapping " + m.Name + ": " + f.Error()})
			continue
		}
		errs = append(errs, &yamlfile.PosError{File: m.File, Line: line, Col: col, Msg: "mapping " + m.Name + ": " + f.Error()})
	}
	return errs, warns
}
