package registrysim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hpgate/hpgate/connectors/registry"
)

// Resources served.
const (
	Persons    = "persons"
	Households = "households"
)

const timeLayout = registry.TimeLayout

// Options configure a simulator. A zero field selects its default.
type Options struct {
	// County is the 6-digit GB/T 2260 county code. The default is 370282
	// (Jimo), whose villages come from the Jimo pack's area.csv; another
	// county gets synthetic village codes under its own code.
	County string
	// Persons is the size of the initial population. The default is 200.
	Persons int
	// Seed makes the data reproducible. The default is 1.
	Seed uint64
	// AppKey and Secret are the only credentials accepted. The defaults
	// are DefaultAppKey and DefaultSecret.
	AppKey string
	Secret []byte
	// Clock is the simulator's clock (server_time, Date, signature skew,
	// change times). The default is time.Now.
	Clock func() time.Time
	// Start is the change time of the initial population; the default is
	// the clock's now minus one hour.
	Start time.Time
	// MaxSkew bounds the signature timestamp's distance from the clock.
	// The default is 5m.
	MaxSkew time.Duration
}

// Default credentials of a simulator.
const (
	DefaultAppKey = "hpgate-sim"
	DefaultSecret = "registry-sim-secret-not-for-production"
)

// Sim is a synthetic county's registry behind the HTTP contract of
// openapi.yaml. It is safe for concurrent use.
type Sim struct {
	county string
	areas  []string
	appKey string
	secret []byte
	clock  func() time.Time
	skew   time.Duration
	zone   *time.Location

	mu         sync.Mutex
	rng        *rand.Rand
	persons    []*Person
	byID       map[string]*Person
	households []*Household
	hhSeq      int
	personSeq  int
	last       time.Time
	versions   map[string]int
	nonces     map[string]time.Time
	faults     []*Fault
	log        []Request
	lastBody   map[string][]byte // per resource: the latest page served
}

// Request is one request the simulator answered, for tests.
type Request struct {
	At       time.Time
	Resource string
	Query    map[string][]string
	Status   int
	Fault    string
}

// New builds the synthetic county.
func New(opts Options) (*Sim, error) {
	if opts.County == "" {
		opts.County = "370282"
	}
	if len(opts.County) != 6 || strings.Trim(opts.County, "0123456789") != "" {
		return nil, fmt.Errorf("registrysim: county %q is not a 6-digit code", opts.County)
	}
	if opts.Persons <= 0 {
		opts.Persons = 200
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.AppKey == "" {
		opts.AppKey = DefaultAppKey
	}
	if len(opts.Secret) == 0 {
		opts.Secret = []byte(DefaultSecret)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.MaxSkew == 0 {
		opts.MaxSkew = 5 * time.Minute
	}
	if opts.Start.IsZero() {
		opts.Start = opts.Clock().Add(-time.Hour)
	}
	s := &Sim{
		county: opts.County, appKey: opts.AppKey, secret: opts.Secret, clock: opts.Clock, skew: opts.MaxSkew,
		zone: time.FixedZone("+08:00", 8*3600), rng: newRand(opts.Seed), byID: map[string]*Person{},
		versions: map[string]int{}, nonces: map[string]time.Time{}, lastBody: map[string][]byte{},
	}
	s.areas = jimoAreas
	if opts.County != "370282" {
		s.areas = nil
		for t := 1; t <= 3; t++ {
			for v := 1; v <= 4; v++ {
				s.areas = append(s.areas, fmt.Sprintf("%s%03d%03d", opts.County, 100+t, 200+v))
			}
		}
	}
	s.populate(opts.Persons, opts.Start)
	return s, nil
}

// Handler serves the contract under /v1/, the OpenAPI file at
// /openapi.yaml, and the simulator's admin endpoints under /admin/
// (faults, mutations; unsigned: a simulator is for tests and demos).
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/{resource}", s.serveList)
	mux.HandleFunc("GET /openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(registry.OpenAPI)
	})
	mux.HandleFunc("POST /admin/faults", s.serveAddFault)
	mux.HandleFunc("DELETE /admin/faults", func(w http.ResponseWriter, _ *http.Request) { s.ClearFaults(); w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("POST /admin/mutate", s.serveMutate)
	mux.HandleFunc("POST /admin/backwards", s.serveBackwards)
	return mux
}

// County returns the county code.
func (s *Sim) County() string { return s.county }

// AppKey returns the app key accepted.
func (s *Sim) AppKey() string { return s.appKey }

// Versions is the number of record versions of a resource ever written
// (the initial records plus one per change): what a reader that saw every
// change once has read.
func (s *Sim) Versions(resource string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.versions[resource]
}

// Count is the number of records of a resource.
func (s *Sim) Count(resource string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if resource == Households {
		return len(s.households)
	}
	return len(s.persons)
}

// Requests returns the requests answered so far.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// Records returns the current records of a resource as the API serves
// them, in (updated_at, id) order.
func (s *Sim) Records(resource string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.sorted(resource, false)
	out := make([]json.RawMessage, len(all))
	for i, r := range all {
		out[i], _ = json.Marshal(r.v)
	}
	return out
}

// item is a record with its cursor fields.
type item struct {
	id string
	at time.Time
	v  any
}

func (s *Sim) sorted(resource string, byID bool) []item {
	var out []item
	switch resource {
	case Persons:
		for _, p := range s.persons {
			out = append(out, item{p.ID, p.updated, p})
		}
	case Households:
		for _, h := range s.households {
			out = append(out, item{h.ID, h.updated, h})
		}
	}
	slices.SortFunc(out, func(a, b item) int {
		if !byID {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}

// listQuery is a decoded list request.
type listQuery struct {
	Order        string `json:"o"`
	UpdatedAfter string `json:"ua,omitempty"`
	AfterID      string `json:"ai,omitempty"`
	UpdatedUntil string `json:"uu,omitempty"`
	Page         int    `json:"p"` // rank of the page in its sequence, 1-based
	cursor       string
	pageMode     bool
	size         int
}

type apiError struct {
	status int
	code   string
	msg    string
}

func parseQuery(q map[string][]string) (listQuery, *apiError) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	lq := listQuery{size: 100}
	if ps := get("page_size"); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > registry.MaxPageSize {
			return lq, &apiError{400, "bad_request", "page_size must be 1 to 1000"}
		}
		lq.size = n
	}
	if c := get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || json.Unmarshal(b, &lq) != nil || lq.Page < 1 {
			return lq, &apiError{400, "bad_cursor", "cursor is not one this server issued"}
		}
		lq.cursor = c
		return lq, nil
	}
	lq.Order, lq.UpdatedAfter, lq.AfterID, lq.UpdatedUntil, lq.Page = get("order"), get("updated_after"), get("after_id"), get("updated_until"), 1
	switch lq.Order {
	case "":
		lq.Order = registry.TimestampField
	case registry.TimestampField, registry.IDField:
	default:
		return lq, &apiError{400, "bad_request", "order must be updated_at or id"}
	}
	for _, t := range []string{lq.UpdatedAfter, lq.UpdatedUntil} {
		if t == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, t); err != nil {
			return lq, &apiError{400, "bad_request", "updated_after and updated_until are RFC 3339 times"}
		}
	}
	if p := get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return lq, &apiError{400, "bad_request", "page must be a positive integer"}
		}
		lq.Page, lq.pageMode = n, true
	}
	return lq, nil
}

// page computes the page a query asks for.
func (s *Sim) page(resource string, lq listQuery) registry.Page {
	all := s.sorted(resource, lq.Order == registry.IDField)
	var ua, uu time.Time
	if lq.UpdatedAfter != "" {
		ua, _ = time.Parse(time.RFC3339Nano, lq.UpdatedAfter)
	}
	if lq.UpdatedUntil != "" {
		uu, _ = time.Parse(time.RFC3339Nano, lq.UpdatedUntil)
	}
	var match []item
	for _, it := range all {
		if lq.Order == registry.IDField {
			if it.id > lq.AfterID {
				match = append(match, it)
			}
			continue
		}
		after := it.at.After(ua) || (it.at.Equal(ua) && it.id > lq.AfterID)
		if lq.UpdatedAfter == "" && lq.AfterID == "" {
			after = true
		}
		if after && (uu.IsZero() || !it.at.After(uu)) {
			match = append(match, it)
		}
	}
	meta := registry.Meta{
		ServerTime: s.clock().In(s.zone).Format(timeLayout), Order: lq.Order, PageSize: lq.size,
		UpdatedAfter: lq.UpdatedAfter, AfterID: lq.AfterID, UpdatedUntil: lq.UpdatedUntil, Cursor: lq.cursor,
	}
	var rows []item
	if lq.pageMode {
		total := int64(len(match))
		meta.Page, meta.Total = lq.Page, &total
		from := min((lq.Page-1)*lq.size, len(match))
		to := min(from+lq.size, len(match))
		rows, meta.HasMore = match[from:to], to < len(match)
	} else {
		// A cursor is keyset underneath: it starts after the last row.
		to := min(lq.size, len(match))
		rows, meta.HasMore = match[:to], to < len(match)
		if meta.HasMore {
			last := rows[len(rows)-1]
			next := listQuery{Order: lq.Order, AfterID: last.id, UpdatedUntil: lq.UpdatedUntil, Page: lq.Page + 1}
			if lq.Order == registry.TimestampField {
				next.UpdatedAfter = last.at.In(s.zone).Format(timeLayout)
			}
			b, _ := json.Marshal(next)
			c := base64.RawURLEncoding.EncodeToString(b)
			meta.NextCursor = &c
		}
	}
	p := registry.Page{Data: make([]map[string]any, 0, len(rows)), Meta: meta}
	for _, r := range rows {
		p.Data = append(p.Data, toMap(r.v))
	}
	return p
}

// toMap round-trips a record through JSON, so a page marshals exactly as
// the record types say.
func toMap(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	_ = dec.Decode(&m)
	return m
}

func (s *Sim) serveList(w http.ResponseWriter, r *http.Request) {
	resource := r.PathValue("resource")
	now := s.clock()
	s.mu.Lock()
	entry := Request{At: now, Resource: resource, Query: r.URL.Query()}
	writeErr := func(e *apiError) {
		entry.Status = e.status
		s.log = append(s.log, entry)
		s.mu.Unlock()
		writeError(w, e)
	}
	if resource != Persons && resource != Households {
		writeErr(&apiError{404, "not_found", "unknown resource"})
		return
	}
	if err := registry.Verify(r, func(k string) ([]byte, bool) { return s.secret, k == s.appKey }, now, s.skew); err != nil {
		writeErr(&apiError{401, "bad_signature", err.Error()})
		return
	}
	nonce := r.Header.Get(registry.HeaderNonce)
	if exp, seen := s.nonces[nonce]; seen && now.Before(exp) {
		writeErr(&apiError{401, "replayed_nonce", "nonce already used"})
		return
	}
	s.nonces[nonce] = now.Add(2 * s.skew)
	if len(s.nonces) > 100000 {
		for n, exp := range s.nonces {
			if now.After(exp) {
				delete(s.nonces, n)
			}
		}
	}
	lq, aerr := parseQuery(r.URL.Query())
	if aerr != nil {
		writeErr(aerr)
		return
	}
	f := s.takeFault(resource, lq.Page)
	var body []byte
	status := http.StatusOK
	var delay time.Duration
	if f != nil {
		entry.Fault = f.Kind
		switch f.Kind {
		case Fault500:
			writeErr(&apiError{500, "internal", "simulated server error"})
			return
		case Fault429:
			ra := max(f.RetryAfter, time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(int(ra.Round(time.Second)/time.Second)))
			writeErr(&apiError{429, "rate_limited", "too many requests"})
			return
		case FaultDuplicate:
			body = s.lastBody[resource]
		case FaultReorder:
			body = s.ahead(resource, lq)
		case FaultSlow:
			delay = f.Delay
		}
	}
	if body == nil {
		body, _ = json.Marshal(s.page(resource, lq))
	}
	if f == nil || f.Kind != FaultDuplicate {
		s.lastBody[resource] = body
	}
	if f != nil && f.Kind == FaultTruncate {
		body = body[:len(body)/2]
	}
	entry.Status = status
	s.log = append(s.log, entry)
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// ahead serves the page after the one asked for (a reordered page).
func (s *Sim) ahead(resource string, lq listQuery) []byte {
	if lq.pageMode {
		lq.Page++
		b, _ := json.Marshal(s.page(resource, lq))
		return b
	}
	p := s.page(resource, lq)
	if p.Meta.NextCursor != nil {
		next, _ := parseQuery(map[string][]string{"cursor": {*p.Meta.NextCursor}, "page_size": {strconv.Itoa(lq.size)}})
		p = s.page(resource, next)
	} else {
		p.Data = p.Data[:0]
	}
	b, _ := json.Marshal(p)
	return b
}

func writeError(w http.ResponseWriter, e *apiError) {
	var eb registry.ErrorBody
	eb.Error.Code, eb.Error.Message = e.code, e.msg
	b, _ := json.Marshal(eb)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// Fault kinds.
const (
	Fault500       = "500"       // HTTP 500 with an error body
	Fault429       = "429"       // HTTP 429 with Retry-After
	FaultSlow      = "slow"      // the response waits Delay
	FaultTruncate  = "truncate"  // HTTP 200 with the body cut in half
	FaultDuplicate = "duplicate" // the previous page served again
	FaultReorder   = "reorder"   // the next page served instead
)

// Fault is a fault injected into the next matching requests.
type Fault struct {
	Kind string `json:"kind"`
	// Resource limits the fault to one resource; empty means any.
	Resource string `json:"resource,omitempty"`
	// Page limits the fault to the n-th page of a sequence (1 is the first
	// request after a position); 0 means any.
	Page int `json:"page,omitempty"`
	// Times is how many requests get the fault. The default is 1.
	Times int `json:"times,omitempty"`
	// RetryAfter is the Retry-After of a 429 (whole seconds, at least 1s).
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	// Delay is the wait of a slow response.
	Delay time.Duration `json:"delay,omitempty"`
}

// ParseFault reads a fault from the command line:
// KIND[,times=N][,resource=R][,page=N][,retry_after=D][,delay=D], e.g.
// "429,times=2,retry_after=1s".
func ParseFault(spec string) (Fault, error) {
	parts := strings.Split(spec, ",")
	f := Fault{Kind: strings.TrimSpace(parts[0])}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			return f, fmt.Errorf("fault %q: %q is not key=value", spec, p)
		}
		var err error
		switch k {
		case "times":
			f.Times, err = strconv.Atoi(v)
		case "page":
			f.Page, err = strconv.Atoi(v)
		case "resource":
			f.Resource = v
		case "retry_after":
			f.RetryAfter, err = time.ParseDuration(v)
		case "delay":
			f.Delay, err = time.ParseDuration(v)
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return f, fmt.Errorf("fault %q: %s: %w", spec, k, err)
		}
	}
	return f, f.check()
}

func (f *Fault) check() error {
	switch f.Kind {
	case Fault500, Fault429, FaultSlow, FaultTruncate, FaultDuplicate, FaultReorder:
	default:
		return fmt.Errorf("fault kind %q is not one of 500, 429, slow, truncate, duplicate, reorder", f.Kind)
	}
	if f.Kind == FaultSlow && f.Delay <= 0 {
		return errors.New("a slow fault needs a delay")
	}
	if f.Times < 0 || f.Page < 0 {
		return errors.New("times and page must not be negative")
	}
	return nil
}

// Inject queues a fault for the next matching requests.
func (s *Sim) Inject(f Fault) error {
	if err := f.check(); err != nil {
		return err
	}
	if f.Times == 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
	return nil
}

// ClearFaults drops every queued fault.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault consumes the first queued fault matching a request.
func (s *Sim) takeFault(resource string, page int) *Fault {
	for i, f := range s.faults {
		if (f.Resource == "" || f.Resource == resource) && (f.Page == 0 || f.Page == page) {
			f.Times--
			if f.Times <= 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			return f
		}
	}
	return nil
}

func (s *Sim) serveAddFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		writeError(w, &apiError{400, "bad_request", "want a JSON fault"})
		return
	}
	if err := s.Inject(f); err != nil {
		writeError(w, &apiError{400, "bad_request", err.Error()})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) serveMutate(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 1 {
		writeError(w, &apiError{400, "bad_request", "n must be a positive integer"})
		return
	}
	c := s.Mutate(n)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(c)
}

func (s *Sim) serveBackwards(w http.ResponseWriter, r *http.Request) {
	n, err1 := strconv.Atoi(r.URL.Query().Get("n"))
	by, err2 := time.ParseDuration(r.URL.Query().Get("by"))
	resource := r.URL.Query().Get("resource")
	if resource == "" {
		resource = Persons
	}
	if err1 != nil || err2 != nil || n < 1 || by <= 0 {
		writeError(w, &apiError{400, "bad_request", "want n (a positive integer) and by (a duration)"})
		return
	}
	ids := s.MoveBack(resource, n, by)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int{"moved": len(ids)})
}
