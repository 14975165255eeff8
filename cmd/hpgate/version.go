package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func buildInfo() (ver, revision, goVersion string) {
	ver, revision = version, "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ver, revision, "unknown"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			revision = s.Value
		}
	}
	if ver == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		ver = bi.Main.Version
	}
	return ver, revision, bi.GoVersion
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, r, g := buildInfo()
			fmt.Fprintf(cmd.OutOrStdout(), "hpgate %s (revision %s, %s)\n", v, r, g)
			return nil
		},
	}
}
