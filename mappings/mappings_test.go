package mappings

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/mappings/yamlfile"
)

var update = flag.Bool("update", false, "rewrite the expected .err files of testdata/bad")

func TestGoodFixturesPass(t *testing.T) {
	ms, err := Load(Options{}, "testdata/good", "testdata/bench")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		for _, r := range m.RunFixtures() {
			n++
			if !r.Passed() {
				t.Errorf("%s:%d %s: %s", r.File, r.Fixture.Line, r.Fixture.Name, strings.Join(r.Problems, "; "))
			}
		}
	}
	if n < 9 {
		t.Errorf("ran %d fixtures, want at least 9", n)
	}
}

// TestBadFiles compiles each testdata/bad/*.bad.yaml and compares every
// reported problem with the .err file beside it.
func TestBadFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.bad.yaml")
	if len(files) == 0 {
		t.Fatal("no bad files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(Options{}, f)
			var errs yamlfile.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want position errors, got %v", err)
			}
			got := errs.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("problems differ from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
			for _, e := range errs {
				if e.Line == 0 && !strings.Contains(e.Msg, "expected single document") {
					t.Errorf("problem without a position: %v", e)
				}
			}
		})
	}
}

func TestDuplicateNamesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/bench/settlement.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.yaml", "b.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, n), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = Load(Options{}, dir)
	if err == nil || !strings.Contains(err.Error(), "b.yaml:5:7: mapping name \"bench-ins-settlement\" is already used by") {
		t.Fatalf("got %v", err)
	}
}

func TestEnvelope(t *testing.T) {
	m := loadBench(t)
	batch := benchBatch(2)
	var res Result
	now := time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
	if err := m.Apply(batch, &res, now); err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 2 {
		t.Fatalf("records %d, rejections %v", len(res.Records), res.Rejections)
	}
	rec := res.Records[1]
	if err := canonical.ValidateEnvelope(rec.Value); err != nil {
		t.Fatalf("envelope invalid: %v\n%s", err, rec.Value)
	}
	var env canonical.Envelope
	if err := json.Unmarshal(rec.Value, &env); err != nil {
		t.Fatal(err)
	}
	wantKey := pii.TestKey().PersonKey("11010519491231002X")
	checks := []struct{ name, got, want string }{
		{"schema", env.Schema, "hp.settlement/v1"},
		{"id", env.ID, "insurance:370282:JS00000001"},
		{"record id", string(rec.ID), env.ID},
		{"op", env.Op, "upsert"},
		{"county", env.County, "370282"},
		{"source", env.Source.System + "/" + env.Source.Connector + "/" + env.Source.Mapping, "insurance/bench-ins/bench-ins-settlement"},
		{"position", env.Source.Position, "2019-03-01 10:00:05|JS00000001"},
		{"occurred_at", env.OccurredAt, "2019-03-01T10:00:00+08:00"},
		{"ingested_at", env.IngestedAt, "2026-11-23T12:00:00+08:00"},
		{"key", string(rec.Key), wantKey},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	// The hash is SHA-256 over the canonical JSON of data: sorted keys, as
	// encoding/json writes a map.
	var data map[string]any
	dec := json.NewDecoder(bytes.NewReader(env.Data))
	dec.UseNumber()
	if err := dec.Decode(&data); err != nil {
		t.Fatal(err)
	}
	canon, _ := json.Marshal(data)
	sum := sha256.Sum256(canon)
	if env.Hash != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("hash %s is not the SHA-256 of the canonical data %s", env.Hash, canon)
	}
	if !bytes.Equal(canon, rec.Data) {
		t.Errorf("data is not in canonical form:\n got %s\nwant %s", rec.Data, canon)
	}
	if data["person_key"] != wantKey || data["total_cost"] != "12345.67" || data["reversal"] != false || data["in_county"] != true {
		t.Errorf("data: %s", rec.Data)
	}
	if got := len(m.Headers); got != 3 || string(m.Headers[0].Value) != "hp.settlement/v1" {
		t.Errorf("headers %v", m.Headers)
	}
}

// TestNoPersonalDataLeaves maps rows full of personal data, good and bad,
// and checks that no clear ID, name or birth date appears in any record,
// key, id, position or rejection.
func TestNoPersonalDataLeaves(t *testing.T) {
	ms, err := Load(Options{}, "testdata/good/registry-person.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := ms[0]
	name, _ := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte("张三丰"))
	cols := []string{"RYBH", "SFZH", "XM", "XZQH", "HBH", "PKZT", "ZTRQ", "ZPYY", "DBBZ", "SCBZ", "SWBZ", "GXSJ", "JHRSFZH", "CSXH", "CJBZ", "TPND", "LXDH"}
	rows := [][]any{
		{"R1", "11010519491231002X", name, "370282101001", "H1", "1", "20160301", "01", "1", "0", "0", "20160301080000", nil, nil, nil, nil, "13812345678"},
		{"R2", "110105194912310021", name, "370282101001", "H1", "1", "20160301", "01", "1", "0", "0", "20160301080000", nil, nil, nil, nil, "13812345678"},
		{"R3", "11010519491231002X", name, "370282101001", "H1", "1", "x", "01", "1", "0", "0", "20160301080000", nil, nil, nil, nil, "13812345678"},
	}
	var res Result
	if err := m.Apply(&connectors.Batch{Columns: cols, Rows: rows}, &res, time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 1 || len(res.Rejections) != 2 {
		t.Fatalf("records %d rejections %v", len(res.Records), res.Rejections)
	}
	var all []byte
	for _, r := range res.Records {
		all = append(all, r.Value...)
		all = append(all, r.Key...)
	}
	for _, rj := range res.Rejections {
		all = append(all, rj.Error()...)
	}
	for _, clear := range []string{"11010519491231002X", "110105194912310021", "19491231", "张三丰", "三丰", "13812345678"} {
		if bytes.Contains(all, []byte(clear)) {
			t.Errorf("output holds %q:\n%s", clear, all)
		}
	}
	if rj := res.Rejections[0]; rj.Field != "person_key" || rj.Code != "bad_check_digit" || rj.Position != "20160301080000|R2" {
		t.Errorf("rejection %+v", rj)
	}
}

// TestPIIKeyColumnsAreHashed checks that a key column holding an ID number
// appears only as its HMAC in id, source_id and position.
func TestPIIKeyColumnsAreHashed(t *testing.T) {
	src := strings.Replace(string(mustRead(t, "testdata/bench/settlement.yaml")), "keys: [JSID]", "keys: [SFZH, JSID]", 1)
	m, err := Parse("k.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := m.Apply(benchBatch(1), &res, time.Now()); err != nil {
		t.Fatal(err)
	}
	v := res.Records[0].Value
	if bytes.Contains(v, []byte("11010519491231002X")) {
		t.Fatalf("clear ID in %s", v)
	}
	h := pii.TestKey().NewHasher()
	hashed := string(h.AppendHex(nil, "11010519491231002X"))
	if string(res.Records[0].ID) != "insurance:370282:"+hashed+"|JS00000000" {
		t.Errorf("id %s", res.Records[0].ID)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBatchMissingColumnIsBatchError(t *testing.T) {
	m := loadBench(t)
	b := benchBatch(1)
	b.Columns = append([]string{"OTHER"}, b.Columns[1:]...)
	var res Result
	err := m.Apply(b, &res, time.Now())
	if err == nil || !strings.Contains(err.Error(), "JSID") {
		t.Fatalf("got %v", err)
	}
}

func TestFixtureFailureIsReadable(t *testing.T) {
	src := string(mustRead(t, "testdata/good/registry-person.yaml"))
	src = strings.Replace(src, "poverty_cause: other, disabled: true", "poverty_cause: illness, disabled: true", 1)
	m, err := Parse("testdata/good/x.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, r := range m.RunFixtures() {
		failed = append(failed, r.Problems...)
	}
	if len(failed) != 1 || failed[0] != `poverty_cause: got "other", want "illness"` {
		t.Errorf("problems %q", failed)
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/bench/settlement.yaml", "testdata/good/registry-person.yaml", "testdata/bad/many-errors.bad.yaml", "testdata/bad/types.bad.yaml",
		"testdata/good/ins-settlement-fund.yaml", "testdata/bad/multitable.bad.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("testdata/good/f.yaml", data, Options{})
		if err != nil {
			var errs yamlfile.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("non-position error %T %v", err, err)
			}
			return
		}
		m.RunFixtures() // must not panic
	})
}

// TestExpressionFunctionsAreNotColumns keeps the names of functions called
// in expressions (blank in `not blank(HBH)`) out of the columns a source
// is asked to read: a database has no column blank.
func TestExpressionFunctionsAreNotColumns(t *testing.T) {
	ms, err := Load(Options{}, "counties/370282-jimo/jimo-registry-person.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cols := ms[0].Stream.Columns
	if !slices.Contains(cols, "HBH") || !slices.Contains(cols, "PKHSX") {
		t.Errorf("columns %v lack HBH or PKHSX, read by the filter and an expr rule", cols)
	}
	for _, fn := range []string{"blank"} {
		if slices.Contains(cols, fn) {
			t.Errorf("columns %v hold the function %s", cols, fn)
		}
	}
}
