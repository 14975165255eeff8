package builtin

import (
	"testing"
)

func TestDriversListsTheSQLSources(t *testing.T) {
	d := Drivers()
	if got := d.SourceNames(); got != "mysql, postgres, sqlite" {
		t.Errorf("SourceNames() = %q", got)
	}
	if _, ok := d.Source("oracle"); ok {
		t.Error("oracle registered before its connector exists")
	}
	defer func() {
		if recover() == nil {
			t.Error("registering mysql twice did not panic")
		}
	}()
	f, _ := d.Source("mysql")
	d.RegisterSource("mysql", f)
}
