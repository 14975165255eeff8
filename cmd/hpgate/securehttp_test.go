package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hpgate/hpgate/monitoring"
	"github.com/hpgate/hpgate/pipeline/config"
)

// TestSecureHTTPResolvesFilesAgainstConfig checks that the basic-auth
// password file, like the TLS files, is found next to the config file
// whatever the working directory.
func TestSecureHTTPResolvesFilesAgainstConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "http-password"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "maps"), 0o755); err != nil {
		t.Fatal(err)
	}
	text := `sources:
  s: {driver: sqlite, dsn_env: HPGATE_TEST_UNUSED_DSN}
kafka: {brokers: ["127.0.0.1:9092"]}
state: {dir: state}
pii: {key_env: HPGATE_TEST_UNUSED_KEY}
http:
  listen: "127.0.0.1:0"
  basic_auth: {username: ops, password_file: http-password}
  tls: {cert_file: tls.crt, key_file: tls.key}
mappings: {paths: [maps]}
`
	cfg, err := config.Load(filepath.Join(dir, "hpgate.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var h monitoring.Handlers
	if err := secureHTTP(cfg, &h); err != nil {
		t.Fatal(err)
	}
	if h.User != "ops" || h.Password != "s3cret" {
		t.Errorf("basic auth %q/%q, want ops and the file's password", h.User, h.Password)
	}
	if h.CertFile != filepath.Join(dir, "tls.crt") || h.KeyFile != filepath.Join(dir, "tls.key") {
		t.Errorf("tls files %q, %q, want them next to the config", h.CertFile, h.KeyFile)
	}
}
