package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/yamlfile"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
	"github.com/hpgate/hpgate/pipeline/config"
)

func previewCmd() *cobra.Command {
	var (
		configPath, name string
		limit            int
		fromCheckpoint   bool
	)
	cmd := &cobra.Command{
		Use:   "preview -c CONFIG --mapping NAME [--limit N]",
		Short: "Map rows from the live source and print them, writing nothing",
		Long: `Reads up to N rows of one mapping from its live source (from the start, or
from its checkpoint with --from-checkpoint), maps them, and prints each
canonical record as a JSON line, and each rejected row as a JSON line with
its field, reason code and the row masked. Nothing is written to Kafka or
to the checkpoint store.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadFile(configPath)
			if err != nil {
				return reportLoad(cmd.ErrOrStderr(), err)
			}
			key, err := cfg.LoadKey()
			if err != nil {
				return fmt.Errorf("pseudonymisation key: %w", err)
			}
			ms, err := mappings.Load(mappings.Options{Key: key}, cfg.MappingPaths()...)
			if err != nil {
				return reportLoad(cmd.ErrOrStderr(), err)
			}
			var m *mappings.Mapping
			for _, x := range ms {
				if x.Name == name {
					m = x
				}
			}
			if m == nil {
				return fmt.Errorf("no mapping %q under %v", name, cfg.Mappings.Paths)
			}
			sources, errs := openSources(cfg, slog.New(slog.DiscardHandler))
			defer func() {
				for _, s := range sources {
					_ = s.Close()
				}
			}()
			if len(errs) > 0 {
				return reportLoad(cmd.ErrOrStderr(), errs)
			}
			src, ok := sources[m.Source]
			if !ok {
				return reportLoad(cmd.ErrOrStderr(), yamlfile.Errors{{File: m.File, Line: m.SourceLine, Col: m.SourceCol,
					Msg: "source " + m.Source + " is not defined under sources in " + configPath}})
			}
			var pos connectors.Position
			if fromCheckpoint {
				store, err := checkpoint.Open(cfg.State.Dir, key.SealKey(), checkpoint.Options{Algorithms: key.Algorithms()})
				if err != nil {
					return err
				}
				cp, err := store.Load(m.Name)
				_ = store.Close()
				if err != nil {
					return err
				}
				pos = cp.Position
			}
			b, err := src.Read(cmd.Context(), m.Stream, pos, limit)
			if err != nil {
				if errors.Is(err, connectors.ErrUnavailable) {
					return fmt.Errorf("source %s is unavailable: %w", m.Source, err)
				}
				return err
			}
			var res mappings.Result
			if err := m.Apply(b, &res, time.Now()); err != nil {
				return err
			}
			return printPreview(cmd.OutOrStdout(), cmd.ErrOrStderr(), m, b, &res)
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "config file (required)")
	cmd.Flags().StringVar(&name, "mapping", "", "mapping name (required)")
	cmd.Flags().IntVar(&limit, "limit", 10, "rows to read")
	cmd.Flags().BoolVar(&fromCheckpoint, "from-checkpoint", false, "start after the mapping's checkpoint instead of the beginning")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("mapping")
	return cmd
}

// previewRejection is how preview shows a rejected row.
type previewRejection struct {
	Rejected struct {
		Mapping  string            `json:"mapping"`
		Position string            `json:"position"`
		Field    string            `json:"field,omitempty"`
		Code     string            `json:"code"`
		Message  string            `json:"message"`
		Row      map[string]string `json:"row"`
	} `json:"rejected"`
}

func printPreview(out, errOut io.Writer, m *mappings.Mapping, b *connectors.Batch, res *mappings.Result) error {
	// Print in row order, records and rejections interleaved.
	ri, ji := 0, 0
	for row := range b.Rows {
		for ri < len(res.Records) && res.Records[ri].Row == row {
			fmt.Fprintf(out, "%s\n", res.Records[ri].Value)
			ri++
		}
		for ji < len(res.Rejections) && res.Rejections[ji].Row == row {
			rj := &res.Rejections[ji]
			var pr previewRejection
			pr.Rejected.Mapping, pr.Rejected.Position, pr.Rejected.Field = rj.Mapping, rj.Position, rj.Field
			pr.Rejected.Code, pr.Rejected.Message = rj.Code, rj.Message
			pr.Rejected.Row = m.MaskedRow(b.Columns, b.Rows[row])
			line, err := json.Marshal(&pr)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s\n", line)
			ji++
		}
	}
	fmt.Fprintf(errOut, "%d rows read, %d records, %d rejected, %d filtered\n", b.Len(), len(res.Records), len(res.Rejections), res.Filtered)
	return nil
}
