package main

import (
	"errors"
	"log/slog"
	"slices"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/builtin"
	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/mappings/yamlfile"
	"github.com/hpgate/hpgate/pipeline/config"
)

// openSources builds every source of the config through its driver's
// factory, which validates the block strictly and never dials. Problems
// come back at their place in the config file.
func openSources(cfg *config.Config, log *slog.Logger) (map[string]connectors.Source, yamlfile.Errors) {
	drivers := builtin.Drivers()
	out := make(map[string]connectors.Source, len(cfg.Sources))
	var errs yamlfile.Errors
	for _, name := range slices.Sorted(mapKeys(cfg.Sources)) {
		s := cfg.Sources[name]
		f, ok := drivers.Source(s.Driver)
		if !ok {
			errs = append(errs, cfg.Errorf([]string{"sources", name, "driver"}, "unknown driver %q; known: %s", s.Driver, drivers.SourceNames()))
			continue
		}
		src, err := f(name, cfg.SourceDecoder(name), log.With("component", "source", "source", name))
		if err != nil {
			errs = append(errs, sourceErrors(cfg, name, err)...)
			continue
		}
		out[name] = src
	}
	return out, errs
}

// sourceErrors places a factory's errors: decode errors already carry
// positions; field errors point at their key.
func sourceErrors(cfg *config.Config, name string, err error) yamlfile.Errors {
	var perrs yamlfile.Errors
	if errors.As(err, &perrs) {
		return perrs
	}
	var out yamlfile.Errors
	for _, e := range unjoin(err) {
		var fe *sqlsource.FieldError
		if errors.As(e, &fe) {
			out = append(out, cfg.Errorf([]string{"sources", name, fe.Key}, "source %s: %s: %v", name, fe.Key, fe.Err))
			continue
		}
		out = append(out, cfg.Errorf([]string{"sources", name}, "source %s: %v", name, e))
	}
	return out
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// checkDrivers validates every source block through its driver.
func checkDrivers(cfg *config.Config) yamlfile.Errors {
	srcs, errs := openSources(cfg, slog.New(slog.DiscardHandler))
	for _, s := range srcs {
		_ = s.Close()
	}
	return errs
}
