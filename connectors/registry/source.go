package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/hpgate/hpgate/connectors"
)

// Cursor fields of the contract: every resource orders by (updated_at, id)
// in incremental reads and by id in snapshot reads.
const (
	TimestampField = "updated_at"
	IDField        = "id"
)

var reResource = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Source reads resources of the registry API. It implements
// connectors.Source and holds no position: the pipeline owns positions.
// Read is safe for concurrent use; the HTTP connections, the rate limit and
// the estimate of the server's clock are shared.
type Source struct {
	name  string
	cfg   Config
	base  *url.URL
	http  *retryablehttp.Client
	log   *slog.Logger
	clock func() time.Time

	offset atomic.Int64 // server clock minus ours, from the latest page
	closed atomic.Bool
	stats  *stats
}

var _ connectors.Source = (*Source)(nil)

// New validates cfg and returns a Source named name. It reads the TLS
// files but does not connect. Its error joins every problem, each a
// *sqlsource.FieldError naming its config key. log may be nil.
func New(name string, cfg Config, log *slog.Logger) (*Source, error) {
	cfg = cfg.withDefaults()
	errs := cfg.validate()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var hc *retryablehttp.Client
	clock := time.Now
	st := &stats{}
	if len(errs) == 0 {
		var err error
		if hc, err = newHTTPClient(cfg, clock, st, log); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	base, _ := url.Parse(cfg.URL) // validated
	base.Path = trimSlash(base.Path)
	return &Source{name: name, cfg: cfg, base: base, http: hc, log: log, clock: clock, stats: st}, nil
}

func trimSlash(p string) string {
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

// Name returns the source instance name.
func (s *Source) Name() string { return s.name }

// BatchSize returns the configured batch size (default 2000).
func (s *Source) BatchSize() int { return s.cfg.BatchSize }

// PollInterval returns the configured wait after an empty batch (default 30s).
func (s *Source) PollInterval() time.Duration { return s.cfg.PollInterval }

// Close releases idle connections; later Reads return connectors.ErrClosed.
func (s *Source) Close() error {
	if !s.closed.Swap(true) {
		s.http.HTTPClient.CloseIdleConnections()
	}
	return nil
}

// Read returns up to limit records of the resource st.Table strictly after
// the position after, flattened into columns (see the package doc), making
// as many requests as it needs. limit <= 0 means Config.BatchSize.
//
// Incremental streams (cursor timestamp updated_at, key id) read in
// (updated_at, id) order up to the server's clock minus the settle delay,
// with look-back re-reads after catching up; snapshot streams read every
// record in id order. An empty batch and a nil error mean nothing new.
// Errors wrap connectors.ErrUnavailable for outages (5xx, 429, timeouts,
// lost connections, pages still malformed after the retries); a refused
// request (4xx), a stream the API cannot serve or a malformed position is
// not. Error texts name the request path and page, never a query or value.
func (s *Source) Read(ctx context.Context, st connectors.Stream, after connectors.Position, limit int) (*connectors.Batch, error) {
	if s.closed.Load() {
		return nil, connectors.ErrClosed
	}
	snapshot, err := checkStream(st)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", st.Name, err)
	}
	pos, err := decodePosition(after)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", st.Name, err)
	}
	if limit <= 0 {
		limit = s.cfg.BatchSize
	}
	r := &reader{s: s, st: st, cur: pos, limit: limit, snapshot: snapshot}
	if err := r.run(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.stats.countRead(err)
		return nil, fmt.Errorf("read %s: %w", st.Name, err)
	}
	b := r.batch()
	b.Next = after
	if n := len(b.Positions); n > 0 {
		b.Next = b.Positions[n-1]
	}
	return b, nil
}

// checkStream says whether st is a snapshot stream, or what the API cannot
// serve.
func checkStream(st connectors.Stream) (snapshot bool, err error) {
	if st.Query != "" || st.Where != "" {
		return false, errors.New("the registry API takes no query or where: name a resource with table")
	}
	if !reResource.MatchString(st.Table) {
		return false, fmt.Errorf("table %q is not a registry resource name (persons, households)", st.Table)
	}
	if len(st.KeyColumns) != 1 || st.KeyColumns[0] != IDField {
		return false, fmt.Errorf("the registry API's key is %s: set cursor keys: [%s]", IDField, IDField)
	}
	switch st.Mode {
	case "", "incremental":
		if st.TimestampColumn != TimestampField || st.TimestampFallback != "" {
			return false, fmt.Errorf("the registry API's cursor timestamp is %s, with no fallback", TimestampField)
		}
		return false, nil
	case "snapshot":
		return true, nil
	}
	return false, fmt.Errorf("unknown cursor mode %q", st.Mode)
}

// reader is one Read: the position it has reached and the rows so far.
type reader struct {
	s        *Source
	st       connectors.Stream
	cur      position
	limit    int
	snapshot bool

	recs  []map[string]any
	poss  []connectors.Position
	seq   int  // requests made
	swept bool // a look-back re-read began in this Read
}

// anchor is the key after which the reader takes rows.
func (r *reader) anchor() (key, error) {
	if r.cur.TS == "" {
		return key{id: r.cur.ID}, nil
	}
	t, err := parseTime(r.cur.TS)
	return key{ts: t, id: r.cur.ID}, err
}

func (r *reader) run(ctx context.Context) error {
	for len(r.recs) < r.limit {
		more, err := r.pass(ctx)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// pass pages through the API from the current position until the batch is
// full, the data ends, or the window must be anchored again. more says
// whether run should go on.
func (r *reader) pass(ctx context.Context) (more bool, err error) {
	s := r.s
	q := url.Values{}
	q.Set("page_size", strconv.Itoa(s.cfg.PageSize))
	if r.snapshot {
		q.Set("order", IDField)
	} else {
		q.Set("order", TimestampField)
		if r.cur.TS != "" {
			q.Set("updated_after", r.cur.TS)
		}
		if s.cfg.Pagination == PaginationPage {
			// Page numbers need a window that new changes do not enter:
			// bound it at the server's clock (as last seen) minus the
			// settle delay. Cursor pages need no bound: take trims them.
			est := s.clock().Add(time.Duration(s.offset.Load())).Add(-max(s.cfg.SettleDelay, 0))
			q.Set("updated_until", est.UTC().Format(TimeLayout))
		}
	}
	if r.cur.ID != "" {
		q.Set("after_id", r.cur.ID)
	}
	first := q
	var total *int64
	for page := 1; ; page++ {
		rq := request{resource: r.st.Table, query: first}
		if s.cfg.Pagination == PaginationPage {
			rq.query = cloneWith(first, "page", strconv.Itoa(page))
			rq.page = page
		}
		r.seq++
		rq.seq = r.seq
		p, err := s.fetch(ctx, rq)
		if err != nil {
			return false, err
		}
		if rq.page > 0 {
			if total == nil {
				total = p.Meta.Total
			} else if *total != *p.Meta.Total {
				// The window changed under the page numbers: anchor anew
				// at the last row taken, so no row slips between pages.
				return true, nil
			}
		}
		unsettled, err := r.take(p)
		if err != nil {
			return false, err
		}
		if len(r.recs) >= r.limit {
			return false, nil
		}
		if unsettled || !p.Meta.HasMore {
			// Caught up: what is left, if anything, is not settled yet.
			return r.caughtUp(p.Meta.ServerTime), nil
		}
		if s.cfg.Pagination == PaginationCursor {
			first = url.Values{"cursor": {*p.Meta.NextCursor}, "page_size": {strconv.Itoa(s.cfg.PageSize)}}
		}
	}
}

func cloneWith(q url.Values, k, v string) url.Values {
	out := make(url.Values, len(q)+1)
	for kk, vv := range q {
		out[kk] = vv
	}
	out.Set(k, v)
	return out
}

// take adds a page's rows to the batch, up to a full batch. It stops at
// the first row younger than the settle cut-off (unsettled is then true).
func (r *reader) take(p *Page) (unsettled bool, err error) {
	s := r.s
	var cutoff time.Time
	if !r.snapshot && s.cfg.SettleDelay > 0 {
		now, _ := parseTime(p.Meta.ServerTime) // checked by fetch
		cutoff = now.Add(-s.cfg.SettleDelay)
	}
	for _, rec := range p.Data {
		k, tsText, _ := keyOf(rec, r.snapshot) // checked by fetch
		a, err := r.anchor()
		if err != nil {
			return false, err
		}
		if k.compare(a) <= 0 {
			continue // served again (a duplicated page, a re-anchor)
		}
		if !cutoff.IsZero() && k.ts.After(cutoff) {
			return true, nil // not settled yet: read at a later poll
		}
		if r.cur.sweeping() {
			hw, _ := parseTime(r.cur.HWTS)
			if k.compare(key{ts: hw, id: r.cur.HWID}) > 0 {
				r.endSweep()
			}
		}
		r.cur.TS, r.cur.ID = tsText, k.id
		if r.snapshot {
			r.cur.TS = ""
		}
		r.recs = append(r.recs, rec)
		r.poss = append(r.poss, r.cur.encode())
		if len(r.recs) >= r.limit {
			return false, nil
		}
	}
	return false, nil
}

// endSweep returns from a look-back re-read to the position it left.
func (r *reader) endSweep() {
	r.cur = position{TS: r.cur.HWTS, ID: r.cur.HWID, Swept: r.cur.Swept}
}

// caughtUp is called when the data ends. A finished look-back re-read
// returns to its high-water mark; otherwise, when one is due, a re-read of
// the last LookBack begins (more is then true).
func (r *reader) caughtUp(serverTime string) (more bool) {
	s := r.s
	if r.snapshot || s.cfg.LookBack <= 0 || r.cur.TS == "" {
		return false
	}
	if r.cur.sweeping() {
		r.endSweep()
		if n := len(r.poss); n > 0 {
			r.poss[n-1] = r.cur.encode()
		}
		return false
	}
	now, err := parseTime(serverTime)
	if err != nil || r.swept {
		return false
	}
	if r.cur.Swept != "" {
		last, err := parseTime(r.cur.Swept)
		if err == nil && now.Sub(last) < s.cfg.LookBack/2 {
			return false
		}
	}
	hw, err := parseTime(r.cur.TS)
	if err != nil {
		return false
	}
	r.swept = true
	r.cur = position{
		TS: hw.Add(-s.cfg.LookBack).Format(TimeLayout), ID: "",
		HWTS: r.cur.TS, HWID: r.cur.ID, Swept: now.Format(TimeLayout),
	}
	return true
}

// keyOf reads a record's cursor fields.
func keyOf(rec map[string]any, snapshot bool) (key, string, error) {
	id, ok := rec[IDField].(string)
	if !ok || id == "" {
		return key{}, "", fmt.Errorf("no string %s", IDField)
	}
	if snapshot {
		return key{id: id}, "", nil
	}
	ts, ok := rec[TimestampField].(string)
	if !ok {
		return key{}, "", fmt.Errorf("no string %s", TimestampField)
	}
	t, err := parseTime(ts)
	if err != nil {
		return key{}, "", fmt.Errorf("%s is not an RFC 3339 time", TimestampField)
	}
	return key{ts: t, id: id}, ts, nil
}

// batch flattens the records into a Batch.
func (r *reader) batch() *connectors.Batch {
	flat := make([]map[string]any, len(r.recs))
	for i, rec := range r.recs {
		flat[i] = Flatten(rec)
	}
	cols := slices.Clone(r.st.Columns)
	if len(cols) == 0 {
		for _, f := range flat {
			for k := range f {
				cols = append(cols, k)
			}
		}
		slices.Sort(cols)
		cols = slices.Compact(cols)
	} else {
		for _, c := range append([]string{r.st.TimestampColumn}, r.st.KeyColumns...) {
			if c != "" && !slices.Contains(cols, c) {
				cols = append(cols, c)
			}
		}
	}
	b := &connectors.Batch{Columns: cols, Rows: make([][]any, len(flat)), Positions: r.poss}
	for i, f := range flat {
		row := make([]any, len(cols))
		for j, c := range cols {
			row[j] = f[c]
		}
		b.Rows[i] = row
	}
	return b
}

// Flatten turns a record into columns: a nested object's fields are named
// by their dotted path (household.id, flags.deceased), arrays are kept as
// their JSON text, numbers as json.Number (their exact text), and strings,
// booleans and nulls as they are.
func Flatten(rec map[string]any) map[string]any {
	out := make(map[string]any, len(rec))
	flattenInto(out, "", rec)
	return out
}

func flattenInto(out map[string]any, prefix string, m map[string]any) {
	for k, v := range m {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		switch x := v.(type) {
		case map[string]any:
			flattenInto(out, name, x)
		case []any:
			b, err := json.Marshal(x)
			if err != nil {
				out[name] = nil
				continue
			}
			out[name] = string(b)
		default:
			out[name] = v
		}
	}
}
