package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/registry"
	"github.com/hpgate/hpgate/connectors/registry/registrysim"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRegistrySimCommand runs `hpgate registry-sim` in-process and reads
// it through the registry connector, past a queued fault.
func TestRegistrySimCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut lockedBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"registry-sim", "--listen", "127.0.0.1:0", "--persons", "6", "--fault", "500,times=2"}, &out, &errOut)
	}()
	addr := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	waitUntil(t, "the simulator listens", func() bool { return addr.MatchString(out.String()) })
	base := addr.FindStringSubmatch(out.String())[1]
	if !strings.Contains(out.String(), "county 370282, 6 persons") {
		t.Errorf("output: %s", out.String())
	}

	src, err := registry.New("sim", registry.Config{
		URL: base, AppKey: registrysim.DefaultAppKey, Secret: registry.NewSecret([]byte(registrysim.DefaultSecret)),
		SettleDelay: -1, LookBack: -1, RetryWaitMin: time.Millisecond, RetryWaitMax: 10 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	st := connectors.Stream{Name: "p", Table: "persons", TimestampColumn: "updated_at", KeyColumns: []string{"id"}}
	b, err := src.Read(ctx, st, "", 100)
	if err != nil || b.Len() != 6 {
		t.Fatalf("read through two 500s: %v, %d rows", err, b.Len())
	}
	for _, path := range []string{"/admin/mutate?n=2", "/openapi.yaml"} {
		method := http.MethodPost
		if strings.HasSuffix(path, ".yaml") {
			method = http.MethodGet
		}
		req, _ := http.NewRequestWithContext(ctx, method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Errorf("%s: HTTP %d", path, resp.StatusCode)
		}
	}
	if b, err = src.Read(ctx, st, b.Next, 100); err != nil || b.Len() == 0 {
		t.Errorf("after /admin/mutate: %v, %d rows", err, b.Len())
	}
	cancel()
	if c := <-code; c != 0 {
		t.Errorf("exit %d, stderr: %s", c, errOut.String())
	}

	var stderr lockedBuffer
	if c := run(context.Background(), []string{"registry-sim", "--fault", "teapot"}, io.Discard, &stderr); c == 0 || !strings.Contains(stderr.String(), "teapot") {
		t.Errorf("a bad fault: exit %d, %s", c, stderr.String())
	}
}

// TestRegistryReadmeExample loads the README's registry source block
// through the config loader and the registry driver (strict: an unknown
// or misspelt key fails), with the API mappings of the Jimo pack.
func TestRegistryReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var block string
	for _, b := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		if strings.Contains(b[1], "driver: registry") {
			block = b[1]
		}
	}
	if block == "" {
		t.Fatal("no registry source block in the README")
	}
	dir := t.TempDir()
	t.Setenv("JIMO_REGISTRY_SECRET", "s3cret")
	t.Setenv("REG_TEST_PII_KEY", strings.Repeat("ab", 32))
	pack, err := filepath.Abs("../../mappings/counties/370282-jimo")
	if err != nil {
		t.Fatal(err)
	}
	text := block + fmt.Sprintf("kafka: {brokers: [\"127.0.0.1:9092\"]}\nstate: {dir: %q}\npii: {key_env: REG_TEST_PII_KEY}\nmappings:\n  paths:\n    - %q\n    - %q\n",
		dir, filepath.Join(pack, "jimo-registry-api-person.yaml"), filepath.Join(pack, "jimo-registry-api-household.yaml"))
	path := filepath.Join(dir, "hpgate.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut lockedBuffer
	if c := run(context.Background(), []string{"check", "-c", path}, &out, &errOut); c != 0 {
		t.Fatalf("hpgate check: exit %d\n%s%s", c, out.String(), errOut.String())
	}
	// A misspelt key is refused at its line.
	bad := strings.Replace(text, "look_back:", "lookback:", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	errOut = lockedBuffer{}
	if c := run(context.Background(), []string{"check", "-c", path}, &out, &errOut); c == 0 || !strings.Contains(out.String()+errOut.String(), "lookback") {
		t.Errorf("a misspelt key passed: exit %d\n%s", c, errOut.String())
	}
}
