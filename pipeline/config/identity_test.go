package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIdentityDefaultsAndPaths(t *testing.T) {
	c, err := LoadFile(write(t, good))
	if err != nil {
		t.Fatal(err)
	}
	id := c.Identity
	if id.GroupID != DefaultIdentityGroup || id.GracePeriod != 72*time.Hour || id.SweepInterval != time.Minute || id.MaxPollRecords != 2000 {
		t.Errorf("identity defaults %+v", id)
	}
	if got := c.PolicyPaths(); len(got) != 1 || got[0] != c.MappingPaths()[0] {
		t.Errorf("policy paths default to the mapping paths: %v", got)
	}
	p := write(t, good+"identity:\n  group_id: prov-identity\n  grace_period: 48h\n  policy_paths: [maps]\n")
	c, err = LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity.GroupID != "prov-identity" || c.Identity.GracePeriod != 48*time.Hour || c.PolicyPaths()[0] != filepath.Join(filepath.Dir(p), "maps") {
		t.Errorf("identity %+v, paths %v", c.Identity, c.PolicyPaths())
	}
}

func TestIdentityErrors(t *testing.T) {
	p := write(t, good+"identity:\n  grace_period: -1h\n  session_timeout: 2s\n  heartbeat_interval: 3s\n  policy_paths: [nowhere]\n  group_id: \"a b\"\n  nope: 1\n")
	_, err := LoadFile(p)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		`hpgate.yaml:20:3: unknown key "nope"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	p = write(t, good+"identity:\n  grace_period: -1h\n  session_timeout: 2s\n  heartbeat_interval: 3s\n  policy_paths: [nowhere]\n  group_id: \"a b\"\n")
	_, err = LoadFile(p)
	if err == nil {
		t.Fatal("no error")
	}
	msg = err.Error()
	for _, want := range []string{
		":15:17: identity grace_period must be positive",
		":17:23: heartbeat_interval must be shorter than session_timeout",
		":18:18: policy path nowhere: no such file or directory",
		":19:13: group_id may hold only",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}
