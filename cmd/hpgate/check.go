package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/yamlfile"
)

func checkCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "check [-c CONFIG] [PATH…]",
		Short: "Validate the config file and mapping files",
		Long: `Validates mapping files (and, with -c, the config file and the mappings
it names) without touching any source or broker. Every problem is printed
as path:line:col: message; exit status 1 when there is any.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if configPath == "" && len(args) == 0 {
				args = []string{"."}
			}
			errs := checkFiles(configPath, args)
			for _, e := range errs {
				fmt.Fprintln(cmd.OutOrStdout(), e)
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
	return cmd
}

// checkFiles validates the config (when given) and the mapping files.
func checkFiles(configPath string, paths []string) yamlfile.Errors {
	var errs yamlfile.Errors
	if configPath != "" {
		errs = append(errs, checkConfig(configPath, paths)...)
		return errs
	}
	if _, err := mappings.Load(mappings.Options{}, paths...); err != nil {
		var perrs yamlfile.Errors
		if errors.As(err, &perrs) {
			return perrs
		}
		return yamlfile.Errors{{File: paths[0], Msg: err.Error()}}
	}
	return nil
}
