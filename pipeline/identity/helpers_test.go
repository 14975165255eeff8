package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/normalize"
)

// A test person key and the county of the tests.
var (
	testKey    = "test:" + strings.Repeat("ab", 32)
	testCounty = "370282"
)

// clock is a settable clock for the stage.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func at(s string) time.Time {
	t, err := time.ParseInLocation(time.DateTime, s, normalize.CST())
	if err != nil {
		panic(err)
	}
	return t
}

func subject(system, sourceID string) canonical.Subject {
	return canonical.Subject{
		Origin:    canonical.Origin{County: testCounty, SourceSystem: system, SourceID: sourceID, UpdatedAt: "2019-01-01T08:00:00+08:00"},
		PersonKey: testKey, IDMasked: "370282********0311", IDQuality: "valid",
	}
}

// input wraps a canonical record in an envelope as a mapping would.
func input(t *testing.T, entity, op string, rec any) *Input {
	t.Helper()
	data, err := canonicalJSON(rec)
	if err != nil {
		t.Fatal(err)
	}
	var sub canonical.Subject
	if err := json.Unmarshal(data, &sub); err != nil {
		t.Fatal(err)
	}
	return &Input{Entity: entity, Where: entity + "/0/1", Env: canonical.Envelope{
		Schema: "hp." + entity + "/v1", ID: sub.SourceSystem + ":" + sub.County + ":" + sub.SourceID, Op: op,
		County: sub.County, Source: canonical.Source{System: sub.SourceSystem, Mapping: "m-" + entity},
		IngestedAt: "2019-01-01T08:00:00+08:00", Hash: "sha256:" + hashHex(data), Data: data,
	}}
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func registryPerson(status, since, cause string) canonical.Person {
	p := canonical.Person{Subject: subject("registry", "P1"), PovertyStatus: status, StatusSince: since, PovertyCause: cause}
	return p
}

func enrollment(year int, mark bool, from, to string) canonical.Enrollment {
	return canonical.Enrollment{Subject: subject("insurance", "E1|"+itoa(year)), EnrollmentNo: "E1", Year: &year,
		PovertyMark: &mark, PovertyMarkFrom: from, PovertyMarkTo: to, Status: "active"}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// decoded is an output message decoded for assertions.
type decoded struct {
	Topic string
	Env   canonical.Envelope
	Data  map[string]any
}

func decode(t *testing.T, msgs []connectors.Message) []decoded {
	t.Helper()
	var out []decoded
	for _, m := range msgs {
		if err := canonical.ValidateEnvelope(m.Value); err != nil {
			t.Fatalf("%s: %v\n%s", m.Topic, err, m.Value)
		}
		var d decoded
		d.Topic = m.Topic
		if err := json.Unmarshal(m.Value, &d.Env); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(d.Env.Data, &d.Data); err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != testKey && !strings.HasPrefix(string(m.Key), "test:") {
			t.Errorf("key %q is not a person key", m.Key)
		}
		out = append(out, d)
	}
	return out
}

func ofTopic(ds []decoded, topic string) []decoded {
	var out []decoded
	for _, d := range ds {
		if d.Topic == topic {
			out = append(out, d)
		}
	}
	return out
}

// testPolicy writes a policy file with small disease lists and loads it.
func testPolicy(t testing.TB, extra string) *Policies {
	t.Helper()
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("key.csv", "code,value,label\nI10,hypertension,\nE11,diabetes,\nC34,lung_cancer,\n")
	write("major.csv", "code,value,label\nC34,lung_cancer,\n")
	write("chronic.csv", "code,value,label\n1001,I10,\n1002,E11.9,\n")
	// R06 annual caps: the diabetes category of the catalogue, and an ICD
	// code outside it.
	write("cap.csv", "code,value,label\n1002,1000,\nJ45,800,\n")
	write("policy.yaml", `kind: policy
county: "370282"
grace_period: 72h
diseases:
  key: {file: key.csv}
  major: {file: major.csv}
  chronic: {file: chronic.csv, icd_column: value}
`+extra)
	ps, err := LoadPolicies(0, dir)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}
