package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestIdentityHTTPBasicAuth: `hpgate identity` applies the config's
// http.basic_auth as `hpgate run` does: /metrics needs the credentials,
// the probes /healthz and /readyz stay open for orchestrators.
func TestIdentityHTTPBasicAuth(t *testing.T) {
	e := newIdentityEnv(t)
	text, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	const httpLine = `http: {listen: ""}`
	if !strings.Contains(string(text), httpLine) {
		t.Fatalf("the identity test config has no %q line", httpLine)
	}
	t.Setenv("HPGATE_TEST_METRICS_PASSWORD", "s3cret")
	writeFile(t, e.cfgPath, strings.Replace(string(text), httpLine,
		`http: {listen: "", basic_auth: {username: ops, password_env: HPGATE_TEST_METRICS_PASSWORD}}`, 1))
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	code := make(chan int, 1)
	go func() { code <- run(ctx, []string{"identity", "-c", e.cfgPath, "--listen", addr}, &out, &errOut) }()
	defer func() {
		cancel()
		if c := <-code; c != 0 {
			t.Errorf("identity exited %d: %s", c, errOut.String())
		}
	}()

	base := "http://" + addr
	get := func(path, user, password string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		c := &http.Client{Timeout: 5 * time.Second}
		res, err := c.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	waitUntil(t, "the identity listener", func() bool { c, _ := get("/healthz", "", ""); return c == http.StatusOK })
	// Ready once the broker answers for the identity topic (create_topics
	// is on), without credentials.
	waitUntil(t, "/readyz to say ready", func() bool { c, _ := get("/readyz", "", ""); return c == http.StatusOK })

	if c, body := get("/metrics", "", ""); c != http.StatusUnauthorized {
		t.Errorf("/metrics without credentials: %d %.200s", c, body)
	}
	if c, body := get("/metrics", "ops", "wrong"); c != http.StatusUnauthorized {
		t.Errorf("/metrics with a wrong password: %d %.200s", c, body)
	}
	c, body := get("/metrics", "ops", "s3cret")
	if c != http.StatusOK || !strings.Contains(body, "hpgate_identity_") {
		t.Errorf("/metrics with the credentials: %d %.300s", c, body)
	}
	for _, text := range []string{out.String(), errOut.String()} {
		if strings.Contains(text, "s3cret") {
			t.Errorf("the password is in the output: %.300s", text)
		}
	}
}

// TestIdentityHTTPBasicAuthUnset: a basic_auth whose password variable is
// not set stops `hpgate identity` with the variable's name, rather than
// serving /metrics open.
func TestIdentityHTTPBasicAuthUnset(t *testing.T) {
	e := newIdentityEnv(t)
	text, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.cfgPath, strings.Replace(string(text), `http: {listen: ""}`,
		`http: {listen: "", basic_auth: {username: ops, password_env: HPGATE_TEST_UNSET_PASSWORD}}`, 1))
	os.Unsetenv("HPGATE_TEST_UNSET_PASSWORD")
	var out, errOut lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c := run(ctx, []string{"identity", "-c", e.cfgPath, "--listen", freeAddr(t)}, &out, &errOut); c == 0 {
		t.Fatalf("identity ran with an unset password variable: %s", errOut.String())
	}
	if !strings.Contains(errOut.String(), "HPGATE_TEST_UNSET_PASSWORD") {
		t.Errorf("the error does not name the variable: %s", errOut.String())
	}
}
