package mappings

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/expr-lang/expr/vm"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/normalize"
	"github.com/hpgate/hpgate/mappings/pii"
)

// Record is one mapped row, ready for Kafka. Key, Value and Data alias the
// Result's buffer: they are valid until the Result's next Reset.
type Record struct {
	// Row is the index of the source row in the batch.
	Row int
	// Op is "upsert" or "delete".
	Op string
	// Key is the Kafka key: the person key (household key for households).
	Key []byte
	// Value is the envelope JSON (design.md contract 4).
	Value []byte
	// Data is the `data` object inside Value.
	Data []byte
	// ID is the record's stable id.
	ID []byte
}

// Rejection is a row that could not be mapped. Its texts hold no personal
// data: Position shows keys that are personal data as their HMAC.
type Rejection struct {
	// Row is the index of the source row in the batch.
	Row      int
	Mapping  string
	Position string
	// Field is the canonical field whose rule failed ("" for the row filter
	// or op expression).
	Field string
	// Code is a stable snake_case reason, also a metric label.
	Code    string
	Message string
}

// Error formats the rejection for people.
func (r *Rejection) Error() string {
	f := r.Field
	if f == "" {
		f = "row"
	}
	return fmt.Sprintf("%s at %s: %s: %s: %s", r.Mapping, r.Position, f, r.Code, r.Message)
}

// Result receives what Apply makes of a batch. It is reused across batches
// (Reset) and holds per-goroutine scratch state, so one Result serves one
// goroutine. Records' byte slices are valid until the next Reset.
type Result struct {
	Records    []Record
	Rejections []Rejection
	// Filtered counts rows the mapping's filter skipped; FilteredRows holds
	// their indexes.
	Filtered     int
	FilteredRows []int

	buf    []byte
	st     *rowState
	bindTo *Mapping
}

// Reset empties the result, keeping its buffers.
func (r *Result) Reset() {
	r.Records = r.Records[:0]
	r.Rejections = r.Rejections[:0]
	r.Filtered = 0
	r.FilteredRows = r.FilteredRows[:0]
	r.buf = r.buf[:0]
}

// rowState is the per-goroutine scratch of Apply.
type rowState struct {
	m        *Mapping
	cols     []string // the batch column slice the binding was built for
	idx      []int    // ref id -> column index in the batch, -1 absent
	env      map[string]any
	interned []map[string]any                   // per expression column: short value -> boxed value
	matched  map[*fieldPlan]map[string]struct{} // values that matched a field's pattern
	machine  vm.VM
	hasher   *pii.Hasher
	sha      hash.Hash
	sum      [sha256.Size]byte

	row      []any
	data     []byte
	tmp      []byte
	tmp2     []byte
	pkey     []byte // the person key of the current row
	id       normalize.ID
	idq      string
	identity []byte // the normalised identity the person key is made of
	masked   []byte
	occurred time.Time
	lastTime time.Time // the last date or datetime field written
	ts       time.Time
	hasTS    bool
}

// rowError is a failed field rule.
type rowError struct {
	field, code, msg string
}

func reject(field, code, format string, args ...any) *rowError {
	return &rowError{field: field, code: code, msg: fmt.Sprintf(format, args...)}
}

// Apply maps every row of b into out (which it does not Reset). A bad row
// becomes a Rejection; the error return is for batch-level faults only,
// such as a column the mapping needs missing from the batch. A row the
// source could not read (b.Problems) is rejected with the problem's code
// and message before any rule, the filter included, sees it.
func (m *Mapping) Apply(b *connectors.Batch, out *Result, now time.Time) error {
	st, err := out.state(m, b.Columns)
	if err != nil {
		return err
	}
	ingested := now.In(m.zone)
	probs := b.Problems
	for i, row := range b.Rows {
		st.row = row
		if len(probs) > 0 {
			for len(probs) > 0 && probs[0].Row < i {
				probs = probs[1:] // out of order or repeated: ignored
			}
			if len(probs) > 0 && probs[0].Row == i {
				out.reject(m, st, i, b, &rowError{code: probs[0].Code, msg: probs[0].Message})
				probs = probs[1:]
				continue
			}
		}
		op := "upsert"
		if m.filter != nil || m.op != nil {
			st.fillEnv()
		}
		if m.filter != nil {
			v, err := m.filter.run(&st.machine, st.env)
			if err != nil {
				out.reject(m, st, i, b, &rowError{code: "expr_error", msg: "filter: " + err.Error()})
				continue
			}
			if !v.(bool) {
				out.Filtered++
				out.FilteredRows = append(out.FilteredRows, i)
				continue
			}
		}
		if m.op != nil {
			v, err := m.op.run(&st.machine, st.env)
			if err != nil {
				out.reject(m, st, i, b, &rowError{code: "expr_error", msg: "op: " + err.Error()})
				continue
			}
			switch v.(string) {
			case "upsert", "":
			case "delete":
				op = "delete"
			default:
				out.reject(m, st, i, b, &rowError{code: "expr_error", msg: "op must give \"upsert\" or \"delete\""})
				continue
			}
		}
		if m.unknown != nil && op == "upsert" {
			if rerr := m.unknown.check(st); rerr != nil {
				out.reject(m, st, i, b, rerr)
				continue
			}
		}
		if rerr := out.mapRow(m, st, i, op, ingested); rerr != nil {
			out.reject(m, st, i, b, rerr)
		}
	}
	return nil
}

func (out *Result) state(m *Mapping, cols []string) (*rowState, error) {
	st := out.st
	if st == nil || out.bindTo != m {
		st = &rowState{m: m, hasher: m.key.NewHasher(), sha: sha256.New(), env: make(map[string]any, len(m.exprCols))}
		out.st, out.bindTo = st, m
	}
	if st.cols != nil && len(st.cols) == len(cols) && (len(cols) == 0 || &st.cols[0] == &cols[0]) {
		return st, nil
	}
	idx := make([]int, len(m.columns))
	var missing []string
	for ref, name := range m.columns {
		idx[ref] = columnIndex(cols, name)
		if idx[ref] < 0 && !m.optionalColumn(ref) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("mapping %s: source columns missing from the result: %s", m.Name, strings.Join(missing, ", "))
	}
	st.cols, st.idx = cols, idx
	return st, nil
}

// optionalColumn reports whether a column may be absent: columns that only
// expressions mention (they may be names of expression variables) and
// pii_columns entries are optional.
func (m *Mapping) optionalColumn(ref int) bool {
	for _, p := range m.plans {
		if p.from == fromColumn && p.ref == ref {
			return false
		}
	}
	if ref == m.tsRef || ref == m.tsFbRef || containsInt(m.keyRefs, ref) {
		return false
	}
	if id := m.identity; id != nil && (ref == id.idRef || ref == id.fallbackRef || containsInt(id.withRefs, ref)) {
		return false
	}
	return true
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// columnIndex finds a column by exact name, then case-insensitively
// (Oracle returns upper-case names for unquoted identifiers).
func columnIndex(cols []string, name string) int {
	for i, c := range cols {
		if c == name {
			return i
		}
	}
	for i, c := range cols {
		if strings.EqualFold(c, name) {
			return i
		}
	}
	return -1
}

// cursorTime is the row's cursor timestamp value: the timestamp column, or
// its fallback where it is NULL.
func (st *rowState) cursorTime() any {
	v := st.value(st.m.tsRef)
	if v == nil && st.m.tsFbRef >= 0 {
		v = st.value(st.m.tsFbRef)
	}
	return v
}

func (st *rowState) value(ref int) any {
	if i := st.idx[ref]; i >= 0 && i < len(st.row) {
		return st.row[i]
	}
	return nil
}

// fillEnv sets the expression variables for the current row. []byte values
// are exposed as strings without a copy: the row outlives the evaluation,
// and results are copied into the output buffer at once.
//
// Short values (flags, codes) are interned per column, boxed once: boxing a
// string into the environment's `any` would otherwise cost an allocation
// per row.
func (st *rowState) fillEnv() {
	for k, ref := range st.m.exprCols {
		v := st.value(ref)
		if b, ok := v.([]byte); ok {
			v = st.intern(k, b)
		}
		st.env[st.m.columns[ref]] = v
	}
}

const (
	internMaxLen     = 16
	internMaxEntries = 256
)

func (st *rowState) intern(k int, b []byte) any {
	if len(b) > internMaxLen {
		return unsafe.String(unsafe.SliceData(b), len(b))
	}
	if st.interned == nil {
		st.interned = make([]map[string]any, len(st.m.exprCols))
	}
	m := st.interned[k]
	if v, ok := m[string(b)]; ok {
		return v
	}
	s := string(b) // a copy: interned values outlive the row
	if m == nil {
		m = make(map[string]any)
		st.interned[k] = m
	}
	if len(m) < internMaxEntries {
		m[s] = s
	}
	return s
}

func (out *Result) reject(m *Mapping, st *rowState, i int, b *connectors.Batch, e *rowError) {
	out.Rejections = append(out.Rejections, Rejection{
		Row: i, Mapping: m.Name, Position: m.position(st), Field: e.field, Code: e.code, Message: e.msg,
	})
}

// position is the display form of the current row's position: the cursor
// timestamp and the key values, keys that are personal data as HMACs.
func (m *Mapping) position(st *rowState) string {
	return string(m.appendPosition(nil, st))
}

func (m *Mapping) appendPosition(b []byte, st *rowState) []byte {
	start := len(b)
	if m.tsRef >= 0 {
		b = appendRaw(b, st.cursorTime())
	}
	for _, ref := range m.keyRefs {
		if len(b) > start {
			b = append(b, '|')
		}
		b = m.appendKeyValue(b, st, ref)
	}
	return b
}

func (m *Mapping) appendKeyValue(dst []byte, st *rowState, ref int) []byte {
	if !m.piiCols[ref] {
		return appendRaw(dst, st.value(ref))
	}
	st.tmp = appendRaw(st.tmp[:0], st.value(ref))
	return st.hasher.AppendHex(dst, unsafe.String(unsafe.SliceData(st.tmp), len(st.tmp)))
}

// appendRaw appends a source value as text (trimmed).
func appendRaw(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return dst
	case string:
		return append(dst, strings.TrimSpace(x)...)
	case []byte:
		start := len(dst)
		dst = append(dst, x...)
		trimmed := strings.TrimSpace(unsafe.String(unsafe.SliceData(dst[start:]), len(dst)-start))
		return append(dst[:start], trimmed...)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case float64:
		return strconv.AppendFloat(dst, x, 'f', -1, 64)
	case bool:
		return strconv.AppendBool(dst, x)
	case time.Time:
		return x.AppendFormat(dst, "2006-01-02 15:04:05.999999")
	}
	return fmt.Append(dst, v)
}

// mapRow maps the current row and appends its record.
func (out *Result) mapRow(m *Mapping, st *rowState, i int, op string, ingested time.Time) *rowError {
	st.occurred, st.hasTS = time.Time{}, false
	if m.identity != nil {
		if e := st.resolveIdentity(); e != nil {
			return e
		}
	}
	if m.tsRef >= 0 {
		if v := st.cursorTime(); v != nil {
			t, err := normalize.Date(v, m.zone)
			if err != nil {
				return reject("updated_at", codeOf(err), "cursor timestamp %s: %s", m.columns[m.tsRef], msgOf(err))
			}
			st.ts, st.hasTS = t, true
		}
	}
	// data: every planned field, in name order.
	st.data = append(st.data[:0], '{')
	var key []byte
	for _, p := range m.plans {
		if op == "delete" && !p.identifying() {
			continue
		}
		mark := len(st.data)
		if len(st.data) > 1 {
			st.data = append(st.data, ',')
		}
		st.data = append(st.data, p.jsonKey...)
		ok, e := st.writeField(p)
		if e != nil && op == "delete" && p.auto == autoNone {
			// A delete needs only its identity: a voided row with an
			// empty total is still deleted, without that field.
			st.data = st.data[:mark]
			continue
		}
		if e != nil {
			return e
		}
		if !ok {
			st.data = st.data[:mark]
			continue
		}
		if p == m.occurred {
			st.occurred = st.lastTime
		}
		if p.isRecordKey {
			key = st.data[mark+len(p.jsonKey)+2 : len(st.data)-1]
			if mark > 0 && st.data[mark] == ',' {
				key = key[1:]
			}
		}
	}
	st.data = append(st.data, '}')
	st.sha.Reset()
	st.sha.Write(st.data)
	sum := st.sha.Sum(st.sum[:0])

	buf := out.buf
	start := len(buf)
	buf = append(buf, m.envPrefix...)
	idStart := len(buf)
	buf = append(buf, m.idPrefix...)
	for k, ref := range m.keyRefs {
		if k > 0 {
			buf = append(buf, '|')
		}
		buf = m.appendKeyValueJSON(buf, st, ref)
	}
	idEnd := len(buf)
	buf = append(buf, `","op":"`...)
	buf = append(buf, op...)
	buf = append(buf, m.envSource...)
	st.tmp2 = m.appendPosition(st.tmp2[:0], st)
	buf = appendJSONInner(buf, unsafe.String(unsafe.SliceData(st.tmp2), len(st.tmp2)))
	buf = append(buf, `"},"occurred_at":"`...)
	occ := st.occurred
	if occ.IsZero() {
		if st.hasTS {
			occ = st.ts
		} else {
			occ = ingested
		}
	}
	buf = appendRFC3339(buf, occ)
	buf = append(buf, `","ingested_at":"`...)
	buf = appendRFC3339(buf, ingested)
	buf = append(buf, `","hash":"sha256:`...)
	buf = hex.AppendEncode(buf, sum)
	buf = append(buf, `","data":`...)
	dataStart := len(buf)
	buf = append(buf, st.data...)
	buf = append(buf, '}')
	keyStart := len(buf)
	if m.Entity.PersonKeyed {
		buf = append(buf, st.pkey...)
	} else {
		buf = append(buf, key...)
	}
	out.buf = buf
	out.Records = append(out.Records, Record{
		Row: i, Op: op,
		Key:   buf[keyStart:len(buf):len(buf)],
		Value: buf[start:keyStart:keyStart],
		Data:  buf[dataStart : keyStart-1 : keyStart-1],
		ID:    buf[idStart:idEnd:idEnd],
	})
	return nil
}

// appendKeyValueJSON appends a key value for the id, escaped for a JSON
// string body.
func (m *Mapping) appendKeyValueJSON(dst []byte, st *rowState, ref int) []byte {
	st.tmp = m.appendKeyValue(st.tmp[:0], st, ref)
	return appendJSONInner(dst, unsafe.String(unsafe.SliceData(st.tmp), len(st.tmp)))
}

// appendJSONInner appends s escaped as the inside of a JSON string.
func appendJSONInner(dst []byte, s string) []byte {
	start := len(dst)
	dst = canonical.AppendString(dst, s)
	// drop the quotes AppendString wrote
	copy(dst[start:], dst[start+1:len(dst)-1])
	return dst[:len(dst)-2]
}

// identifying reports whether a field is kept in a delete record: the
// fields hpgate fills and the schema's required fields.
func (p *fieldPlan) identifying() bool {
	return p.auto != autoNone || p.field.Required
}

// resolveIdentity normalises the row's ID (or its fallback identity) into
// st.identity, st.idq and st.masked.
func (st *rowState) resolveIdentity() *rowError {
	m, id := st.m, st.m.identity
	raw := st.value(id.idRef)
	s, terr := textOf(raw, normalize.UTF8)
	var primary *rowError
	switch {
	case terr != nil:
		primary = reject("person_key", "bad_id_format", "ID number column %s: %s", m.columns[id.idRef], msgOf(terr))
	case s == "":
		primary = reject("person_key", "missing_required", "ID number column %s is empty", m.columns[id.idRef])
	default:
		n, err := normalize.IDCard(s)
		if err == nil {
			st.id = n
			st.identity = append(st.identity[:0], n.Number...)
			st.masked = pii.AppendMaskedID(st.masked[:0], n.Number)
			st.idq = n.Quality.String()
			st.pkey = st.hasher.AppendKey(st.pkey[:0], n.Number)
			return nil
		}
		primary = reject("person_key", codeOf(err), "ID number column %s: %s", m.columns[id.idRef], msgOf(err))
	}
	if id.fallbackRef < 0 {
		return primary
	}
	fs, err := textOf(st.value(id.fallbackRef), normalize.UTF8)
	if err != nil || fs == "" {
		return primary
	}
	fn, err := normalize.IDCard(fs)
	if err != nil {
		return primary
	}
	st.id = normalize.ID{}
	st.identity = append(st.identity[:0], fn.Number...)
	for _, ref := range id.withRefs {
		st.identity = append(st.identity, '#')
		st.identity = appendRaw(st.identity, st.value(ref))
	}
	// Keep the person's own (invalid) number masked, for review, only when
	// it has the shape of an 18-character number; anything else ("无", a
	// typing slip) is left out.
	st.masked = st.masked[:0]
	if len(s) == 18 && looksLikeID(s) {
		st.masked = pii.AppendMaskedID(st.masked, strings.ToUpper(s))
	}
	st.idq = "fallback"
	st.pkey = st.hasher.AppendKey(st.pkey[:0], unsafe.String(unsafe.SliceData(st.identity), len(st.identity)))
	return nil
}

func codeOf(err error) string {
	var ne *normalize.Error
	if errors.As(err, &ne) {
		return ne.Code
	}
	return "bad_value"
}

func msgOf(err error) string {
	var ne *normalize.Error
	if errors.As(err, &ne) {
		return ne.Msg
	}
	return err.Error()
}

// textOf reads a source value as trimmed text. UTF-8 bytes are viewed as a
// string without a copy: the result is valid while the row is, and callers
// copy it into the output at once.
func textOf(v any, enc normalize.Encoding) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return normalize.TextString(x, enc)
	case []byte:
		if enc == normalize.UTF8 {
			return normalize.TextString(unsafe.String(unsafe.SliceData(x), len(x)), enc)
		}
	case bool:
		return strconv.FormatBool(x), nil
	case time.Time:
		return x.Format("2006-01-02 15:04:05"), nil
	}
	return normalize.Text(v, enc)
}

// sayValue quotes a source value in a message only when it cannot be
// personal data (short ASCII codes); otherwise it describes it.
func sayValue(s string) string {
	if len(s) <= 8 {
		ascii := true
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				ascii = false
				break
			}
		}
		if ascii {
			return strconv.Quote(s)
		}
	}
	return fmt.Sprintf("(%d characters, not shown)", utf8.RuneCountInString(s))
}

// DisplayPosition is the display form of row i's position (cursor
// timestamp and keys, personal-data keys as HMACs), safe for status pages,
// logs and `checkpoint list`.
func (m *Mapping) DisplayPosition(b *connectors.Batch, i int) string {
	st := &rowState{m: m, hasher: m.key.NewHasher(), idx: make([]int, len(m.columns)), row: b.Rows[i]}
	for ref, name := range m.columns {
		st.idx[ref] = columnIndex(b.Columns, name)
	}
	return m.position(st)
}

// DeleteValue builds the envelope of a delete for a record that vanished
// from a snapshot: id and data are what Ident returned for it when it was
// last seen.
func (m *Mapping) DeleteValue(dst, id, data []byte, now time.Time) []byte {
	sum := sha256.Sum256(data)
	at := now.In(m.zone)
	dst = append(dst, m.envPrefix...)
	dst = appendJSONInner(dst, unsafe.String(unsafe.SliceData(id), len(id)))
	dst = append(dst, `","op":"delete`...)
	dst = append(dst, m.envSource...)
	dst = append(dst, `"},"occurred_at":"`...)
	dst = at.AppendFormat(dst, time.RFC3339)
	dst = append(dst, `","ingested_at":"`...)
	dst = at.AppendFormat(dst, time.RFC3339)
	dst = append(dst, `","hash":"sha256:`...)
	dst = hex.AppendEncode(dst, sum[:])
	dst = append(dst, `","data":`...)
	dst = append(dst, data...)
	return append(dst, '}')
}

// Ident returns the identifying subset of a record's data (the fields
// hpgate fills and the schema's required fields), which is what a delete
// carries once the row is gone.
func (m *Mapping) Ident(rec *Record) ([]byte, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(rec.Data, &all); err != nil {
		return nil, err
	}
	keep := make(map[string]json.RawMessage, len(all))
	for _, p := range m.plans {
		if v, ok := all[p.field.Name]; ok && p.identifying() {
			keep[p.field.Name] = v
		}
	}
	return json.Marshal(keep) // sorted keys: canonical like Data
}
