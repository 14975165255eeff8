package filedrop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hpgate/hpgate/connectors"
)

// Names of the columns the source adds to every row.
const (
	ColumnFile     = "_file"
	ColumnRow      = "_row"
	ColumnFileTime = "_file_time"
)

var synthetic = []string{ColumnFile, ColumnRow, ColumnFileTime}

// CodeBadRow is the reason code of a row the source could not read into
// columns (connectors.RowProblem).
const CodeBadRow = connectors.CodeBadRow

// maxBadRowsReported caps the bad rows a report lists by line.
const maxBadRowsReported = 20

func isSynthetic(c string) bool { return slices.Contains(synthetic, c) }

// Source reads the files of one drop directory. It is safe for concurrent
// use; reads of different streams are serialised.
type Source struct {
	name string
	cfg  Config
	zone *time.Location
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	closed  bool
	streams map[string]*streamState
	seenAt  map[string]sighting    // by file name in Dir
	hashes  map[observation]string // content hash by name, size and mtime
	ledger  *ledger
}

// observation is what a listing saw of one file.
type observation struct {
	name  string
	size  int64
	mtime time.Time
}

type sighting struct {
	observation
	since time.Time // when this size and mtime were first seen
}

// streamState is one mapping's progress through the directory.
type streamState struct {
	cur *openFile
	// The previous Read's position and whether it returned a full batch:
	// after a full batch the pipeline may read ahead of its checkpoint.
	reads     int
	lastAfter connectors.Position
	lastFull  bool
}

// New validates cfg and returns a source. It does not touch the file
// system: the directories are checked at the first Read.
func New(name string, cfg Config, log *slog.Logger) (*Source, error) {
	cfg = cfg.withDefaults()
	zone, errs := cfg.validate()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{
		name: name, cfg: cfg, zone: zone, log: log, now: time.Now,
		streams: make(map[string]*streamState),
		seenAt:  make(map[string]sighting),
		hashes:  make(map[observation]string),
	}, nil
}

// openFile is the file a stream is reading.
type openFile struct {
	obs     observation
	hash    string
	opts    Options
	t       table
	cols    []string // batch columns: the mapping's, then the synthetic ones
	idx     []int    // header index of each non-synthetic batch column
	fileVal any      // boxed once: _file
	timeVal any      // boxed once: _file_time
	last    int      // row number of the last row handed out (0: none)
	eof     bool     // the table is exhausted after last
	failed  error    // a *fileError met after rows were handed out
	rep     report
	// A row read by seek, handed out first.
	peek    []string
	peekRow int
	peekErr error // a *badRow
	hasPeek bool
	// Rows read from the table since it was opened, and how many of them
	// were bad: the share of bad rows of a file not checked before its
	// first row was sent (XLSX) is judged at its end.
	seen, bad  int
	prechecked bool
	acked      int // the last row whose batch the pipeline acknowledged (Acked)
}

// Read returns up to limit rows of the stream's current file after the
// position, taking the next file when the current one is done. It never
// mixes two files in one batch. An empty batch means nothing new, or the
// current file's last rows are not yet acknowledged. A directory that
// cannot be listed or a file that cannot be moved is ErrUnavailable.
func (s *Source) Read(ctx context.Context, st connectors.Stream, after connectors.Position, limit int) (*connectors.Batch, error) {
	if st.Query != "" || st.Mode == "snapshot" {
		return nil, fmt.Errorf("filedrop: mapping %s: a file drop is read with `table:` (a file-name glob) and cursor mode incremental", st.Name)
	}
	if _, err := path.Match(st.Table, ""); err != nil || st.Table == "" {
		return nil, fmt.Errorf("filedrop: mapping %s: table %q is not a file-name glob", st.Name, st.Table)
	}
	if limit <= 0 {
		limit = s.cfg.BatchSize
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, connectors.ErrClosed
	}
	ss := s.streams[st.Name]
	if ss == nil {
		ss = &streamState{}
		s.streams[st.Name] = ss
	}
	// What the pipeline has acknowledged: the position it reads from,
	// unless the previous batch was full and this may be a read-ahead;
	// then the previous read's position.
	acked := after
	if ss.reads > 0 && ss.lastFull && after != ss.lastAfter {
		acked = ss.lastAfter
	}
	b, err := s.read(ctx, ss, st, after, acked, limit)
	ss.reads++
	ss.lastAfter, ss.lastFull = after, err == nil && b.Len() >= limit
	return b, err
}

func (s *Source) read(ctx context.Context, ss *streamState, st connectors.Stream, after, acked connectors.Position, limit int) (*connectors.Batch, error) {
	pos, err := parsePosition(after)
	if err != nil {
		return nil, err
	}
	ack, _ := parsePosition(acked)
	if err := s.loadLedger(); err != nil {
		return nil, err
	}
	if ss.cur != nil && ss.cur.hash != pos.hash && !(ss.cur.last == 0 && !ss.cur.eof) {
		s.drop(ss) // the pipeline went elsewhere (a checkpoint reset or set)
	}
	if ss.cur == nil && pos.hash != "" && !s.ledger.has(st.Name, pos.hash) {
		if ss.cur, err = s.resume(ctx, st, pos); err != nil {
			return nil, err
		}
	}
	for {
		cur := ss.cur
		if cur != nil && cur.eof && (cur.last == 0 || (pos.hash == cur.hash && pos.row >= cur.last)) {
			if cur.last > 0 && !(ack.hash == cur.hash && ack.row >= cur.last) {
				return emptyBatch(after), nil // wait for the acknowledgement
			}
			if err := s.finish(ss, st); err != nil {
				return nil, err
			}
			continue
		}
		if cur == nil {
			if cur, err = s.takeNext(ctx, st); err != nil || cur == nil {
				return emptyBatch(after), err
			}
			ss.cur = cur
		}
		start := pos.row
		if pos.hash != cur.hash {
			start = 0
		}
		if start != cur.last {
			if err := s.seek(ctx, cur, start); err != nil {
				return nil, err
			}
			if cur.eof {
				continue
			}
		}
		b, err := s.rows(ctx, cur, limit)
		if err != nil {
			return nil, err
		}
		if b.Len() == 0 {
			continue // the file ended exactly here
		}
		return b, nil
	}
}

func emptyBatch(after connectors.Position) *connectors.Batch {
	return &connectors.Batch{Next: after}
}

// rows reads up to limit rows of cur into a batch.
func (s *Source) rows(ctx context.Context, cur *openFile, limit int) (*connectors.Batch, error) {
	b := &connectors.Batch{Columns: cur.cols}
	nc := len(cur.cols)
	var backing []any
	for len(b.Rows) < limit && !cur.eof {
		if len(b.Rows)&1023 == 1023 && ctx.Err() != nil {
			cur.last = -1 // rows were consumed but not handed out: seek again
			return nil, ctx.Err()
		}
		cells, row, err := cur.next()
		if err == io.EOF {
			cur.eof = true
			cur.failed = cur.tooManyBad()
			break
		}
		var fe *fileError
		if errors.As(err, &fe) {
			cur.eof, cur.failed = true, fe
			break
		}
		var br *badRow
		if err != nil && !errors.As(err, &br) {
			cur.last = -1
			return nil, fmt.Errorf("%w: filedrop: read %s: %w", connectors.ErrUnavailable, cur.obs.name, err)
		}
		if len(backing) < nc {
			backing = make([]any, nc*min(limit-len(b.Rows), 1024))
		}
		vals := backing[:nc:nc]
		backing = backing[nc:]
		if br != nil {
			// The mapping's columns stay nil: a shifted line's cells are in
			// the wrong columns, and none of them may reach a record.
			b.Problems = append(b.Problems, connectors.RowProblem{
				Row: len(b.Rows), Code: CodeBadRow, Message: cur.obs.name + ": " + br.msg,
			})
			cur.rep.RowsBad++
			if len(cur.rep.BadRows) < maxBadRowsReported {
				cur.rep.BadRows = append(cur.rep.BadRows, br.msg)
			}
		}
		bad := false
		for j, hi := range cur.idx {
			if br == nil && hi < len(cells) {
				v, undecodable := cur.t.value(cells[hi])
				vals[j], bad = v, bad || undecodable
			}
		}
		k := len(cur.idx)
		vals[k], vals[k+1], vals[k+2] = cur.fileVal, int64(row), cur.timeVal
		if bad {
			cur.rep.RowsUndecodable++
		}
		cur.rep.RowsRead++
		cur.last = row
		b.Rows = append(b.Rows, vals)
		b.Positions = append(b.Positions, position{hash: cur.hash, row: row}.encode())
	}
	if cur.failed == nil && cur.rep.RowsRead > 0 && cur.rep.FirstRowAt.IsZero() {
		cur.rep.FirstRowAt = s.now()
	}
	b.Next = position{hash: cur.hash, row: max(cur.last, 0)}.encode()
	return b, nil
}

// seek positions cur just after row number `after`, reopening the file
// when it must go back.
func (s *Source) seek(ctx context.Context, cur *openFile, after int) error {
	if cur.last > after || cur.last < 0 {
		t, err := openTable(filepath.Join(s.cfg.Dir, cur.obs.name), cur.obs.name, cur.opts)
		if err != nil {
			return fmt.Errorf("%w: filedrop: reopen %s: %w", connectors.ErrUnavailable, cur.obs.name, err)
		}
		_ = cur.t.close()
		cur.t, cur.last, cur.eof, cur.failed, cur.hasPeek = t, 0, false, nil, false
		cur.seen, cur.bad = 0, 0
	}
	for cur.last < after {
		if ctx.Err() != nil {
			cur.last = -1
			return ctx.Err()
		}
		cells, row, err := cur.next()
		if err == io.EOF {
			cur.eof = true
			cur.failed = cur.tooManyBad()
			return nil
		}
		var fe *fileError
		if errors.As(err, &fe) {
			cur.eof, cur.failed = true, fe
			return nil
		}
		var br *badRow
		if err != nil && !errors.As(err, &br) {
			cur.last = -1
			return fmt.Errorf("%w: filedrop: read %s: %w", connectors.ErrUnavailable, cur.obs.name, err)
		}
		if row > after {
			// The first row after the position: hand it out next.
			cur.peek, cur.peekRow, cur.peekErr, cur.hasPeek = append(cur.peek[:0], cells...), row, err, true
			cur.last = after
			return nil
		}
		cur.last = row
	}
	return nil
}

// next returns the row seek read ahead, else the table's next row.
func (cur *openFile) next() ([]string, int, error) {
	if cur.hasPeek {
		cur.hasPeek = false
		return cur.peek, cur.peekRow, cur.peekErr
	}
	cells, row, err := cur.t.next()
	var br *badRow
	switch {
	case err == nil:
		cur.seen++
	case errors.As(err, &br):
		cur.seen++
		cur.bad++
	}
	return cells, row, err
}

// tooManyBad returns the *fileError of a file, read to its end, more of
// whose rows were bad than the mapping allows; nil for a CSV file, which
// open checked whole.
func (cur *openFile) tooManyBad() error {
	if cur.prechecked {
		return nil
	}
	return badShare(cur.seen, cur.bad, cur.opts.MaxBadRowPercent, cur.firstBad())
}

func (cur *openFile) firstBad() string {
	if len(cur.rep.BadRows) > 0 {
		return cur.rep.BadRows[0]
	}
	return ""
}

// badShare returns a *fileError when more than pct percent of the rows of
// a file are bad.
func badShare(rows, bad, pct int, first string) error {
	if bad == 0 || bad*100 <= pct*rows {
		return nil
	}
	msg := fmt.Sprintf("%d of %d data rows (%d%%) cannot be read into columns, more than max_bad_row_percent %d%%: "+
		"the columns do not line up (a wrong delimiter or encoding, a damaged export?)", bad, rows, bad*100/rows, pct)
	if first != "" {
		msg += "; the first: " + first
	}
	return &fileError{msg: msg}
}

// drop forgets the stream's current file without moving it.
func (s *Source) drop(ss *streamState) {
	if ss.cur != nil && ss.cur.t != nil {
		_ = ss.cur.t.close()
	}
	ss.cur = nil
}

// Close closes the files being read. It does not move them.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, ss := range s.streams {
		s.drop(ss)
	}
	return nil
}

// options returns the reading options of a stream.
func (s *Source) options(st connectors.Stream) Options {
	o := s.cfg.Options
	if fo, ok := s.cfg.Files[st.Table]; ok {
		o = fo.merge(o)
	}
	return o.withDefaults()
}

// open opens a file for a stream and checks its header against the
// mapping's columns. A *fileError means the file must go to failed/.
func (s *Source) open(st connectors.Stream, obs observation, hash string) (*openFile, error) {
	o := s.options(st)
	p := filepath.Join(s.cfg.Dir, obs.name)
	cur := &openFile{obs: obs, hash: hash, opts: o}
	cur.rep = report{
		File: obs.name, Source: s.name, Mapping: st.Name, SHA256: hash, SizeBytes: obs.size,
		Modified: obs.mtime.In(s.zone), HeaderRow: o.HeaderRow, TakenAt: s.now(),
	}
	if strings.EqualFold(fileExt(obs.name), ".csv") || strings.EqualFold(fileExt(obs.name), ".txt") {
		// A CSV file is checked whole before any row is sent: a syntax
		// error, or more bad lines than MaxBadRowPercent, fails the file.
		if err := precheck(p, obs.name, o); err != nil {
			return cur, err
		}
		cur.prechecked = true
	}
	t, err := openTable(p, obs.name, o)
	if err != nil {
		return cur, err
	}
	cur.t = t
	cur.rep.Format, cur.rep.Encoding, cur.rep.Sheet = t.describe()
	hdr := make(map[string][]int)
	for i, h := range t.header() {
		if k := headerKey(h); k != "" {
			hdr[k] = append(hdr[k], i)
		}
	}
	want := st.Columns
	if len(want) == 0 {
		for _, h := range t.header() {
			if headerKey(h) != "" && !slices.Contains(want, h) {
				want = append(want, h)
			}
		}
	}
	var missing, twice []string
	for _, c := range want {
		if isSynthetic(c) {
			continue
		}
		switch at := hdr[headerKey(c)]; len(at) {
		case 0:
			missing = append(missing, c)
		case 1:
			cur.cols = append(cur.cols, c)
			cur.idx = append(cur.idx, at[0])
		default:
			twice = append(twice, c)
		}
	}
	if len(missing) > 0 || len(twice) > 0 {
		_ = t.close()
		cur.rep.MissingColumns = missing
		msg := ""
		if len(missing) > 0 {
			msg = fmt.Sprintf("the header (row %d) lacks the column(s) %s that mapping %s reads",
				o.HeaderRow, strings.Join(missing, ", "), st.Name)
		}
		if len(twice) > 0 {
			if msg != "" {
				msg += "; "
			}
			msg += fmt.Sprintf("the column(s) %s appear more than once in the header (row %d)", strings.Join(twice, ", "), o.HeaderRow)
		}
		return cur, &fileError{msg: msg}
	}
	cur.cols = append(cur.cols, synthetic...)
	cur.fileVal, cur.timeVal = obs.name, obs.mtime.In(s.zone)
	return cur, nil
}

// precheck reads a CSV file through once and reports its first syntax
// error, or too large a share of bad lines.
func precheck(p, name string, o Options) error {
	t, err := openTable(p, name, o)
	if err != nil {
		return err
	}
	defer t.close()
	rows, bad, first := 0, 0, ""
	for {
		_, _, err := t.next()
		var br *badRow
		switch {
		case err == io.EOF:
			return badShare(rows, bad, o.MaxBadRowPercent, first)
		case errors.As(err, &br):
			if bad == 0 {
				first = br.msg
			}
			bad++
		case err != nil:
			return err
		}
		rows++
	}
}

// resume reopens the file a position names, if it is still in the drop
// directory, and positions it after the position's row.
func (s *Source) resume(ctx context.Context, st connectors.Stream, pos position) (*openFile, error) {
	files, err := s.list(st, false)
	if err != nil {
		return nil, err
	}
	for _, obs := range files {
		h, err := s.hash(obs)
		if err != nil {
			return nil, err
		}
		if h != pos.hash {
			continue
		}
		cur, err := s.open(st, obs, h)
		var fe *fileError
		if errors.As(err, &fe) {
			return nil, s.moveFailed(st, cur, fe)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: filedrop: open %s: %w", connectors.ErrUnavailable, obs.name, err)
		}
		if err := s.seek(ctx, cur, pos.row); err != nil {
			_ = cur.t.close()
			return nil, err
		}
		cur.last = pos.row
		return cur, nil
	}
	s.log.Warn("the file of the checkpoint is no longer in the drop directory; going on with the next file",
		"mapping", st.Name, "sha256", pos.hash)
	return nil, nil
}

// takeNext opens the stream's next file: the oldest stable one that is
// neither a duplicate nor unreadable (those are moved away on the way).
func (s *Source) takeNext(ctx context.Context, st connectors.Stream) (*openFile, error) {
	files, err := s.list(st, true)
	if err != nil {
		return nil, err
	}
	for _, obs := range files {
		if ctx.Err() != nil {
			return nil, nil
		}
		if s.readBy(st.Name, obs.name) {
			continue
		}
		h, err := s.hash(obs)
		if err != nil {
			return nil, err
		}
		if e, dup := s.ledger.get(st.Name, h); dup {
			if err := s.moveDuplicate(st, obs, h, e); err != nil {
				return nil, err
			}
			continue
		}
		cur, err := s.open(st, obs, h)
		var fe *fileError
		if errors.As(err, &fe) {
			if err := s.moveFailed(st, cur, fe); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: filedrop: open %s: %w", connectors.ErrUnavailable, obs.name, err)
		}
		s.log.Info("file taken", "mapping", st.Name, "file", obs.name, "sha256", h[:12])
		return cur, nil
	}
	return nil, nil
}

// readBy reports whether another stream is reading the file.
func (s *Source) readBy(stream, name string) bool {
	for n, ss := range s.streams {
		if n != stream && ss.cur != nil && ss.cur.obs.name == name {
			return true
		}
	}
	return false
}

// ignored reports names that are never taken: temporary names of writers
// and Excel's lock files.
func ignored(name string) bool {
	if strings.HasPrefix(name, "~$") || strings.HasPrefix(name, ".") {
		return true
	}
	l := strings.ToLower(name)
	for _, suf := range []string{".tmp", ".part", ".partial", ".crdownload", ".filepart", ".swp", ".download", ".report.json"} {
		if strings.HasSuffix(l, suf) {
			return true
		}
	}
	return false
}

// list returns the files of the drop directory matching the stream's glob,
// oldest first; with stableOnly, only those unchanged for QuietPeriod.
func (s *Source) list(st connectors.Stream, stableOnly bool) ([]observation, error) {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w: filedrop: list the drop directory: %w", connectors.ErrUnavailable, err)
	}
	now := s.now()
	glob := strings.ToLower(st.Table)
	var out []observation
	present := make(map[string]bool, len(entries))
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || ignored(name) {
			continue
		}
		if ok, _ := path.Match(glob, strings.ToLower(name)); !ok {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // gone since the listing
		}
		obs := observation{name: name, size: fi.Size(), mtime: fi.ModTime()}
		present[name] = true
		sg, ok := s.seenAt[name]
		if !ok || sg.observation != obs {
			sg = sighting{observation: obs, since: now}
			s.seenAt[name] = sg
		}
		if stableOnly && now.Sub(sg.since) < s.cfg.QuietPeriod {
			continue
		}
		out = append(out, obs)
	}
	for name, sg := range s.seenAt {
		if ok, _ := path.Match(glob, strings.ToLower(name)); ok && !present[name] {
			delete(s.seenAt, name)
			delete(s.hashes, sg.observation)
		}
	}
	slices.SortFunc(out, func(a, b observation) int {
		if c := a.mtime.Compare(b.mtime); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	return out, nil
}
