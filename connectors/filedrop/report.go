package filedrop

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hpgate/hpgate/connectors"
)

// Outcomes of a file (report.Outcome).
const (
	OutcomeDone      = "done"
	OutcomeDuplicate = "duplicate"
	OutcomeFailed    = "failed"
)

// LedgerName is the ledger's file name in the done directory.
const LedgerName = ".hpgate-ledger"

// report is written beside a processed file as <stored name>.report.json.
// It holds counts, the content hash and timings, never cell content.
type report struct {
	Outcome  string `json:"outcome"`
	File     string `json:"file"`      // the name as dropped
	StoredAs string `json:"stored_as"` // the name in done/ or failed/
	Source   string `json:"source"`
	Mapping  string `json:"mapping"`
	SHA256   string `json:"sha256"`
	// SizeBytes and Modified describe the file as taken.
	SizeBytes int64     `json:"size_bytes"`
	Modified  time.Time `json:"modified"`
	Format    string    `json:"format,omitempty"`   // csv or xlsx
	Encoding  string    `json:"encoding,omitempty"` // as read (detected or declared)
	Sheet     string    `json:"sheet,omitempty"`
	HeaderRow int       `json:"header_row,omitempty"`
	// RowsRead are the data rows read (blank rows are skipped);
	// RowsDelivered those Kafka acknowledged, as canonical records or
	// as dead letters.
	RowsRead      int `json:"rows_read"`
	RowsDelivered int `json:"rows_delivered"`
	// RowsRejected are the rows sent to the DLQ, and Rejected their
	// count by reason code (bad_row, bad_check_digit, …), as the pipeline
	// acknowledged them (connectors.AckObserver).
	RowsRejected int            `json:"rows_rejected"`
	Rejected     map[string]int `json:"rejected,omitempty"`
	// RowsUndecodable are rows with a cell that is not valid in the
	// file's encoding: handed to the mapping as raw bytes, they are
	// rejected to the DLQ (bad_encoding) by any rule that reads the cell.
	RowsUndecodable int `json:"rows_undecodable"`
	// RowsBad are rows that could not be read into columns (a CSV line
	// with the wrong number of cells, an unreadable sheet row): never
	// mapped, they go to the DLQ as bad_row. BadRows says where and what
	// for the first 20 of them.
	RowsBad        int      `json:"rows_bad"`
	BadRows        []string `json:"bad_rows,omitempty"`
	MissingColumns []string `json:"missing_columns,omitempty"`
	Error          string   `json:"error,omitempty"`
	// DuplicateOf is the stored name of the earlier file with the same
	// content, and DeliveredAt when it was done.
	DuplicateOf string    `json:"duplicate_of,omitempty"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	// Timings: taken (stable and opened), first row handed out, finished
	// (moved), and the seconds in between.
	TakenAt    time.Time `json:"taken_at"`
	FirstRowAt time.Time `json:"first_row_at,omitzero"`
	FinishedAt time.Time `json:"finished_at"`
	Seconds    float64   `json:"seconds"`
}

// ReadReport reads a report written beside a processed file.
func ReadReport(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// finish moves the stream's current file, all of it acknowledged, to
// done/ (or to failed/ when it broke off), with its report.
func (s *Source) finish(ss *streamState, st connectors.Stream) error {
	cur := ss.cur
	if cur.failed != nil {
		cur.rep.RowsDelivered = cur.rep.RowsRead
		var fe *fileError
		errors.As(cur.failed, &fe)
		if err := s.moveFailed(st, cur, fe); err != nil {
			return err
		}
		s.drop(ss)
		return nil
	}
	_ = cur.t.close()
	cur.rep.Outcome = OutcomeDone
	cur.rep.RowsDelivered = cur.rep.RowsRead
	stored, err := s.store(s.cfg.DoneDir, cur.obs.name, &cur.rep, func(stored string) error {
		return s.ledger.add(st.Name, cur.hash, stored, s.now())
	})
	if err != nil {
		return err
	}
	ss.cur = nil
	s.log.Info("file done", "mapping", st.Name, "file", cur.obs.name, "stored_as", stored,
		"rows", cur.rep.RowsRead, "rows_rejected", cur.rep.RowsRejected, "rows_bad", cur.rep.RowsBad,
		"rows_undecodable", cur.rep.RowsUndecodable)
	return nil
}

// Acked counts the rejections of a batch the pipeline acknowledged into
// the report of the file it came from (connectors.AckObserver). A batch
// acknowledged again (read again after a restart) is not counted twice.
func (s *Source) Acked(st connectors.Stream, b *connectors.Batch, rejected map[string]int) {
	if b.Len() == 0 {
		return
	}
	pos, err := parsePosition(b.Next)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.streams[st.Name]
	if ss == nil || ss.cur == nil || ss.cur.hash != pos.hash || pos.row <= ss.cur.acked {
		return
	}
	cur := ss.cur
	cur.acked = pos.row
	for code, n := range rejected {
		if cur.rep.Rejected == nil {
			cur.rep.Rejected = make(map[string]int)
		}
		cur.rep.Rejected[code] += n
		cur.rep.RowsRejected += n
	}
}

func (s *Source) moveDuplicate(st connectors.Stream, obs observation, hash string, e ledgerEntry) error {
	rep := report{
		Outcome: OutcomeDuplicate, File: obs.name, Source: s.name, Mapping: st.Name, SHA256: hash,
		SizeBytes: obs.size, Modified: obs.mtime.In(s.zone), DuplicateOf: e.stored, DeliveredAt: e.at.In(s.zone),
		TakenAt: s.now(),
	}
	stored, err := s.store(s.cfg.DoneDir, obs.name, &rep, nil)
	if err == nil {
		s.log.Info("duplicate file not sent again", "mapping", st.Name, "file", obs.name, "stored_as", stored, "duplicate_of", e.stored)
	}
	return err
}

func (s *Source) moveFailed(st connectors.Stream, cur *openFile, fe *fileError) error {
	if cur.t != nil {
		_ = cur.t.close()
		cur.t = nil
	}
	cur.rep.Outcome = OutcomeFailed
	if fe != nil {
		cur.rep.Error = fe.msg
	}
	stored, err := s.store(s.cfg.FailedDir, cur.obs.name, &cur.rep, nil)
	if err == nil {
		s.log.Warn("file failed", "mapping", st.Name, "file", cur.obs.name, "stored_as", stored,
			"rows_delivered", cur.rep.RowsDelivered, "reason", cur.rep.Error)
	}
	return err
}

// store moves a file from the drop directory into dir under a name
// prefixed with the time, after writing its report there; commit, when
// given, runs between the report and the move (the ledger entry).
func (s *Source) store(dir, name string, rep *report, commit func(stored string) error) (string, error) {
	unavailable := func(err error) error {
		return fmt.Errorf("%w: filedrop: move %s: %w", connectors.ErrUnavailable, name, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", unavailable(err)
	}
	now := s.now()
	prefix := now.In(s.zone).Format("20060102-150405")
	stored := prefix + "_" + name
	for i := 2; ; i++ {
		if _, err := os.Lstat(filepath.Join(dir, stored)); errors.Is(err, fs.ErrNotExist) {
			break
		}
		stored = prefix + "-" + strconv.Itoa(i) + "_" + name
	}
	rep.StoredAs, rep.FinishedAt = stored, now
	rep.Seconds = now.Sub(rep.TakenAt).Seconds()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", err
	}
	if err := writeFileSync(filepath.Join(dir, stored+".report.json"), append(b, '\n')); err != nil {
		return "", unavailable(err)
	}
	if commit != nil {
		if err := commit(stored); err != nil {
			return "", unavailable(err)
		}
	}
	if err := os.Rename(filepath.Join(s.cfg.Dir, name), filepath.Join(dir, stored)); err != nil {
		return "", unavailable(err)
	}
	syncDir(dir)
	syncDir(s.cfg.Dir)
	delete(s.seenAt, name)
	return stored, nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if e := f.Sync(); err == nil {
		err = e
	}
	if e := f.Close(); err == nil {
		err = e
	}
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// hash returns the SHA-256 of a file's content, cached by name, size and
// modification time.
func (s *Source) hash(obs observation) (string, error) {
	if h, ok := s.hashes[obs]; ok {
		return h, nil
	}
	f, err := os.Open(filepath.Join(s.cfg.Dir, obs.name))
	if err != nil {
		return "", fmt.Errorf("%w: filedrop: hash %s: %w", connectors.ErrUnavailable, obs.name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%w: filedrop: hash %s: %w", connectors.ErrUnavailable, obs.name, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	s.hashes[obs] = sum
	return sum, nil
}

// ledger remembers the content hash of every file done, per mapping, in
// done/.hpgate-ledger: "<sha256> <mapping> <stored name> <RFC 3339 time>"
// per line, tab-separated. Deleting a line lets that content be sent again.
type ledger struct {
	path    string
	entries map[string]ledgerEntry
}

type ledgerEntry struct {
	stored string
	at     time.Time
}

func (s *Source) loadLedger() error {
	if s.ledger != nil {
		return nil
	}
	if _, err := os.Stat(s.cfg.Dir); err != nil {
		return fmt.Errorf("%w: filedrop: drop directory: %w", connectors.ErrUnavailable, err)
	}
	l := &ledger{path: filepath.Join(s.cfg.DoneDir, LedgerName), entries: make(map[string]ledgerEntry)}
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.ledger = l
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: filedrop: ledger: %w", connectors.ErrUnavailable, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), "\t")
		if len(p) < 4 || len(p[0]) != 64 {
			continue // a line edited by hand
		}
		at, _ := time.Parse(time.RFC3339, p[3])
		l.entries[p[1]+"\x00"+p[0]] = ledgerEntry{stored: p[2], at: at}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: filedrop: ledger: %w", connectors.ErrUnavailable, err)
	}
	s.ledger = l
	return nil
}

func (l *ledger) get(stream, hash string) (ledgerEntry, bool) {
	e, ok := l.entries[stream+"\x00"+hash]
	return e, ok
}

func (l *ledger) has(stream, hash string) bool {
	_, ok := l.get(stream, hash)
	return ok
}

// add appends an entry and syncs it before the file moves.
func (l *ledger) add(stream, hash, stored string, at time.Time) error {
	if l.has(stream, hash) {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s\t%s\t%s\t%s\n", hash, stream, stored, at.UTC().Format(time.RFC3339))
	if e := f.Sync(); err == nil {
		err = e
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err != nil {
		return err
	}
	l.entries[stream+"\x00"+hash] = ledgerEntry{stored: stored, at: at}
	return nil
}
