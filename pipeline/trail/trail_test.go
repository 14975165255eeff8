package trail_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/kafkasink"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
	"github.com/hpgate/hpgate/pipeline/trail"
)

func loadMaps(t *testing.T, paths ...string) []*mappings.Mapping {
	t.Helper()
	ms, err := mappings.Load(mappings.Options{Key: pii.TestKey()}, paths...)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestTrailChainAndPublish: entries record who loaded what and what
// changed; the chain verifies, breaks when an entry is edited, and every
// entry reaches the audit topic as a valid hp.audit/v1 value.
func TestTrailChainAndPublish(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../testdata/maps/ins-settlement.yaml")
	if err != nil {
		t.Fatal(err)
	}
	mapFile := filepath.Join(dir, "maps", "ins.yaml")
	if err := os.MkdirAll(filepath.Dir(mapFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mapFile, src, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hpgate.yaml")
	if err := os.WriteFile(cfg, []byte("state: {dir: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := checkpoint.Open(filepath.Join(dir, "state"), pii.TestKey().SealKey(), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tr := trail.Open(store)

	first, err := tr.Append(trail.Entry{Operator: "zhang.ops", Action: canonical.AuditStart, Config: cfg, Mappings: loadMaps(t, mapFile)})
	if err != nil {
		t.Fatal(err)
	}
	wantHash, _ := trail.FileHash(mapFile)
	if first.Prev != "" || *first.Seq != 1 || first.Mappings["e2e-ins-settlement"] != wantHash ||
		!slices.Equal(first.Added, []string{"e2e-ins-settlement"}) || !strings.HasPrefix(first.Config, "sha256:") {
		t.Errorf("first entry %+v", first)
	}
	// A field rule changes: the reload lists the mapping as changed.
	if err := os.WriteFile(mapFile, []byte(strings.Replace(string(src), "main_diagnosis: ZDDM\n", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := tr.Append(trail.Entry{Operator: "zhang.ops", Action: canonical.AuditReload, Mappings: loadMaps(t, mapFile)})
	if err != nil {
		t.Fatal(err)
	}
	if second.Prev != first.Hash || !slices.Equal(second.Changed, []string{"e2e-ins-settlement"}) || len(second.Added) != 0 {
		t.Errorf("second entry %+v", second)
	}
	third, err := tr.Append(trail.Entry{Operator: "li.ops", Action: canonical.AuditCheckpointReset, Mapping: "e2e-ins-settlement", Err: errors.New("mapping is running")})
	if err != nil {
		t.Fatal(err)
	}
	if third.Result != "failed" || third.Detail != "mapping is running" || third.Mappings != nil {
		t.Errorf("third entry %+v", third)
	}
	if n, err := tr.Verify(); err != nil || n != 3 {
		t.Fatalf("verify: %d, %v", n, err)
	}

	// Published: three valid values, in order.
	addr, _ := connectortest.Broker(t, "hp.audit.v1")
	sink, err := kafkasink.New(kafkasink.Config{Brokers: []string{addr}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close(context.Background())
	if n, err := tr.Publish(context.Background(), sink, trail.Topic("hp.")); err != nil || n != 3 {
		t.Fatalf("publish: %d, %v", n, err)
	}
	if n, err := tr.Publish(context.Background(), sink, trail.Topic("hp.")); err != nil || n != 0 {
		t.Fatalf("publish again: %d, %v", n, err)
	}
	recs := connectortest.ReadAll(t, addr, "hp.audit.v1", 3, 10*time.Second)
	var got []canonical.Audit
	for _, r := range recs {
		if err := canonical.ValidateAudit(r.Value); err != nil {
			t.Errorf("invalid audit value: %v", err)
		}
		var a canonical.Audit
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	if n, err := trail.VerifyEntries(got); err != nil || n != 3 {
		t.Errorf("the topic's chain: %d, %v", n, err)
	}

	// Editing an entry breaks the chain at that entry.
	tampered := *second
	tampered.Operator = "someone.else"
	v, _ := json.Marshal(&tampered)
	if err := store.Bucket("audit_trail").Put([]byte{0, 0, 0, 0, 0, 0, 0, 2}, v); err != nil {
		t.Fatal(err)
	}
	if n, err := trail.Open(store).Verify(); !errors.Is(err, trail.ErrBroken) || n != 1 {
		t.Errorf("verify after tampering: %d, %v", n, err)
	}
}
