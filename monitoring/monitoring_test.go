package monitoring

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newTestMetrics(status func() []MappingStatus) (*prometheus.Registry, *Metrics) {
	reg := prometheus.NewRegistry()
	m := New(reg, BuildInfo{Version: "v1", Revision: "abc", GoVersion: "go1.26"}, status)
	return reg, m
}

func TestMetricsLint(t *testing.T) {
	reg, m := newTestMetrics(func() []MappingStatus {
		return []MappingStatus{{Mapping: "a", Source: "s", County: "370282", State: "running", Oldest: time.Now().Add(-time.Minute), Checkpoint: time.Now(), LastSuccess: time.Now()}}
	})
	m.RowsRead.WithLabelValues("s", "a", "370282").Add(3)
	m.Rejections.WithLabelValues("a", "bad_check_digit", "370282").Inc()
	m.BatchDuration.WithLabelValues("a", "read", "370282").Observe(0.01)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestLagAtScrapeTime: lag grows while a mapping is stuck, and is 0 once
// it is caught up.
func TestLagAtScrapeTime(t *testing.T) {
	st := MappingStatus{Mapping: "a", Source: "s", County: "370282", State: "running", Oldest: time.Now().Add(-90 * time.Second)}
	reg, _ := newTestMetrics(func() []MappingStatus { return []MappingStatus{st} })
	lag := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "hpgate_source_lag_seconds" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no lag metric")
		return 0
	}
	if l := lag(); l < 89 || l > 100 {
		t.Errorf("lag %v, want about 90", l)
	}
	st.Oldest = time.Time{}
	st.State = "idle"
	if l := lag(); l != 0 {
		t.Errorf("caught-up lag %v", l)
	}
	want := `
# HELP hpgate_mapping_up 1 while the mapping runs (or waits for new rows), 0 when it is stopped or backing off.
# TYPE hpgate_mapping_up gauge
hpgate_mapping_up{county="370282",mapping="a",source="s"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hpgate_mapping_up"); err != nil {
		t.Error(err)
	}
}

func TestServerEndpoints(t *testing.T) {
	reg, _ := newTestMetrics(nil)
	ready := errors.New("broker not reachable")
	srv, err := Listen("127.0.0.1:0", Handlers{
		Gatherer: reg,
		Ready:    func(context.Context) error { return ready },
		Status:   func() []MappingStatus { return []MappingStatus{{Mapping: "a", State: "idle"}} },
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "broker not reachable") {
		t.Errorf("readyz %d %q", code, body)
	}
	ready = nil
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("readyz when ready: %d", code)
	}
	code, body := get("/status")
	var st struct{ Mappings []MappingStatus }
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Mappings[0].State != "idle" {
		t.Errorf("status %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+srv.Addr()+"/status", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(page), `<td class="idle">idle</td>`) {
		t.Errorf("status page %s:\n%s", ct, page)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `hpgate_build_info{goversion="go1.26",revision="abc",version="v1"} 1`) {
		t.Errorf("metrics %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestServerAuthAndTLS: with basic auth and TLS, /metrics and /status need
// the password over HTTPS, while the probes stay open.
func TestServerAuthAndTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	reg, _ := newTestMetrics(nil)
	srv, err := Listen("127.0.0.1:0", Handlers{Gatherer: reg, User: "ops", Password: "s3cret", CertFile: certFile, KeyFile: keyFile}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(path, user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, "https://"+srv.Addr()+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		path, user, pass string
		want             int
	}{
		{"/metrics", "", "", 401},
		{"/metrics", "ops", "wrong", 401},
		{"/metrics", "ops", "s3cret", 200},
		{"/status", "", "", 401},
		{"/healthz", "", "", 200},
		{"/readyz", "", "", 200},
	}
	for _, c := range cases {
		if got := get(c.path, c.user, c.pass); got != c.want {
			t.Errorf("%s as %q: %d, want %d", c.path, c.user, got, c.want)
		}
	}
	if resp, err := http.Get("http://" + srv.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered on a TLS listener")
		}
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hpgate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestMappingStateAtScrapeTime: hpgate_mapping_state is 1 for the current
// state and 0 for each other state, read from the status at every scrape.
func TestMappingStateAtScrapeTime(t *testing.T) {
	st := MappingStatus{Mapping: "a", Source: "s", County: "370282", State: "backoff"}
	reg, _ := newTestMetrics(func() []MappingStatus { return []MappingStatus{st} })
	want := func(current string) string {
		var b strings.Builder
		b.WriteString("# HELP hpgate_mapping_state " + descHelp(t, reg, "hpgate_mapping_state") + "\n# TYPE hpgate_mapping_state gauge\n")
		for _, s := range MappingStates {
			v := 0
			if s == current {
				v = 1
			}
			fmt.Fprintf(&b, "hpgate_mapping_state{county=\"370282\",mapping=\"a\",source=\"s\",state=%q} %d\n", s, v)
		}
		return b.String()
	}
	for _, state := range []string{"backoff", "stopped", "running", "no-such-state"} {
		st.State = state
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want(state)), "hpgate_mapping_state"); err != nil {
			t.Errorf("state %s: %v", state, err)
		}
	}
}

// descHelp returns the help text of a gathered metric family.
func descHelp(t *testing.T, reg prometheus.Gatherer, name string) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetHelp()
		}
	}
	t.Fatalf("no %s", name)
	return ""
}
