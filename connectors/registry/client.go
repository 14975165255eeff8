package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/hpgate/hpgate/connectors"
)

// Page is the body of a successful list response (openapi.yaml, Page).
type Page struct {
	Data []map[string]any `json:"data"`
	Meta Meta             `json:"meta"`
}

// Meta describes a page and echoes the request it answers, so that a
// client can tell a page served for another request (a duplicated or
// reordered page from a proxy or a faulty server) and ask again.
type Meta struct {
	ServerTime   string  `json:"server_time"`
	Order        string  `json:"order"`
	UpdatedAfter string  `json:"updated_after,omitempty"`
	AfterID      string  `json:"after_id,omitempty"`
	UpdatedUntil string  `json:"updated_until,omitempty"`
	Cursor       string  `json:"cursor,omitempty"`
	Page         int     `json:"page,omitempty"`
	PageSize     int     `json:"page_size"`
	Total        *int64  `json:"total,omitempty"`
	HasMore      bool    `json:"has_more"`
	NextCursor   *string `json:"next_cursor"`
}

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

// request is one list request of a Read.
type request struct {
	resource string
	query    url.Values
	page     int // page mode: the page number; 0 in cursor mode
	seq      int // the request's rank in its Read, for messages
}

// badPage is a page the client cannot use as it came (invalid JSON, an
// echo that does not match, rows out of order): it is asked for again.
type badPage struct{ msg string }

func (e *badPage) Error() string { return e.msg }

func newHTTPClient(cfg Config, clock func() time.Time, st *stats, log *slog.Logger) (*retryablehttp.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tc, err := tlsConfig(cfg.TLS)
	if err != nil {
		return nil, err
	}
	tr.TLSClientConfig = tc
	sg := &signer{base: tr, appKey: cfg.AppKey, secret: cfg.Secret, method: cfg.Signature, clock: clock}
	if cfg.RequestsPerSecond > 0 {
		sg.limit = newBucket(cfg.RequestsPerSecond, clock)
	}
	retries := max(cfg.Retries, 0)
	return &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: &counting{next: sg, st: st}, Timeout: cfg.RequestTimeout},
		RetryMax:     retries,
		RetryWaitMin: cfg.RetryWaitMin,
		RetryWaitMax: cfg.RetryWaitMax,
		CheckRetry:   retryablehttp.DefaultRetryPolicy,
		Backoff:      backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		// No Logger: retryablehttp's lines carry URLs and queries.
		RequestLogHook: func(_ retryablehttp.Logger, r *http.Request, attempt int) {
			if attempt > 0 {
				st.update(func(s *Stats) { s.Retries++ })
				log.Debug("registry request retried", "path", r.URL.Path, "attempt", attempt)
			}
		},
	}, nil
}

// tlsConfig reads the CA and the client certificate, or returns nil (the
// system roots) when none is set.
func tlsConfig(c TLSConfig) (*tls.Config, error) {
	if c == (TLSConfig{}) {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fieldErr("tls", "ca_file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fieldErr("tls", "ca_file %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fieldErr("tls", "cert_file/key_file: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// backoff is exponential with jitter: attempt n waits a random time in
// [d/2, d], d = min·2ⁿ capped at max. A 429 or 503 with Retry-After waits
// what the server asked instead (retryablehttp's parser).
func backoff(lo, hi time.Duration, n int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) &&
		resp.Header.Get("Retry-After") != "" {
		return retryablehttp.DefaultBackoff(lo, hi, n, resp)
	}
	d := hi
	if n < 30 {
		if e := lo << n; e > 0 && e < hi {
			d = e
		}
	}
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// describe names a request in errors and logs: method, path and page,
// never the query (it holds cursor values).
func (s *Source) describe(rq request) string {
	return fmt.Sprintf("GET %s page %d", s.path(rq.resource), rq.seq)
}

func (s *Source) path(resource string) string { return s.base.Path + "/v1/" + resource }

// fetch makes one list request, retrying transport faults (through
// retryablehttp) and bad pages (here) with the same backoff, and checks
// the page answers the request. Errors wrap connectors.ErrUnavailable for
// outages; a refusal (4xx) is not.
func (s *Source) fetch(ctx context.Context, rq request) (*Page, error) {
	u := *s.base
	u.Path = s.path(rq.resource)
	u.RawQuery = rq.query.Encode()
	for attempt := 0; ; attempt++ {
		p, err := s.fetchOnce(ctx, u.String(), rq)
		var bad *badPage
		if err == nil || !errors.As(err, &bad) {
			return p, err
		}
		s.stats.update(func(st *Stats) { st.MalformedPages++ })
		if attempt >= max(s.cfg.Retries, 0) {
			return nil, fmt.Errorf("%w: %s: %s (after %d attempts)", connectors.ErrUnavailable, s.describe(rq), bad.msg, attempt+1)
		}
		t := time.NewTimer(backoff(s.cfg.RetryWaitMin, s.cfg.RetryWaitMax, attempt, nil))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		s.stats.update(func(st *Stats) { st.Retries++ })
	}
}

func (s *Source) fetchOnce(ctx context.Context, rawURL string, rq request) (*Page, error) {
	req, err := retryablehttp.NewRequestWithContext(context.WithValue(ctx, resourceKey{}, rq.resource), http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.describe(rq), err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.http.Do(req)
	if resp != nil {
		defer resp.Body.Close()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if resp == nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text carries the URL and the query
		}
		return nil, fmt.Errorf("%w: %s: %v", connectors.ErrUnavailable, s.describe(rq), err)
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, s.statusError(rq, resp, body)
	}
	if rerr != nil {
		return nil, &badPage{msg: "reading the body: " + rerr.Error()}
	}
	var p Page
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return nil, &badPage{msg: "invalid JSON: " + jsonProblem(err)}
	}
	if p.Data == nil || p.Meta.ServerTime == "" {
		return nil, &badPage{msg: "not a page: data or meta.server_time missing"}
	}
	if msg := echoMismatch(p.Meta, rq); msg != "" {
		return nil, &badPage{msg: "the page answers another request: " + msg}
	}
	if msg := checkRecords(&p); msg != "" {
		return nil, &badPage{msg: msg}
	}
	if rq.page == 0 && p.Meta.HasMore && (p.Meta.NextCursor == nil || *p.Meta.NextCursor == "") {
		return nil, &badPage{msg: "has_more without next_cursor"}
	}
	if t, err := parseTime(p.Meta.ServerTime); err == nil {
		s.offset.Store(int64(t.Sub(s.clock())))
	} else if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		s.offset.Store(int64(t.Sub(s.clock())))
	} else {
		return nil, &badPage{msg: "meta.server_time is not an RFC 3339 time"}
	}
	now := time.Now()
	s.stats.update(func(st *Stats) { st.LastPage = now })
	return &p, nil
}

// checkRecords checks that every record has its cursor fields and that
// they increase strictly in the page's order.
func checkRecords(p *Page) string {
	snapshot := p.Meta.Order == IDField
	var prev key
	for i, rec := range p.Data {
		k, _, err := keyOf(rec, snapshot)
		if err != nil {
			return fmt.Sprintf("record %d: %v", i+1, err)
		}
		if i > 0 && k.compare(prev) <= 0 {
			return fmt.Sprintf("records out of %s order at record %d", p.Meta.Order, i+1)
		}
		prev = k
	}
	return ""
}

// jsonProblem describes a JSON error by its kind and offset only: the
// decoder's messages can quote the document.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "truncated"
	case errors.As(err, &se):
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "wrong type for " + te.Field + " at byte " + strconv.FormatInt(te.Offset, 10)
	}
	return "undecodable"
}

// echoMismatch compares a page's echo with the request.
func echoMismatch(m Meta, rq request) string {
	q := rq.query
	if c := q.Get("cursor"); c != "" {
		if m.Cursor != c {
			return "meta.cursor differs"
		}
		return ""
	}
	switch {
	case m.Order != q.Get("order"):
		return "meta.order differs"
	case m.UpdatedAfter != q.Get("updated_after") || m.AfterID != q.Get("after_id") || m.UpdatedUntil != q.Get("updated_until"):
		return "meta.updated_after, after_id or updated_until differs"
	case rq.page > 0 && m.Page != rq.page:
		return fmt.Sprintf("meta.page is %d, asked for %d", m.Page, rq.page)
	case rq.page > 0 && m.Total == nil:
		return "meta.total missing in page mode"
	}
	return ""
}

// statusError turns a non-200 response into an error naming the request
// and the server's error code (its message is not quoted: the contract
// keeps personal data out of it, but hpgate does not rely on that).
func (s *Source) statusError(rq request, resp *http.Response, body []byte) error {
	var eb ErrorBody
	code := "no error code"
	if json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
		code = strconv.Quote(eb.Error.Code)
		if len(code) > 66 {
			code = code[:64] + `…"`
		}
	}
	msg := fmt.Sprintf("%s: HTTP %d (%s)", s.describe(rq), resp.StatusCode, code)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return fmt.Errorf("%w: %s, retries exhausted", connectors.ErrUnavailable, msg)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%s: the registry refused the request's signature or app key; check app_key, the secret, signature and the clock", msg)
	}
	return errors.New(msg)
}
