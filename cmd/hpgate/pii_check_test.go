package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckWarnsOnHMACWithoutNewKeyID: `hpgate check -c` accepts the 国密
// algorithms, warns (exit 0) when pii.hmac changes under the default
// key_id, and fails on an unknown algorithm with its position.
func TestCheckWarnsOnHMACWithoutNewKeyID(t *testing.T) {
	t.Setenv("X_DSN", "hpgate:secret@tcp(127.0.0.1:3306)/his")
	dir := t.TempDir()
	maps := filepath.Join(dir, "maps")
	if err := os.MkdirAll(maps, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../../mappings/testdata/good/ins-settlement-fund.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(maps, "s.yaml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(pii string) (int, string) {
		cfg := "sources:\n  test-ins:\n    driver: mysql\n    dsn_env: X_DSN\nkafka: {brokers: [\"127.0.0.1:9092\"]}\nstate: {dir: " + dir + "}\n" +
			"pii:\n  key_env: HPGATE_PII_KEY\n" + pii + "mappings: {paths: [maps]}\n"
		p := filepath.Join(dir, "hpgate.yaml")
		if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runCLI(t, "check", "-c", p)
		return code, out
	}
	code, out := check("  hmac: hmac-sm3\n  cipher: sm4-gcm\n")
	if code != 0 || !strings.Contains(out, "hpgate.yaml:9:9: warning: pii.hmac hmac-sm3 with key_id k1 (the default)") || !strings.HasSuffix(out, "ok\n") {
		t.Errorf("default key_id: exit %d\n%s", code, out)
	}
	code, out = check("  key_id: k2-gm\n  hmac: hmac-sm3\n  cipher: sm4-gcm\n")
	if code != 0 || out != "ok\n" {
		t.Errorf("new key_id: exit %d\n%s", code, out)
	}
	code, out = check("  cipher: sm4\n")
	if code != 1 || !strings.Contains(out, `hpgate.yaml:9:11: pii.cipher "sm4": want aes-256-gcm or sm4-gcm`) {
		t.Errorf("bad cipher: exit %d\n%s", code, out)
	}
}
