package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/pipeline"
)

func dlqCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "dlq -c CONFIG list|redrive",
		Short: "Count dead-letter rows, and re-drive them after a mapping fix",
		Long: `Acts through the running daemon's admin endpoint when one runs (it owns
the state store), or opens the gateway itself when none does.

  list                                  DLQ rows by mapping and reason, how many
                                        were re-driven, and one masked sample row
  redrive --mapping NAME [--reason CODE] [--dry-run]
                                        unseal the mapping's DLQ rows, map them with
                                        the mapping in force and write what now maps
                                        to its topic; report what still fails

A row delivered by a re-drive is never re-driven again; a row still
rejected is tried again only after its mapping file changed. Each re-drive
(not a dry run) is recorded in the audit trail.`,
	}
	cmd.PersistentFlags().StringVarP(&configPath, "config", "c", "", "config file (required)")
	_ = cmd.MarkPersistentFlagRequired("config")
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "Count DLQ rows by mapping and reason", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var list []pipeline.DLQSummary
			err := viaDaemon(cmd, configPath, func(c *adminClient) error {
				return c.do(cmd.Context(), http.MethodGet, "/admin/dlq", nil, &list)
			}, func(d *daemon) (err error) {
				list, err = pipeline.SummarizeDLQ(cmd.Context(), d.scanner(), d.cfg.Kafka.TopicPrefix, d.store)
				return err
			})
			if err != nil {
				return err
			}
			printDLQ(cmd.OutOrStdout(), list)
			return nil
		},
	})
	var (
		req      pipeline.RedriveRequest
		operator string
	)
	redrive := &cobra.Command{
		Use: "redrive --mapping NAME [--reason CODE] [--dry-run]", Short: "Re-drive a mapping's DLQ rows", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res *pipeline.RedriveResult
			err := viaDaemon(cmd, configPath, func(c *adminClient) error {
				c.operator = operatorName(operator)
				return c.do(cmd.Context(), http.MethodPost, "/admin/dlq/redrive", req, &res)
			}, func(d *daemon) (err error) {
				res, err = d.redrive(cmd.Context(), operatorName(operator), req)
				return err
			})
			if err != nil {
				return err
			}
			printRedrive(cmd.OutOrStdout(), req, res)
			return nil
		},
	}
	redrive.Flags().StringVar(&req.Mapping, "mapping", "", "mapping whose rows to re-drive (required)")
	redrive.Flags().StringVar(&req.Reason, "reason", "", "only rows rejected with this reason code")
	redrive.Flags().BoolVar(&req.DryRun, "dry-run", false, "map and report, write nothing")
	addOperatorFlag(redrive, &operator)
	_ = redrive.MarkFlagRequired("mapping")
	cmd.AddCommand(redrive)
	return cmd
}

func printDLQ(w io.Writer, list []pipeline.DLQSummary) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MAPPING\tREASON\tROWS\tRE-DRIVEN\tSAMPLE (MASKED)")
	for _, s := range list {
		var cols []string
		for _, k := range slices.Sorted(mapKeys(s.Sample)) {
			cols = append(cols, k+"="+s.Sample[k])
		}
		sample := strings.Join(cols, " ")
		if len(sample) > 120 {
			sample = sample[:120] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", s.Mapping, s.Reason, s.Records, s.Redriven, sample)
	}
	_ = tw.Flush()
}

func printRedrive(w io.Writer, req pipeline.RedriveRequest, res *pipeline.RedriveResult) {
	verb := "re-driven"
	if req.DryRun {
		verb = "would be re-driven (dry run)"
	}
	fmt.Fprintf(w, "%s: %d DLQ rows read, %d done before; %d %s to the topic, %d now filtered out\n",
		req.Mapping, res.Scanned, res.Done, res.Delivered, verb, res.Filtered)
	for _, code := range slices.Sorted(mapKeys(res.Rejected)) {
		fmt.Fprintf(w, "  still rejected: %d %s\n", res.Rejected[code], code)
	}
	for _, cause := range slices.Sorted(mapKeys(res.Unreadable)) {
		fmt.Fprintf(w, "  unreadable: %d %s (sealed under another key?)\n", res.Unreadable[cause], cause)
	}
	if res.BadRows > 0 {
		fmt.Fprintf(w, "  left alone: %d %s rows the source could not read; mend the file and drop it again\n", res.BadRows, connectors.CodeBadRow)
	}
}

// addOperatorFlag adds --operator, recorded in the audit trail.
func addOperatorFlag(cmd *cobra.Command, operator *string) {
	cmd.Flags().StringVar(operator, "operator", "", "who acts, for the audit trail (default $HPGATE_OPERATOR, else the OS user)")
}
