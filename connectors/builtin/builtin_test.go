package builtin

import (
	"testing"
)

func TestDriversListsEverySource(t *testing.T) {
	d := Drivers()
	if got := d.SourceNames(); got != "filedrop, mysql, oracle, postgres, registry, sqlite, sqlserver" {
		t.Errorf("SourceNames() = %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering mysql twice did not panic")
		}
	}()
	f, _ := d.Source("mysql")
	d.RegisterSource("mysql", f)
}
