package main

import (
	"errors"

	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/yamlfile"
	"github.com/hpgate/hpgate/pipeline/config"
)

// checkConfig validates a config file, the mappings it names (plus any
// extra paths) and how they fit together, without touching the network.
func checkConfig(configPath string, extra []string) yamlfile.Errors {
	cfg, err := config.LoadFile(configPath)
	if err != nil {
		return yamlfile.AsErrors(err, configPath)
	}
	var errs yamlfile.Errors
	errs = append(errs, checkDrivers(cfg)...)
	ms, err := mappings.Load(mappings.Options{}, append(cfg.MappingPaths(), extra...)...)
	if err != nil {
		var perrs yamlfile.Errors
		if !errors.As(err, &perrs) {
			return append(errs, &yamlfile.PosError{File: configPath, Msg: err.Error()})
		}
		errs = append(errs, perrs...)
	}
	for _, m := range ms {
		if _, ok := cfg.Sources[m.Source]; !ok {
			errs = append(errs, &yamlfile.PosError{File: m.File, Line: m.SourceLine, Col: m.SourceCol,
				Msg: "source " + m.Source + " is not defined under sources in " + configPath})
		}
	}
	return errs
}
