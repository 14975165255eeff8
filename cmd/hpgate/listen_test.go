package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hpgate/hpgate/pipeline/config"
)

// identityCheckConfig writes a config for `hpgate identity --check` (no
// broker, no database) over a copy of testdata/identity in dir/county.
func identityCheckConfig(t *testing.T) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "county"), os.DirFS("testdata/identity")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "pii.key"), identitySecret)
	cfg = filepath.Join(dir, "hpgate.yaml")
	writeFile(t, cfg, `sources:
  t-reg: {driver: mysql, dsn_env: NOPE}
kafka: {brokers: ["127.0.0.1:1"]}
state: {dir: state}
pii: {key_file: pii.key}
mappings: {paths: [county]}
`)
	return dir, cfg
}

// TestIdentityListenFlag: `hpgate identity --listen` takes "off" (and "")
// to turn the listener off, as the config's identity.listen and `hpgate
// writeback --listen` do (one parser, listenFlag), and rejects a value
// that is no host:port before anything starts.
func TestIdentityListenFlag(t *testing.T) {
	_, cfg := identityCheckConfig(t)
	listen := func(flag *string) (string, error) {
		p, err := openIdentity(cfg, identityOverrides{listen: flag}, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), true)
		if err != nil {
			return "", err
		}
		return p.listen, nil
	}
	ptr := func(s string) *string { return &s }
	for _, c := range []struct {
		flag *string
		want string
	}{
		{nil, config.DefaultIdentityAddr},
		{ptr("off"), ""},
		{ptr(""), ""},
		{ptr("127.0.0.1:19465"), "127.0.0.1:19465"},
		{ptr(":9465"), ":9465"},
	} {
		if got, err := listen(c.flag); err != nil || got != c.want {
			t.Errorf("--listen %v: listener %q, %v; want %q", c.flag, got, err, c.want)
		}
	}
	if _, err := listen(ptr("9465")); err == nil || !strings.Contains(err.Error(), `--listen "9465": want host:port`) {
		t.Errorf("--listen 9465: %v", err)
	}
	if code, out, errOut := runCLI(t, "identity", "-c", cfg, "--listen", "off", "--check"); code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Errorf("--listen off --check: exit %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "identity", "-c", cfg, "--listen", "localhost:http", "--check"); code == 0 || !strings.Contains(errOut, `--listen "localhost:http": the port must be a number`) {
		t.Errorf("--listen localhost:http --check: exit %d %q", code, errOut)
	}
}

// TestWritebackListenFlagParsing: the parser `hpgate writeback` and
// `hpgate identity` share.
func TestWritebackListenFlagParsing(t *testing.T) {
	for in, want := range map[string]string{"off": "", "": "", "127.0.0.1:9466": "127.0.0.1:9466", ":0": ":0"} {
		if got, err := listenFlag(in); err != nil || got != want {
			t.Errorf("listenFlag(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"OFF", "127.0.0.1", "host:99999"} {
		if _, err := listenFlag(in); err == nil || !strings.HasPrefix(err.Error(), "--listen ") {
			t.Errorf("listenFlag(%q) = %v, want a --listen error", in, err)
		}
	}
}
