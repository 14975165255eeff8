package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/connectors/kafkasink"
	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/connectors/sqlwrite"
	"github.com/hpgate/hpgate/monitoring"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/config"
	"github.com/hpgate/hpgate/pipeline/writeback"
)

func writebackCmd() *cobra.Command {
	var (
		configPath, group, listen string
		rate                      float64
		dryRun, printDDL          bool
		lf                        logFlags
	)
	cmd := &cobra.Command{
		Use:   "writeback -c CONFIG [--dry-run | --print-audit-ddl] [--group ID] [--listen ADDR] [--rows-per-second N]",
		Short: "Copy identity flags from their authority into the other systems' tables",
		Long: `Consumes <prefix>identity.v1 in a Kafka consumer group and, for each
writeback file (kind: writeback) under the mapping paths, sets the target
table's flag columns to what the authoritative system says, only where they
differ, recording each change in hpgate_writeback_audit (or the local state
store). Records it cannot apply (no row for the person, a value without a
target code) go to <prefix>dlq.v1. With --dry-run it reads the identity
topic as it stands, prints the statements it would run (keys masked) and
changes nothing.

Kafka TLS and SASL are those of the config's kafka section. The consumer
group, the listener and the default rate come from the config's writeback
section (group_id, listen, rows_per_second); --group, --listen and
--rows-per-second override them. While it runs it serves /metrics
(hpgate_writeback_*), /healthz and /readyz on the listener (default
` + config.DefaultWritebackAddr + `, "off" to disable), with the basic
authentication and TLS of the config's http section.

--print-audit-ddl prints, for each target database of a writeback with
audit: table, the CREATE TABLE of hpgate_writeback_audit in the target's
dialect and exits: on Oracle and SQL Server hpgate does not create it, a
DBA runs it (on MySQL, PostgreSQL and SQLite hpgate creates it at start).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dryRun && printDDL {
				return errors.New("--dry-run and --print-audit-ddl exclude each other")
			}
			log, err := lf.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg, err := config.LoadFile(configPath)
			if err != nil {
				return reportLoad(cmd.ErrOrStderr(), err)
			}
			// Flags override the config's writeback section.
			flags := cmd.Flags()
			if !flags.Changed("group") {
				group = cfg.Writeback.GroupID
			}
			if !flags.Changed("listen") {
				listen = cfg.Writeback.Listen
			} else if listen, err = listenFlag(listen); err != nil {
				return err
			}
			if !flags.Changed("rows-per-second") {
				rate = cfg.Writeback.RowsPerSecond
			} else if rate <= 0 {
				return errors.New("--rows-per-second must be positive")
			}
			wbs, err := writeback.Load(cfg.MappingPaths()...)
			if err != nil {
				return reportLoad(cmd.ErrOrStderr(), err)
			}
			if len(wbs) == 0 {
				return fmt.Errorf("no writeback files (kind: writeback) under %v", cfg.Mappings.Paths)
			}
			if errs := writeback.CheckTargets(wbs, configPath, sourceDriver(cfg)); len(errs) > 0 {
				return reportLoad(cmd.ErrOrStderr(), errs)
			}
			if printDDL {
				return printAuditDDL(cmd.OutOrStdout(), cfg, wbs)
			}
			key, err := cfg.LoadKey()
			if err != nil {
				return fmt.Errorf("pseudonymisation key: %w", err)
			}
			targets := map[string]writeback.Target{}
			for _, wb := range wbs {
				if _, done := targets[wb.Target]; done {
					continue
				}
				s := cfg.Sources[wb.Target]
				var fc sqlsource.FileConfig
				if err := cfg.SourceDecoder(wb.Target)(&fc); err != nil {
					return reportLoad(cmd.ErrOrStderr(), err)
				}
				sc, err := fc.Config(s.Driver)
				if err != nil {
					return fmt.Errorf("source %s: %w", wb.Target, err)
				}
				src, err := sqlsource.New(wb.Target, sc, log.With("component", "source", "source", wb.Target))
				if err != nil {
					return fmt.Errorf("source %s: %w", wb.Target, err)
				}
				defer src.Close()
				targets[wb.Target] = writeback.Target{Driver: s.Driver, DSN: string(sc.DSN), Source: src}
			}
			sink, err := kafkasink.New(cfg.Kafka.Config, log.With("component", "kafka"))
			if err != nil {
				return fmt.Errorf("kafka: %w", err)
			}
			defer func() { _ = sink.Close(cmd.Context()) }()
			reg := prometheus.NewRegistry()
			w, err := writeback.New(wbs, writeback.Options{
				Key: key, Targets: targets, StateDir: cfg.State.Dir, TopicPrefix: cfg.Kafka.TopicPrefix, DLQ: sink,
				DryRun: dryRun, Out: cmd.OutOrStdout(), Metrics: monitoring.NewWriteback(reg),
				Log: log.With("component", "writeback"), RowsPerSecond: rate,
			})
			if err != nil {
				return err
			}
			defer w.Close()
			if dryRun {
				if err := w.Prepare(cmd.Context()); err != nil {
					return err
				}
				return w.DryRun(cmd.Context(), &pipeline.Scanner{Client: sink.Client()})
			}
			var wg sync.WaitGroup
			defer wg.Wait() // after cancel below: deferred calls run last-in first-out
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			if listen != "" {
				h := monitoring.Handlers{
					Gatherer: reg,
					// Ready: the broker answers for the identity topic.
					Ready: func(ctx context.Context) error {
						_, err := sink.PartitionCount(ctx, writeback.Topic(cfg.Kafka.TopicPrefix))
						return err
					},
				}
				if err := serveHTTP(ctx, &wg, cfg, listen, h, log); err != nil {
					return err
				}
			}
			// Ready for systemd once loaded, with the state store open and
			// the listener up: the blind indexes are built after it, so
			// /metrics shows hpgate_writeback_index_rows while they grow
			// (and a large table does not run into TimeoutStartSec).
			wg.Go(func() { watchdog(ctx, log) })
			notifyReady(log)
			defer notifyStopping()
			if err := w.Prepare(ctx); err != nil {
				return err
			}
			log.Info("writeback starting", slog.Int("writebacks", len(wbs)), slog.String("group", group))
			return w.Run(ctx, cfg.Kafka.Config, group)
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "config file (required)")
	cmd.Flags().StringVar(&group, "group", config.DefaultWritebackGroup, "Kafka consumer group (default: writeback.group_id of the config)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the statements that would run, change nothing")
	cmd.Flags().BoolVar(&printDDL, "print-audit-ddl", false, "print the CREATE TABLE of hpgate_writeback_audit for each target database and exit")
	cmd.Flags().StringVar(&listen, "listen", config.DefaultWritebackAddr, `host:port of /metrics, /healthz and /readyz ("off" disables; default: writeback.listen of the config)`)
	cmd.Flags().Float64Var(&rate, "rows-per-second", writeback.DefaultRowsPerSecond, "changes per second of writebacks whose file sets no rows_per_second (default: writeback.rows_per_second of the config)")
	_ = cmd.MarkFlagRequired("config")
	lf.add(cmd)
	return cmd
}

// printAuditDDL prints the audit table's DDL once per target database that
// a writeback audits into, in the target's dialect, as a script a DBA can
// run.
func printAuditDDL(out io.Writer, cfg *config.Config, wbs []*writeback.Writeback) error {
	var targets []string
	for _, wb := range wbs {
		if wb.Audit == "table" && !slices.Contains(targets, wb.Target) {
			targets = append(targets, wb.Target)
		}
	}
	if len(targets) == 0 {
		fmt.Fprintln(out, "-- no writeback audits into a table (all have audit: local): nothing to create")
		return nil
	}
	slices.Sort(targets)
	for _, t := range targets {
		driver := cfg.Sources[t].Driver
		d, err := sqlwrite.ForDriver(driver)
		if err != nil {
			return fmt.Errorf("target %s: %w", t, err)
		}
		var names []string
		for _, wb := range wbs {
			if wb.Target == t && wb.Audit == "table" {
				names = append(names, wb.Name)
			}
		}
		how := "hpgate writeback creates it at start if missing; shown for review"
		if driver == "oracle" || driver == "sqlserver" {
			how = "run once as the schema owner before starting hpgate writeback"
		}
		fmt.Fprintf(out, "-- target %s (%s), writebacks %s: %s\n%s;\n", t, driver, strings.Join(names, ", "), how, d.CreateAudit())
		fmt.Fprintf(out, "-- hpgate writeback needs SELECT and UPDATE on its tables and INSERT on %s.\n", sqlwrite.AuditTable)
	}
	return nil
}

// listenFlag parses a --listen value (identity, writeback): "off" or ""
// turns the listener off (""), as `off` does in the config; anything else
// must be host:port.
func listenFlag(v string) (string, error) {
	if v == "off" || v == "" {
		return "", nil
	}
	if err := config.CheckListen(v); err != nil {
		return "", fmt.Errorf("--listen %w", err)
	}
	return v, nil
}
