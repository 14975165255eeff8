// Package builtin lists hpgate's connectors: the one place that names every
// source driver (explicit calls, no init side effects).
package builtin

import (
	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/filedrop"
	"github.com/hpgate/hpgate/connectors/registry"
	"github.com/hpgate/hpgate/connectors/sqlsource"
)

// Drivers returns a fresh table of the built-in drivers.
func Drivers() *connectors.Drivers {
	d := &connectors.Drivers{}
	for _, name := range sqlsource.Drivers() {
		d.RegisterSource(name, sqlsource.Factory(name))
	}
	d.RegisterSource(registry.Driver, registry.Factory)
	d.RegisterSource(filedrop.Driver, filedrop.Factory)
	return d
}
