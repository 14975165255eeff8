package main

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/config"
	"github.com/hpgate/hpgate/pipeline/trail"
)

func operatorName(flag string) string { return trail.Operator(flag) }

func replayCmd() *cobra.Command {
	var (
		configPath, name, from, to, operator string
		fromPos                              []string
		req                                  pipeline.ReplayRequest
	)
	cmd := &cobra.Command{
		Use:   "replay -c CONFIG --mapping NAME --from TIME|--from-position VALUE,… [--to TIME] [--rate ROWS_PER_S]",
		Short: "Read one mapping's range again and write it to Kafka (backfill)",
		Long: `Re-reads the rows of one incremental mapping whose cursor timestamp is in
[--from, --to) (or after the given cursor values: the timestamp, then each
key column, as the source stores them), maps them with the mapping in force
and writes them again, at most --rate rows a second. The live checkpoints
of this and every other mapping are left alone: the replay keeps its own
progress (checkpoint replay:NAME), so an interrupted replay resumes where it
stopped when run again (--restart starts over). Consumers drop repeats by
(id, hash). Times are YYYY-MM-DD[ HH:MM:SS] in the mapping's zone, or RFC
3339. Each replay is recorded in the audit trail.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadFile(configPath)
			if err != nil {
				return reportLoad(cmd.ErrOrStderr(), err)
			}
			m, err := findMapping(cfg, name)
			if err != nil {
				return err
			}
			if from == "" && len(fromPos) == 0 {
				return fmt.Errorf("give --from or --from-position")
			}
			req.Mapping = name
			if req.FromTime, err = parseTime(from, m.Zone()); err != nil {
				return err
			}
			if req.ToTime, err = parseTime(to, m.Zone()); err != nil {
				return err
			}
			if len(fromPos) > 0 {
				cols := cursorColumns(m.Stream.TimestampColumn, m.Stream.KeyColumns)
				if len(fromPos) != len(cols) {
					return fmt.Errorf("%s's cursor is %v: give %d values", m.Name, cols, len(cols))
				}
				vals := make([]any, len(fromPos))
				for i, v := range fromPos {
					vals[i] = v
				}
				if req.From, err = sqlsource.PositionOf(vals...); err != nil {
					return err
				}
			}
			var res *pipeline.ReplayResult
			err = viaDaemon(cmd, configPath, func(c *adminClient) error {
				c.operator = operatorName(operator)
				return c.do(cmd.Context(), http.MethodPost, "/admin/replay", replayBody{req}, &res)
			}, func(d *daemon) (err error) {
				res, err = d.replay(cmd.Context(), operatorName(operator), req)
				return err
			})
			if res != nil {
				resumed := ""
				if res.Resumed {
					resumed = " (resumed)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %d rows replayed%s: %d records, %d rejected, %d filtered; first %s, last %s\n",
					name, res.Rows, resumed, res.Records, res.Rejected, res.Filtered, dash(res.First), dash(res.Last))
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "config file (required)")
	cmd.Flags().StringVar(&name, "mapping", "", "mapping to replay (required)")
	cmd.Flags().StringVar(&from, "from", "", "first cursor time, inclusive")
	cmd.Flags().StringSliceVar(&fromPos, "from-position", nil, "start after these cursor values: timestamp,key…")
	cmd.Flags().StringVar(&to, "to", "", "end cursor time, exclusive (default: up to now)")
	cmd.Flags().IntVar(&req.Rate, "rate", 0, "rows per second at most (default: the source's own limits)")
	cmd.Flags().BoolVar(&req.Restart, "restart", false, "ignore the progress of an interrupted replay")
	addOperatorFlag(cmd, &operator)
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("mapping")
	return cmd
}

// cursorColumns lists a mapping's cursor: the timestamp (if any), then the keys.
func cursorColumns(ts string, keys []string) []string {
	cols := append([]string{}, keys...)
	if ts != "" {
		cols = append([]string{ts}, cols...)
	}
	return cols
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
