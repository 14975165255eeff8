package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/yamlfile"
	"github.com/hpgate/hpgate/pipeline/config"
)

// checkConfig validates a config file, the mappings it names (plus any
// extra paths) and how they fit together, without touching the network;
// with live, it also tries every mapping on its source (checkLive).
func checkConfig(cmd *cobra.Command, configPath string, extra []string, live bool) (errs, warns yamlfile.Errors) {
	cfg, err := config.LoadFile(configPath)
	if err != nil {
		return yamlfile.AsErrors(err, configPath), nil
	}
	errs = append(errs, checkDrivers(cfg)...)
	warns = append(warns, cfg.PIIWarnings()...)
	ms, err := mappings.Load(mappings.Options{}, append(cfg.MappingPaths(), extra...)...)
	if err != nil {
		var perrs yamlfile.Errors
		if !errors.As(err, &perrs) {
			return append(errs, &yamlfile.PosError{File: configPath, Msg: err.Error()}), nil
		}
		errs = append(errs, perrs...)
	}
	errs = append(errs, checkWritebacks(append(cfg.MappingPaths(), extra...), cfg, configPath)...)
	errs = append(errs, checkPolicies(append(cfg.PolicyPaths(), extra...), cfg.Identity.GracePeriod)...)
	for _, m := range ms {
		src, ok := cfg.Sources[m.Source]
		if !ok {
			errs = append(errs, &yamlfile.PosError{File: m.File, Line: m.SourceLine, Col: m.SourceCol,
				Msg: "source " + m.Source + " is not defined under sources in " + configPath})
			continue
		}
		if slices.Contains(sqlsource.Drivers(), src.Driver) {
			e, w := placeFindings(m, sqlsource.CheckStream(src.Driver, m.Stream))
			errs, warns = append(errs, e...), append(warns, w...)
		}
	}
	if live && len(errs) == 0 {
		e, w := checkLive(cmd.Context(), cfg, ms)
		errs, warns = append(errs, e...), append(warns, w...)
	}
	return errs, warns
}

// liveChecker is a source that can try a stream on its database.
type liveChecker interface {
	CheckLive(ctx context.Context, st connectors.Stream) []error
}

// checkLive opens every source and tries each mapping's stream on it.
func checkLive(ctx context.Context, cfg *config.Config, ms []*mappings.Mapping) (errs, warns yamlfile.Errors) {
	if ctx == nil {
		ctx = context.Background()
	}
	srcs, errs := openSources(cfg, slog.New(slog.DiscardHandler))
	defer func() {
		for _, s := range srcs {
			_ = s.Close()
		}
	}()
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b *mappings.Mapping) int { return strings.Compare(a.Name, b.Name) })
	for _, m := range ms {
		lc, ok := srcs[m.Source].(liveChecker)
		if !ok {
			continue // not a SQL source, or not opened (reported above)
		}
		e, w := placeFindings(m, lc.CheckLive(ctx, m.Stream))
		errs, warns = append(errs, e...), append(warns, w...)
	}
	return errs, warns
}
