package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
	"github.com/hpgate/hpgate/pipeline/config"
	"github.com/hpgate/hpgate/pipeline/trail"
)

func checkpointCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "checkpoint -c CONFIG list|reset NAME|set NAME VALUE…",
		Short: "List, reset or set mapping checkpoints",
		Long: `Acts through the running daemon's admin endpoint when one runs (it owns
the state store), or on the state store directly when none does.

  list              every checkpoint: display position, rows delivered, time
  reset NAME        forget NAME's position: it reads its source from the start
  set NAME VALUE…   resume NAME after the given cursor values: the timestamp,
                    then each key column, as the source stores them, e.g.
                    set jimo-ins-settlement 20190301100000 JS0001

A running daemon changes only a stopped mapping's checkpoint (for example
one stopped because its cursor changed) and starts it again.`,
	}
	cmd.PersistentFlags().StringVarP(&configPath, "config", "c", "", "config file (required)")
	_ = cmd.MarkPersistentFlagRequired("config")
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List checkpoints", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadFile(configPath)
			if err != nil {
				return reportLoad(cmd.ErrOrStderr(), err)
			}
			var list []adminCheckpoint
			if c, ok := dialAdmin(cmd.Context(), cfg); ok {
				err = c.do(cmd.Context(), http.MethodGet, "/admin/checkpoints", nil, &list)
			} else {
				err = withStore(cfg, func(s *checkpoint.Store) error {
					list, err = listCheckpoints(s)
					return err
				})
			}
			if err != nil {
				return err
			}
			printCheckpoints(cmd.OutOrStdout(), list)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "reset NAME", Short: "Forget a mapping's position", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.LoadFile(configPath)
			if err != nil {
				return reportLoad(cmd.ErrOrStderr(), err)
			}
			name := args[0]
			if c, ok := dialAdmin(cmd.Context(), cfg); ok {
				err = c.do(cmd.Context(), http.MethodPost, "/admin/checkpoints/"+name+"/reset", nil, nil)
			} else {
				err = withStore(cfg, func(s *checkpoint.Store) error {
					err := s.Reset(name)
					recordDirect(s, trail.Entry{Action: canonical.AuditCheckpointReset, Mapping: name, Err: err})
					return err
				})
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: checkpoint reset; it reads from the start\n", name)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "set NAME TIMESTAMP [KEY…]", Short: "Resume a mapping after given cursor values", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.LoadFile(configPath)
			if err != nil {
				return reportLoad(cmd.ErrOrStderr(), err)
			}
			key, err := cfg.LoadKey()
			if err != nil {
				return err
			}
			m, err := findMapping(cfg, args[0])
			if err != nil {
				return err
			}
			cols := cursorColumns(m.Stream.TimestampColumn, m.Stream.KeyColumns)
			if len(args)-1 != len(cols) {
				return fmt.Errorf("%s's cursor is %v: give %d values", m.Name, cols, len(cols))
			}
			vals := make([]any, len(cols))
			for i, v := range args[1:] {
				vals[i] = v
			}
			pos, err := sqlsource.PositionOf(vals...)
			if err != nil {
				return err
			}
			// The display form hides key values that are personal data.
			mk, err := mappings.Load(mappings.Options{Key: key}, m.File)
			if err != nil {
				return err
			}
			display := mk[0].DisplayPosition(&connectors.Batch{Columns: cols, Rows: [][]any{vals}}, 0)
			if c, ok := dialAdmin(cmd.Context(), cfg); ok {
				err = c.do(cmd.Context(), http.MethodPost, "/admin/checkpoints/"+m.Name+"/set",
					map[string]any{"position": pos, "display": display}, nil)
			} else {
				err = withStore(cfg, func(s *checkpoint.Store) error {
					err := s.Set(m.Name, pos, display)
					recordDirect(s, trail.Entry{Action: canonical.AuditCheckpointSet, Mapping: m.Name, Err: err, Detail: "resumes after " + display})
					return err
				})
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: resumes after %s\n", m.Name, display)
			return nil
		},
	})
	return cmd
}

func findMapping(cfg *config.Config, name string) (*mappings.Mapping, error) {
	ms, err := mappings.Load(mappings.Options{}, cfg.MappingPaths()...)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Name == name {
			return m, nil
		}
	}
	return nil, fmt.Errorf("no mapping %q under %v", name, cfg.Mappings.Paths)
}

// withStore opens the state store of a stopped daemon.
func withStore(cfg *config.Config, f func(*checkpoint.Store) error) error {
	key, err := cfg.LoadKey()
	if err != nil {
		return err
	}
	s, err := checkpoint.Open(cfg.State.Dir, key.SealKey(), checkpoint.Options{Algorithms: key.Algorithms()})
	if errors.Is(err, checkpoint.ErrLocked) {
		return fmt.Errorf("%w; its admin endpoint (http.listen %q) did not answer", err, cfg.HTTP.Listen)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	return f(s)
}

func printCheckpoints(w io.Writer, list []adminCheckpoint) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MAPPING\tSTATE\tROWS\tUPDATED\tPOSITION")
	for _, c := range list {
		state := c.State
		if state == "" {
			state = "-"
		}
		if c.Manual {
			state += " (set by hand)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", c.Name, state, c.Rows, c.UpdatedAt.Format(time.RFC3339), c.Display)
	}
	_ = tw.Flush()
}
