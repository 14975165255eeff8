package registry_test

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
	"log"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/registry"
	"github.com/hpgate/hpgate/connectors/registry/registrysim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable clock shared by a simulator and a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	sim   *registrysim.Sim
	srv   *httptest.Server
	clock *clock
}

func newFixture(t *testing.T, persons int, tlsServer bool) *fixture {
	t.Helper()
	c := newClock()
	sim, err := registrysim.New(registrysim.Options{Persons: persons, Seed: 7, Clock: c.Now, MaxSkew: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var srv *httptest.Server
	if tlsServer {
		srv = httptest.NewUnstartedServer(sim.Handler())
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake of the test
		srv.StartTLS()
	} else {
		srv = httptest.NewServer(sim.Handler())
	}
	t.Cleanup(srv.Close)
	return &fixture{sim: sim, srv: srv, clock: c}
}

func (f *fixture) source(t *testing.T, edit func(*registry.Config)) *registry.Source {
	t.Helper()
	cfg := registry.Config{
		URL: f.srv.URL, AppKey: registrysim.DefaultAppKey, Secret: registry.NewSecret([]byte(registrysim.DefaultSecret)),
		PageSize: 7, SettleDelay: -1, LookBack: -1, Retries: 3, RetryWaitMin: time.Millisecond, RetryWaitMax: 20 * time.Millisecond,
		RequestTimeout: 2 * time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := registry.New("test-registry", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var persons = connectors.Stream{Name: "persons", Table: "persons", TimestampColumn: "updated_at", KeyColumns: []string{"id"}}

// readAll reads a stream to its end, limit rows at a time, and returns the
// ids read in order and the final position.
func readAll(t *testing.T, s *registry.Source, st connectors.Stream, after connectors.Position, limit int) ([]string, connectors.Position) {
	t.Helper()
	var ids []string
	for range 1000 {
		b, err := s.Read(context.Background(), st, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if b.Len() == 0 {
			if b.Next != after {
				t.Fatalf("an empty batch moved the position")
			}
			return ids, after
		}
		if len(b.Positions) != b.Len() || b.Next != b.Positions[b.Len()-1] {
			t.Fatalf("positions: %d for %d rows", len(b.Positions), b.Len())
		}
		j := slices.Index(b.Columns, "id")
		for _, row := range b.Rows {
			ids = append(ids, row[j].(string))
		}
		after = b.Next
	}
	t.Fatal("the stream never ended")
	return nil, ""
}

func recordIDs(t *testing.T, recs []json.RawMessage) []string {
	t.Helper()
	var ids []string
	for _, r := range recs {
		var v struct{ ID string }
		if err := json.Unmarshal(r, &v); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	return ids
}

func TestReadPagination(t *testing.T) {
	f := newFixture(t, 40, false)
	want := recordIDs(t, f.sim.Records(registrysim.Persons))
	for _, mode := range []string{registry.PaginationCursor, registry.PaginationPage} {
		for _, limit := range []int{1, 10, 7, 1000} {
			t.Run(fmt.Sprintf("%s/limit=%d", mode, limit), func(t *testing.T) {
				s := f.source(t, func(c *registry.Config) { c.Pagination = mode })
				got, _ := readAll(t, s, persons, "", limit)
				if !slices.Equal(got, want) {
					t.Fatalf("read %d ids %v\nwant %d %v", len(got), got, len(want), want)
				}
			})
		}
	}
	t.Run("snapshot", func(t *testing.T) {
		s := f.source(t, nil)
		st := connectors.Stream{Name: "snap", Table: "persons", Mode: "snapshot", KeyColumns: []string{"id"}}
		got, _ := readAll(t, s, st, "", 9)
		sorted := slices.Clone(want)
		slices.Sort(sorted)
		if !slices.Equal(got, sorted) {
			t.Fatalf("snapshot read %v, want %v", got, sorted)
		}
	})
}

// TestReadResumes checks that a position from one source resumes in
// another: after a restart nothing is read twice or skipped.
func TestReadResumes(t *testing.T) {
	f := newFixture(t, 30, false)
	s := f.source(t, nil)
	b, err := s.Read(context.Background(), persons, "", 12)
	if err != nil || b.Len() != 12 {
		t.Fatalf("first read: %v, %d rows", err, b.Len())
	}
	rest, _ := readAll(t, f.source(t, nil), persons, b.Positions[4], 5)
	want := recordIDs(t, f.sim.Records(registrysim.Persons))
	if !slices.Equal(rest, want[5:]) {
		t.Fatalf("resumed after row 5: %v, want %v", rest, want[5:])
	}
}

// TestPageModeWindowChange changes records while a page-mode Read is
// between two pages: page numbers shift, and the reader must anchor again
// rather than skip the records that moved up a page.
func TestPageModeWindowChange(t *testing.T) {
	f := newFixture(t, 40, false)
	s := f.source(t, func(c *registry.Config) { c.Pagination = registry.PaginationPage; c.PageSize = 5 })
	if err := f.sim.Inject(registrysim.Fault{Kind: registrysim.FaultSlow, Page: 2, Delay: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond) // while page 2 is delayed
		f.clock.Add(time.Second)
		f.sim.Mutate(3)
	}()
	ids, _ := readAll(t, s, persons, "", 1000)
	final := recordIDs(t, f.sim.Records(registrysim.Persons))
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	for _, id := range final {
		if !seen[id] {
			t.Errorf("record %s never read", id)
		}
	}
	// The reader started again at page 1 after a later page.
	reanchored := false
	maxPage := 0
	for _, r := range f.sim.Requests() {
		p := r.Query["page"]
		if len(p) == 0 {
			continue
		}
		if p[0] == "1" && maxPage > 1 {
			reanchored = true
		}
		maxPage = max(maxPage, atoi(p[0]))
	}
	if !reanchored {
		t.Error("the reader did not anchor again when the window's total changed")
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestSettleDelay: records younger than the server's clock minus the
// settle delay wait for a later read.
func TestSettleDelay(t *testing.T) {
	f := newFixture(t, 5, false)
	s := f.source(t, func(c *registry.Config) { c.SettleDelay = 5 * time.Second })
	ids, pos := readAll(t, s, persons, "", 100)
	if len(ids) != 5 {
		t.Fatalf("read %d of the 5 initial records", len(ids))
	}
	f.clock.Add(time.Minute)
	ch := f.sim.Mutate(2)
	f.clock.Add(2 * time.Second) // younger than 5s
	if more, _ := readAll(t, s, persons, pos, 100); len(more) != 0 {
		t.Fatalf("read %d unsettled records", len(more))
	}
	f.clock.Add(4 * time.Second)
	more, _ := readAll(t, s, persons, pos, 100)
	if len(more) != ch.Persons {
		t.Fatalf("read %d settled records, want %d", len(more), ch.Persons)
	}
}

func TestFlattenedColumns(t *testing.T) {
	f := newFixture(t, 12, false)
	s := f.source(t, nil)
	hh := connectors.Stream{Name: "hh", Table: "households", TimestampColumn: "updated_at", KeyColumns: []string{"id"}}
	b, err := s.Read(context.Background(), hh, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{"head.id_number", "member_count", "poverty.status", "flags.relocated", "poverty.exit_year", "updated_at"} {
		if !slices.Contains(b.Columns, col) {
			t.Errorf("column %s missing from %v", col, b.Columns)
		}
	}
	mc := slices.Index(b.Columns, "member_count")
	if _, ok := b.Rows[0][mc].(json.Number); !ok {
		t.Errorf("member_count is %T, want json.Number", b.Rows[0][mc])
	}
	rl := slices.Index(b.Columns, "flags.relocated")
	if _, ok := b.Rows[0][rl].(bool); !ok {
		t.Errorf("flags.relocated is %T, want bool", b.Rows[0][rl])
	}
	// Declared columns are the batch's columns, cursor columns added.
	st := persons
	st.Columns = []string{"household.id", "flags.deceased", "nope"}
	b, err = s.Read(context.Background(), st, "", 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"household.id", "flags.deceased", "nope", "updated_at", "id"}; !slices.Equal(b.Columns, want) {
		t.Errorf("columns %v, want %v", b.Columns, want)
	}
	if b.Rows[0][2] != nil || b.Rows[0][1] != false {
		t.Errorf("row %v", b.Rows[0])
	}
}

// TestReadErrors checks the errors a Read returns, their class and that
// they name the request without a query or a value.
func TestReadErrors(t *testing.T) {
	f := newFixture(t, 10, false)
	secrets := f.sim.Records(registrysim.Persons)
	var p struct {
		IDNumber string `json:"id_number"`
		Name     string
	}
	_ = json.Unmarshal(secrets[0], &p)
	noPII := func(t *testing.T, err error) {
		t.Helper()
		for _, s := range []string{p.IDNumber, p.Name, "updated_after", "P370"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q holds %q", err, s)
			}
		}
	}
	t.Run("truncated pages beyond the retries", func(t *testing.T) {
		s := f.source(t, nil)
		_ = f.sim.Inject(registrysim.Fault{Kind: registrysim.FaultTruncate, Times: 4})
		_, err := s.Read(context.Background(), persons, "", 5)
		if !errors.Is(err, connectors.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if !strings.Contains(err.Error(), "GET /v1/persons page 1") || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("err = %v, want the path, page and the problem", err)
		}
		noPII(t, err)
	})
	t.Run("500s beyond the retries", func(t *testing.T) {
		s := f.source(t, nil)
		_ = f.sim.Inject(registrysim.Fault{Kind: registrysim.Fault500, Times: 4})
		_, err := s.Read(context.Background(), persons, "", 5)
		if !errors.Is(err, connectors.ErrUnavailable) || !strings.Contains(err.Error(), `HTTP 500 ("internal")`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad secret", func(t *testing.T) {
		s := f.source(t, func(c *registry.Config) { c.Secret = registry.NewSecret([]byte("wrong")) })
		_, err := s.Read(context.Background(), persons, "", 5)
		if err == nil || errors.Is(err, connectors.ErrUnavailable) || !strings.Contains(err.Error(), `HTTP 401 ("bad_signature")`) {
			t.Fatalf("err = %v, want a 401 that is not transient", err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Error("the error shows the secret")
		}
	})
	t.Run("server down", func(t *testing.T) {
		s := f.source(t, func(c *registry.Config) { c.URL = "http://127.0.0.1:1"; c.Retries = -1 })
		_, err := s.Read(context.Background(), persons, "", 5)
		if !errors.Is(err, connectors.ErrUnavailable) || strings.Contains(err.Error(), "order=") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("streams the API cannot serve", func(t *testing.T) {
		s := f.source(t, nil)
		for _, st := range []connectors.Stream{
			{Name: "q", Query: "SELECT 1", TimestampColumn: "updated_at", KeyColumns: []string{"id"}},
			{Name: "k", Table: "persons", TimestampColumn: "updated_at", KeyColumns: []string{"id_number"}},
			{Name: "ts", Table: "persons", TimestampColumn: "changed", KeyColumns: []string{"id"}},
			{Name: "t", Table: "../x", TimestampColumn: "updated_at", KeyColumns: []string{"id"}},
		} {
			if _, err := s.Read(context.Background(), st, "", 5); err == nil || errors.Is(err, connectors.ErrUnavailable) {
				t.Errorf("%s: err = %v", st.Name, err)
			}
		}
		if _, err := s.Read(context.Background(), persons, "k1:[1]", 5); err == nil {
			t.Error("a foreign position was accepted")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		s := f.source(t, nil)
		_ = f.sim.Inject(registrysim.Fault{Kind: registrysim.FaultSlow, Delay: 5 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := s.Read(ctx, persons, "", 5); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the context's", err)
		}
		f.sim.ClearFaults()
	})
}

func TestTLSWithCustomCA(t *testing.T) {
	f := newFixture(t, 3, true)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	s := f.source(t, func(c *registry.Config) { c.TLS.CAFile = ca; c.Signature = registry.SignHMACSM3 })
	if ids, _ := readAll(t, s, persons, "", 10); len(ids) != 3 {
		t.Fatalf("read %d records over TLS", len(ids))
	}
	s = f.source(t, nil) // system roots: the test CA is unknown
	if _, err := s.Read(context.Background(), persons, "", 10); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate error", err)
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, 30, false)
	s := f.source(t, func(c *registry.Config) { c.RequestsPerSecond = 20; c.PageSize = 5 })
	start := time.Now()
	readAll(t, s, persons, "", 100)
	n := len(f.sim.Requests())
	// n requests at 20 per second need at least (n-1)·50ms (the
	// simulator's clock is frozen: measure with the test's own).
	if min := time.Duration(n-1) * 50 * time.Millisecond; n < 7 || time.Since(start) < min {
		t.Fatalf("%d requests in %v, want at least 7 spaced over %v", n, time.Since(start), min)
	}
}

func TestFactory(t *testing.T) {
	t.Setenv("REG_SECRET", "abc")
	decode := func(fc registry.FileConfig) func(any) error {
		return func(out any) error { *out.(*registry.FileConfig) = fc; return nil }
	}
	if _, err := registry.Factory("r", decode(registry.FileConfig{URL: "https://gw.example/registry", AppKey: "a", SecretEnv: "REG_SECRET"}), nil); err != nil {
		t.Fatalf("a good block: %v", err)
	}
	_, err := registry.Factory("r", decode(registry.FileConfig{URL: "ftp://x", SecretEnv: "REG_UNSET", Signature: "md5", Pagination: "offset", PageSize: 5000}), nil)
	if err == nil {
		t.Fatal("a bad block was accepted")
	}
	for _, want := range []string{"secret_env: environment variable REG_UNSET", "url:", "signature:", "pagination:", "page_size:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err %q lacks %q", err, want)
		}
	}
	_, err = registry.New("r", registry.Config{URL: "ftp://x", Secret: registry.NewSecret([]byte("s")), Signature: "md5", Pagination: "offset", PageSize: 5000}, nil)
	for _, want := range []string{"url:", "app_key:", "signature:", "pagination:", "page_size:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v lacks %q", err, want)
		}
	}
}

// TestTLSClientCertificate: a platform that requires a client certificate
// (mutual TLS) accepts the configured one and refuses a client without.
func TestTLSClientCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hpgate-370282"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	clientCA := x509.NewCertPool()
	cert, _ := x509.ParseCertificate(der)
	clientCA.AddCert(cert)

	c := newClock()
	sim, err := registrysim.New(registrysim.Options{Persons: 2, Clock: c.Now, MaxSkew: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(sim.Handler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA}
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(dir, "ca.pem")
	_ = os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	f := &fixture{sim: sim, srv: srv, clock: c}
	s := f.source(t, func(c *registry.Config) { c.TLS = registry.TLSConfig{CAFile: ca, CertFile: certFile, KeyFile: keyFile} })
	if ids, _ := readAll(t, s, persons, "", 10); len(ids) != 2 {
		t.Fatalf("read %d records with a client certificate", len(ids))
	}
	s = f.source(t, func(c *registry.Config) { c.TLS = registry.TLSConfig{CAFile: ca}; c.Retries = -1 })
	if _, err := s.Read(context.Background(), persons, "", 10); err == nil {
		t.Fatal("a client without a certificate was served")
	}
}

// TestLookBack: after catching up, and at most every LookBack/2, the
// source re-reads the last LookBack before its position, so a change
// stamped in the past (a clock corrected backwards) is read; records not
// yet settled do not keep the re-read from happening.
func TestLookBack(t *testing.T) {
	f := newFixture(t, 10, false)
	s := f.source(t, func(c *registry.Config) { c.SettleDelay = 5 * time.Second; c.LookBack = 10 * time.Minute })
	ids, pos := readAll(t, s, persons, "", 100)
	if len(ids) != 20 {
		t.Fatalf("first catch-up: %d rows, want the 10 records and their re-read", len(ids))
	}
	f.clock.Add(time.Minute)
	ch := f.sim.Mutate(2)
	f.clock.Add(10 * time.Second)
	ids, pos = readAll(t, s, persons, pos, 100)
	if len(ids) != ch.Persons {
		t.Fatalf("changes: %d rows, want %d (no re-read due yet)", len(ids), ch.Persons)
	}
	moved := f.sim.MoveBack(registrysim.Persons, 1, 30*time.Second)
	if ids, _ = readAll(t, s, persons, pos, 100); len(ids) != 0 {
		t.Fatalf("read %v before a re-read was due", ids)
	}
	f.clock.Add(5 * time.Minute)
	f.sim.Mutate(1) // stamped now: not settled
	ids, _ = readAll(t, s, persons, pos, 100)
	if !slices.Contains(ids, moved[0]) {
		t.Fatalf("the re-read %v missed the record moved back, %s", ids, moved[0])
	}
}
