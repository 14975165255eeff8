package main

import (
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/pipeline"
)

func auditCmd() *cobra.Command {
	var (
		configPath, from, to string
		names                []string
		sample               int
		full                 bool
	)
	cmd := &cobra.Command{
		Use:   "audit -c CONFIG [--mapping NAME…] [--from DATE --to DATE] [--sample N|--full]",
		Short: "Prove that what left the sources reached Kafka, per mapping and day",
		Long: `Reads each mapping's source over the window (with the mapping's own filter,
ids and content hashes, as run would produce them), reads its canonical
topic and the DLQ, and prints per mapping and day: source rows, rows on the
topic, rows in the DLQ, rows not yet due (newer than the checkpoint),
missing rows, extra topic records and content-hash mismatches. A record
superseded by a later one with the current content is no mismatch.

The window is whole days by the cursor timestamp (when the row last
changed), in each mapping's zone: --from (default 7 days before --to) up to,
not including, --to (default today). At most 366 days; the expected records
are held in memory (about 200 bytes a row). Exit status 1 when any day
shows a missing, extra or mismatched row.

  hpgate audit trail -c CONFIG   prints the audit trail of changes instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := pipeline.AuditRequest{Mappings: names, Sample: sample}
			var err error
			if req.From, err = parseDay(from); err != nil {
				return err
			}
			if req.To, err = parseDay(to); err != nil {
				return err
			}
			if full {
				req.Sample = 0
			}
			var rep *pipeline.AuditReport
			err = viaDaemon(cmd, configPath, func(c *adminClient) error {
				return c.do(cmd.Context(), http.MethodPost, "/admin/audit", req, &rep)
			}, func(d *daemon) error {
				rep, err = d.pipe.Audit(cmd.Context(), d.scanner(), req)
				return err
			})
			if err != nil {
				return err
			}
			printAudit(cmd.OutOrStdout(), rep)
			if rep.Gap() {
				fmt.Fprintln(cmd.ErrOrStderr(), "audit: gap found: rows missing, extra or changed (see the table)")
				return exitError(1)
			}
			return nil
		},
	}
	cmd.PersistentFlags().StringVarP(&configPath, "config", "c", "", "config file (required)")
	_ = cmd.MarkPersistentFlagRequired("config")
	cmd.Flags().StringSliceVar(&names, "mapping", nil, "mapping to audit (repeat; default all)")
	cmd.Flags().StringVar(&from, "from", "", "first day, YYYY-MM-DD (default 7 days before --to)")
	cmd.Flags().StringVar(&to, "to", "", "day after the last, YYYY-MM-DD (default today)")
	cmd.Flags().IntVar(&sample, "sample", 0, "compare content hashes on about N rows per mapping")
	cmd.Flags().BoolVar(&full, "full", false, "compare the content hash of every row (the default)")
	cmd.MarkFlagsMutuallyExclusive("sample", "full")
	cmd.AddCommand(trailCmd(&configPath))
	return cmd
}

func printAudit(w io.Writer, rep *pipeline.AuditReport) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "MAPPING\tCOUNTY\tDAY\tSOURCE\tTOPIC\tDLQ\tPENDING\tMISSING\tEXTRA\tHASH MISMATCH\tHASHES CHECKED\t")
	empty := 0
	for _, d := range rep.Days {
		if d == (pipeline.AuditDay{Mapping: d.Mapping, County: d.County, Day: d.Day}) {
			empty++ // a day without rows says nothing: counted, not listed
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", d.Mapping, d.County, d.Day,
			d.Source, d.Topic, d.DLQ, d.Pending, d.Missing, d.Extra, d.HashMismatch, d.HashChecked)
	}
	_ = tw.Flush()
	if empty > 0 {
		fmt.Fprintf(w, "(%d mapping-days without rows not listed)\n", empty)
	}
}

func trailCmd(configPath *string) *cobra.Command {
	var from int
	cmd := &cobra.Command{
		Use:   "trail -c CONFIG [--from SEQ]",
		Short: "Print the audit trail of changes and verify its hash chain",
		Long: `Prints every recorded load of the mappings (start, reload) and every
operator action (checkpoint set or reset, DLQ re-drive, replay): sequence,
time, operator, action, mapping, result, content hashes and what changed.
It verifies the hash chain; exit status 1 when it is broken.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var v trailView
			err := viaDaemon(cmd, *configPath, func(c *adminClient) error {
				return c.do(cmd.Context(), http.MethodGet, fmt.Sprintf("/admin/trail?from=%d", from), nil, &v)
			}, func(d *daemon) (err error) {
				v, err = trailFrom(d.trail, from)
				return err
			})
			if err != nil {
				return err
			}
			printTrail(cmd.OutOrStdout(), v)
			if v.Broken != "" {
				return exitError(1)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&from, "from", 1, "first entry to print")
	return cmd
}
