package registry

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm3"
)

// Signature methods (the X-Registry-Signature-Method header).
const (
	SignHMACSHA256 = "hmac-sha256"
	SignHMACSM3    = "hmac-sm3"
)

// Signature headers of every request.
const (
	HeaderAppKey    = "X-Registry-App-Key"
	HeaderTimestamp = "X-Registry-Timestamp"
	HeaderNonce     = "X-Registry-Nonce"
	HeaderMethod    = "X-Registry-Signature-Method"
	HeaderSignature = "X-Registry-Signature"
)

// emptySHA256 is the hex SHA-256 of an empty body (every GET).
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func newMAC(method string) (func() hash.Hash, error) {
	switch method {
	case SignHMACSHA256:
		return sha256.New, nil
	case SignHMACSM3:
		return sm3.New, nil
	}
	return nil, fmt.Errorf("%q is not %s or %s", method, SignHMACSHA256, SignHMACSM3)
}

// CanonicalQuery is the query part of the canonical string: every
// parameter as key=value, both percent-encoded as RFC 3986 unreserved
// characters only (a space is %20), sorted by key then value, joined by &.
func CanonicalQuery(q url.Values) string {
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, escape(k)+"="+escape(v))
		}
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "&")
}

func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// CanonicalString is what a request's signature covers, eight lines joined
// by "\n" (no final newline):
//
//	signature method      hmac-sha256
//	HTTP method           GET
//	path                  /v1/persons (as sent, percent-encoded)
//	canonical query       after_id=P1&page_size=500&updated_after=...
//	app key               hpgate-370282
//	timestamp             1764768000 (Unix seconds)
//	nonce                 32 hex digits, unique per request
//	body hash             hex SHA-256 of the body (of nothing for GET)
func CanonicalString(method, httpMethod, path string, query url.Values, appKey, timestamp, nonce, bodySHA256 string) string {
	return strings.Join([]string{method, httpMethod, path, CanonicalQuery(query), appKey, timestamp, nonce, bodySHA256}, "\n")
}

// Sign returns the lower-case hex HMAC of canonical under secret with the
// signature method (SignHMACSHA256 or SignHMACSM3).
func Sign(method string, secret []byte, canonical string) (string, error) {
	h, err := newMAC(method)
	if err != nil {
		return "", err
	}
	mac := hmac.New(h, secret)
	mac.Write([]byte(canonical))
	return hex.EncodeToString(mac.Sum(nil)), nil
}

// Verify checks the signature headers of a GET request r under the secret
// of its app key and returns what is wrong, or nil. now and skew bound the
// timestamp; the caller checks the nonce against replays.
func Verify(r *http.Request, secretOf func(appKey string) ([]byte, bool), now time.Time, skew time.Duration) error {
	appKey, ts, nonce := r.Header.Get(HeaderAppKey), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderNonce)
	method, sig := strings.ToLower(r.Header.Get(HeaderMethod)), r.Header.Get(HeaderSignature)
	if appKey == "" || ts == "" || nonce == "" || sig == "" {
		return fmt.Errorf("missing signature headers")
	}
	secret, ok := secretOf(appKey)
	if !ok {
		return fmt.Errorf("unknown app key")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > skew || d < -skew {
		return fmt.Errorf("timestamp outside the allowed skew of %v", skew)
	}
	want, err := Sign(method, secret, CanonicalString(method, r.Method, r.URL.EscapedPath(), r.URL.Query(), appKey, ts, nonce, emptySHA256))
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(sig))) {
		return fmt.Errorf("signature does not match")
	}
	return nil
}

// signer is the transport under the retrying client: it waits for the
// rate limit, then signs each attempt afresh (new timestamp and nonce, so
// a retry is not refused as a replay).
type signer struct {
	base   http.RoundTripper
	appKey string
	secret Secret
	method string
	clock  func() time.Time
	limit  *bucket // nil without a cap
}

func (s *signer) RoundTrip(req *http.Request) (*http.Response, error) {
	if s.limit != nil {
		if err := s.limit.wait(req.Context()); err != nil {
			return nil, err
		}
	}
	r, err := s.sign(req)
	if err != nil {
		return nil, err
	}
	return s.base.RoundTrip(r)
}

// sign returns a copy of req with fresh signature headers.
func (s *signer) sign(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	var nb [16]byte
	_, _ = rand.Read(nb[:])
	ts, nonce := strconv.FormatInt(s.clock().Unix(), 10), hex.EncodeToString(nb[:])
	sig, err := Sign(s.method, s.secret.reveal(), CanonicalString(s.method, r.Method, r.URL.EscapedPath(), r.URL.Query(), s.appKey, ts, nonce, emptySHA256))
	if err != nil {
		return nil, err
	}
	r.Header.Set(HeaderAppKey, s.appKey)
	r.Header.Set(HeaderTimestamp, ts)
	r.Header.Set(HeaderNonce, nonce)
	r.Header.Set(HeaderMethod, s.method)
	r.Header.Set(HeaderSignature, sig)
	return r, nil
}
