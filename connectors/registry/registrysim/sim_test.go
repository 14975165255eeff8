package registrysim_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v4"

	"github.com/hpgate/hpgate/connectors/registry"
	"github.com/hpgate/hpgate/connectors/registry/registrysim"
	"github.com/hpgate/hpgate/mappings/normalize"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var start = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)

func newSim(t *testing.T, persons int) (*registrysim.Sim, *httptest.Server, *time.Time) {
	t.Helper()
	now := start.Add(time.Hour)
	sim, err := registrysim.New(registrysim.Options{Persons: persons, Seed: 3, Start: start, Clock: func() time.Time { return now }, MaxSkew: 100 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return sim, srv, &now
}

// get makes a signed request (nonce may be reused to test replays).
func get(t *testing.T, base, path string, q url.Values, secret, nonce string) (int, []byte) {
	t.Helper()
	if nonce == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		nonce = hex.EncodeToString(b)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig, err := registry.Sign(registry.SignHMACSHA256, []byte(secret),
		registry.CanonicalString(registry.SignHMACSHA256, "GET", path, q, registrysim.DefaultAppKey, ts, nonce, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", base+path+"?"+q.Encode(), nil)
	for k, v := range map[string]string{
		registry.HeaderAppKey: registrysim.DefaultAppKey, registry.HeaderTimestamp: ts, registry.HeaderNonce: nonce,
		registry.HeaderMethod: registry.SignHMACSHA256, registry.HeaderSignature: sig,
	} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// openAPISchemas compiles the component schemas of openapi.yaml.
func openAPISchemas(t *testing.T) func(name string) *jsonschema.Schema {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(registry.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	comps, _ := doc["components"].(map[string]any)
	js, err := json.Marshal(map[string]any{"$schema": "https://json-schema.org/draft/2020-12/schema", "components": map[string]any{"schemas": comps["schemas"]}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("openapi.json", res); err != nil {
		t.Fatal(err)
	}
	return func(name string) *jsonschema.Schema {
		s, err := c.Compile("openapi.json#/components/schemas/" + name)
		if err != nil {
			t.Fatalf("schema %s: %v", name, err)
		}
		return s
	}
}

func validate(t *testing.T, s *jsonschema.Schema, what string, body []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: not JSON: %v", what, err)
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("%s does not match openapi.yaml: %v", what, err)
	}
}

// TestResponsesMatchOpenAPI keeps the simulator and the contract from
// drifting: every kind of response validates against openapi.yaml.
func TestResponsesMatchOpenAPI(t *testing.T) {
	schema := openAPISchemas(t)
	sim, srv, now := newSim(t, 60)
	*now = now.Add(time.Minute)
	ch := sim.Mutate(40) // exits, deaths, removals, new members
	if ch.Deaths == 0 || ch.Removals == 0 || ch.New == 0 || ch.Exits+ch.Updates == 0 {
		t.Fatalf("mutations do not cover every kind: %+v", ch)
	}
	for _, tc := range []struct {
		path, schema string
		q            url.Values
	}{
		{"/v1/persons", "PersonPage", url.Values{"page_size": {"1000"}}},
		{"/v1/persons", "PersonPage", url.Values{"page_size": {"7"}, "page": {"2"}, "updated_until": {"2026-12-03T09:00:00Z"}}},
		{"/v1/persons", "PersonPage", url.Values{"page_size": {"7"}, "order": {"id"}, "after_id": {"P3"}}},
		{"/v1/households", "HouseholdPage", url.Values{"page_size": {"1000"}}},
		{"/v1/households", "HouseholdPage", url.Values{"page_size": {"5"}, "updated_after": {"2026-12-03T16:00:00.000+08:00"}, "after_id": {"1"}}},
	} {
		code, body := get(t, srv.URL, tc.path, tc.q, registrysim.DefaultSecret, "")
		if code != 200 {
			t.Fatalf("%s %v: HTTP %d %s", tc.path, tc.q, code, body)
		}
		validate(t, schema(tc.schema), tc.path+"?"+tc.q.Encode(), body)
	}
	// A cursor page, and the error bodies.
	_, body := get(t, srv.URL, "/v1/persons", url.Values{"page_size": {"3"}}, registrysim.DefaultSecret, "")
	var p registry.Page
	_ = json.Unmarshal(body, &p)
	if p.Meta.NextCursor == nil {
		t.Fatal("no next_cursor")
	}
	code, body := get(t, srv.URL, "/v1/persons", url.Values{"page_size": {"3"}, "cursor": {*p.Meta.NextCursor}}, registrysim.DefaultSecret, "")
	if code != 200 {
		t.Fatalf("cursor page: HTTP %d", code)
	}
	validate(t, schema("PersonPage"), "a cursor page", body)
	_ = sim.Inject(registrysim.Fault{Kind: registrysim.Fault429, RetryAfter: 2 * time.Second})
	for _, want := range []int{401, 400, 404, 429} {
		var code int
		var body []byte
		switch want {
		case 401:
			code, body = get(t, srv.URL, "/v1/persons", url.Values{}, "wrong secret", "")
		case 400:
			code, body = get(t, srv.URL, "/v1/persons", url.Values{"page_size": {"5000"}}, registrysim.DefaultSecret, "")
		case 404:
			code, body = get(t, srv.URL, "/v1/villages", url.Values{}, registrysim.DefaultSecret, "")
		case 429:
			code, body = get(t, srv.URL, "/v1/persons", url.Values{}, registrysim.DefaultSecret, "")
		}
		if code != want {
			t.Errorf("HTTP %d, want %d", code, want)
		}
		validate(t, schema("Error"), "error "+strconv.Itoa(want), body)
	}
}

func TestSignatureChecks(t *testing.T) {
	_, srv, _ := newSim(t, 3)
	req, _ := http.NewRequest("GET", srv.URL+"/v1/persons", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("unsigned request: HTTP %d, want 401", resp.StatusCode)
	}
	nonce := "00112233445566778899aabbccddeeff"
	if code, _ := get(t, srv.URL, "/v1/persons", url.Values{}, registrysim.DefaultSecret, nonce); code != 200 {
		t.Fatalf("signed request: HTTP %d", code)
	}
	if code, body := get(t, srv.URL, "/v1/persons", url.Values{}, registrysim.DefaultSecret, nonce); code != 401 || !bytes.Contains(body, []byte("replayed_nonce")) {
		t.Errorf("replayed nonce: HTTP %d %s", code, body)
	}
}

// TestDeterministic: one seed, one county; valid ID numbers.
func TestDeterministic(t *testing.T) {
	a, _, _ := newSim(t, 50)
	b, _, _ := newSim(t, 50)
	ra, rb := a.Records(registrysim.Persons), b.Records(registrysim.Persons)
	if len(ra) != 50 || !slices.EqualFunc(ra, rb, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) }) {
		t.Fatal("two simulators with one seed differ")
	}
	for _, r := range ra {
		var p registrysim.Person
		_ = json.Unmarshal(r, &p)
		if _, err := normalize.IDCard(p.IDNumber); err != nil {
			t.Errorf("person %s: invalid ID number: %v", p.ID, err)
		}
	}
	if n := a.Versions(registrysim.Households); n != a.Count(registrysim.Households) || n == 0 {
		t.Errorf("households: %d versions for %d records", n, a.Count(registrysim.Households))
	}
}

func TestParseFault(t *testing.T) {
	f, err := registrysim.ParseFault("429,times=2,retry_after=3s,resource=persons,page=2")
	if err != nil || f != (registrysim.Fault{Kind: "429", Times: 2, RetryAfter: 3 * time.Second, Resource: "persons", Page: 2}) {
		t.Errorf("ParseFault = %+v, %v", f, err)
	}
	for _, bad := range []string{"teapot", "slow", "500,times", "500,colour=red"} {
		if _, err := registrysim.ParseFault(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
