package registry

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm3"
)

// The expected values were computed independently with OpenSSL:
//
//	openssl dgst -sha256 -hmac test-secret canon.txt
//	openssl dgst -sm3 -hmac test-secret canon-sm3.txt
func TestSignKnownAnswer(t *testing.T) {
	q := url.Values{}
	q.Set("page_size", "500")
	q.Set("updated_after", "2026-12-03T09:15:02.120+08:00")
	q.Set("order", "updated_at")
	q.Set("after_id", "P1")
	for _, tc := range []struct{ method, want string }{
		{SignHMACSHA256, "5f90dd87b556b78e4c96dbb8acd09ae1e80e9713d4a83bac688ae6496452c5f4"},
		{SignHMACSM3, "2a366793cbf75a6e90a13264bb9d108409dc4a281ae24c1be5729515289310af"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			canon := CanonicalString(tc.method, "GET", "/v1/persons", q, "hpgate-370282", "1764768000", "0123456789abcdef0123456789abcdef", emptySHA256)
			wantCanon := tc.method + "\nGET\n/v1/persons\n" +
				"after_id=P1&order=updated_at&page_size=500&updated_after=2026-12-03T09%3A15%3A02.120%2B08%3A00\n" +
				"hpgate-370282\n1764768000\n0123456789abcdef0123456789abcdef\n" + emptySHA256
			if canon != wantCanon {
				t.Fatalf("canonical string:\n%s\nwant:\n%s", canon, wantCanon)
			}
			got, err := Sign(tc.method, []byte("test-secret"), canon)
			if err != nil || got != tc.want {
				t.Fatalf("Sign = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
	// GB/T 32905 example 1: SM3("abc").
	h := sm3.New()
	h.Write([]byte("abc"))
	if got := strings.ToLower(string(hexOf(h.Sum(nil)))); got != "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0" {
		t.Errorf("SM3(abc) = %s", got)
	}
	if _, err := Sign("hmac-md5", nil, ""); err == nil {
		t.Error("an unknown signature method was accepted")
	}
}

func hexOf(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}

func TestCanonicalQueryEscapesAndSorts(t *testing.T) {
	q := url.Values{"b": {"x y", "a+b"}, "a": {"é/~"}}
	if got, want := CanonicalQuery(q), "a=%C3%A9%2F~&b=a%2Bb&b=x%20y"; got != want {
		t.Errorf("CanonicalQuery = %s, want %s", got, want)
	}
}

// TestVerify signs a request through the client's transport and checks
// that the server side accepts it, and refuses every tampering.
func TestVerify(t *testing.T) {
	now := time.Unix(1764768000, 0)
	secretOf := func(k string) ([]byte, bool) { return []byte("s3cret"), k == "app" }
	for _, method := range []string{SignHMACSHA256, SignHMACSM3} {
		sg := &signer{appKey: "app", secret: NewSecret([]byte("s3cret")), method: method, clock: func() time.Time { return now }}
		req := httptest.NewRequest("GET", "http://x/v1/persons?order=updated_at&after_id=P%201", nil)
		signed, err := sg.sign(req)
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(signed, secretOf, now, time.Minute); err != nil {
			t.Fatalf("%s: a good signature was refused: %v", method, err)
		}
		for name, mutate := range map[string]func(*http.Request){
			"query":     func(r *http.Request) { r.URL.RawQuery = "order=updated_at&after_id=P2" },
			"path":      func(r *http.Request) { r.URL.Path = "/v1/households" },
			"app key":   func(r *http.Request) { r.Header.Set(HeaderAppKey, "other") },
			"nonce":     func(r *http.Request) { r.Header.Set(HeaderNonce, strings.Repeat("0", 32)) },
			"signature": func(r *http.Request) { r.Header.Set(HeaderSignature, strings.Repeat("a", 64)) },
			"method": func(r *http.Request) {
				r.Header.Set(HeaderMethod, map[string]string{SignHMACSHA256: SignHMACSM3, SignHMACSM3: SignHMACSHA256}[method])
			},
		} {
			bad := signed.Clone(signed.Context())
			mutate(bad)
			if err := Verify(bad, secretOf, now, time.Minute); err == nil {
				t.Errorf("%s: tampered %s accepted", method, name)
			}
		}
		if err := Verify(signed, secretOf, now.Add(2*time.Minute), time.Minute); err == nil {
			t.Errorf("%s: a stale timestamp was accepted", method)
		}
	}
}
