package main

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/connectors/kafkasink"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/config"
	"github.com/hpgate/hpgate/pipeline/reconcile"
)

var reCountyCode = regexp.MustCompile(`^[0-9]{6}$`)

func reconcileCmd() *cobra.Command {
	var (
		configPath, county, out, asOf string
		year                          int
		lf                            logFlags
	)
	cmd := &cobra.Command{
		Use:   "reconcile -c CONFIG --county CODE --out DIR [--as-of DATE] [--year YYYY]",
		Short: "Write a county's reconciliation report (CSV and HTML) from the canonical topics",
		Long: `Reads the canonical topics and the discrepancies of one county from Kafka,
up to the end each partition had when the read began, and writes the open
discrepancies and the indicators (coverage R11–R12, reimbursement ratios
R03, follow-up compliance R10, service counts) into DIR: indicators.csv,
reimbursement.csv, followup.csv, discrepancies.csv and report.html, a
self-contained page for the county health bureau. No personal data appears
in any of them. --as-of (YYYY-MM-DD, default today) is the date contracts
are checked against; --year (default the as-of year) the year of the
yearly figures.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if !reCountyCode.MatchString(county) {
				return errors.New("--county must be a 6-digit county code such as 370282")
			}
			opts := reconcile.Options{County: county, Year: year}
			if asOf != "" {
				if opts.AsOf, err = time.ParseInLocation(time.DateOnly, asOf, time.Local); err != nil {
					return fmt.Errorf("--as-of %q is not a date such as 2019-12-31", asOf)
				}
			}
			if year != 0 && (year < 1990 || year > 2200) {
				return fmt.Errorf("--year %d is not a plausible year", year)
			}
			cfg, err := config.LoadFile(configPath)
			if err != nil {
				return reportLoad(cmd.ErrOrStderr(), err)
			}
			opts.TopicPrefix = cfg.Kafka.TopicPrefix
			sink, err := kafkasink.New(cfg.Kafka.Config, log.With("component", "kafka"))
			if err != nil {
				return fmt.Errorf("kafka: %w", err)
			}
			defer func() { _ = sink.Close(cmd.Context()) }()
			rep, err := reconcile.Load(cmd.Context(), &pipeline.Scanner{Client: sink.Client()}, opts, log.With("component", "reconcile"))
			if err != nil {
				return err
			}
			files, err := rep.WriteFiles(out)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "county %s, year %d, as of %s: %s poor people, %s open discrepancies\n",
				rep.County, rep.Year, rep.AsOf, rep.Value("poor_population"), rep.Value("open_discrepancies"))
			for _, f := range files {
				fmt.Fprintln(w, f)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "config file (required)")
	cmd.Flags().StringVar(&county, "county", "", "county code, 6 digits (required)")
	cmd.Flags().StringVar(&out, "out", "", "directory to write the report into (required)")
	cmd.Flags().StringVar(&asOf, "as-of", "", "report date, YYYY-MM-DD (default today)")
	cmd.Flags().IntVar(&year, "year", 0, "report year (default the as-of year)")
	for _, f := range []string{"config", "county", "out"} {
		_ = cmd.MarkFlagRequired(f)
	}
	lf.add(cmd)
	return cmd
}
