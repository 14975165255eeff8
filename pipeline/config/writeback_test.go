package config

import (
	"strings"
	"testing"
)

func TestWritebackBlock(t *testing.T) {
	c, err := LoadFile(write(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if wb := c.Writeback; wb.GroupID != DefaultWritebackGroup || wb.Listen != DefaultWritebackAddr || wb.RowsPerSecond != 0 {
		t.Errorf("writeback defaults %+v", wb)
	}
	c, err = LoadFile(write(t, good+"writeback:\n  group_id: jimo-writeback\n  listen: \":9566\"\n  rows_per_second: 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if wb := c.Writeback; wb.GroupID != "jimo-writeback" || wb.Listen != ":9566" || wb.RowsPerSecond != 5 {
		t.Errorf("writeback %+v", wb)
	}
	c, err = LoadFile(write(t, good+"writeback: {listen: \"off\"}\n"))
	if err != nil || c.Writeback.Listen != "" {
		t.Errorf("listen off: %+v, %v", c, err)
	}
}

func TestWritebackBlockErrors(t *testing.T) {
	_, err := LoadFile(write(t, good+"writeback:\n  group_id: \"a b\"\n  listen: localhost\n  rows_per_second: -1\n  rate: 3\n"))
	if err == nil {
		t.Fatal("no error")
	}
	if msg := err.Error(); !strings.Contains(msg, `hpgate.yaml:18:3: unknown key "rate"`) {
		t.Errorf("unknown key not reported first-class:\n%s", msg)
	}
	_, err = LoadFile(write(t, good+"writeback:\n  group_id: \"a b\"\n  listen: localhost\n  rows_per_second: -1\n"))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"hpgate.yaml:15:13: group_id may hold only",
		`hpgate.yaml:16:11: writeback listen: "localhost": want host:port`,
		"hpgate.yaml:17:20: writeback rows_per_second must be positive",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	_, err = LoadFile(write(t, good+"writeback: {listen: \"127.0.0.1:http\"}\n"))
	if err == nil || !strings.Contains(err.Error(), "the port must be a number") {
		t.Errorf("named port: %v", err)
	}
}
