package pipeline_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/dlq"
)

// TestGuomiAlgorithms runs the pipeline with the 国密 options (pii.hmac:
// hmac-sm3, pii.cipher: sm4-gcm): person keys are HMAC-SM3 (unlike the
// SHA-256 ones of the same secret), DLQ raw rows are SM4-GCM sealed and
// re-drive, and no clear ID reaches Kafka or the logs. It then switches
// the cipher back to AES-256-GCM under the same key id: the SM4-sealed DLQ
// history still re-drives.
func TestGuomiAlgorithms(t *testing.T) {
	e := newEnv(t)
	secret := []byte(pii.TestSecret)
	gm, err := pii.NewKeyWith("k2-gm", secret, pii.Algorithms{HMAC: pii.HMACSM3, Cipher: pii.SM4GCM})
	if err != nil {
		t.Fatal(err)
	}
	sha, _ := pii.NewKeyWith("k2-gm", secret, pii.Algorithms{})
	e.key = gm
	for i := range 10 {
		level := "2"
		if i%3 == 0 {
			level = "4" // not in the code table: unknown_code
		}
		e.insertAt(mkID(i), time.Date(2019, 3, 1, 10, 0, i, 0, time.UTC), level)
	}
	e.exec(`INSERT INTO yb_jsxx VALUES ('JSBAD','110105194912310021','x','2','2019-03-01 10:00:30',1,1,'I10','0','2019-03-01 10:00:30')`)
	p, _, stop := e.start(e.maps)
	waitFor(t, "the first run", func() bool { return idle(p) && p.Status()[0].Rows == 11 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	wantKey := gm.PersonKey(goodID)
	if !strings.HasPrefix(wantKey, "k2-gm:") || wantKey == sha.PersonKey(goodID) {
		t.Fatalf("hmac-sm3 key %s, sha-256 key %s", wantKey, sha.PersonKey(goodID))
	}
	recs := connectortest.ReadAll(t, e.broker, "hp.settlement.v1", 6, 10*time.Second)
	if len(recs) != 6 {
		t.Fatalf("%d records, want 6", len(recs))
	}
	var texts []string
	for _, r := range recs {
		var env canonical.Envelope
		var s canonical.Settlement
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(env.Data, &s); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != wantKey || s.PersonKey != wantKey {
			t.Errorf("Kafka key %s, person_key %s, want %s", r.Key, s.PersonKey, wantKey)
		}
		texts = append(texts, string(r.Key), string(r.Value))
	}
	dl := connectortest.ReadAll(t, e.broker, "hp.dlq.v1", 5, 10*time.Second)
	if len(dl) != 5 {
		t.Fatalf("%d DLQ records, want 5", len(dl))
	}
	ids := map[string]bool{}
	for _, m := range dl {
		v, cols, row, err := dlq.Open(gm, m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if raw, _ := base64.StdEncoding.DecodeString(v.Raw); len(raw) == 0 || raw[0] != 0x02 || v.KeyID != "k2-gm" {
			t.Errorf("DLQ raw %.16s… key %s: not sealed with sm4-gcm (marker 0x02) under k2-gm", v.Raw, v.KeyID)
		}
		if _, _, _, err := dlq.Open(sha, m.Value); err != nil {
			t.Errorf("an AES-configured key of the same secret and id cannot open it: %v", err)
		}
		if err := canonical.ValidateDLQ(m.Value); err != nil {
			t.Errorf("DLQ value breaks hp.dlq/v1: %v", err)
		}
		if i := slices.Index(cols, "SFZH"); i >= 0 {
			ids[string(row[i].([]byte))] = true // clear only once unsealed
		}
		texts = append(texts, string(m.Key), string(m.Value))
	}
	if !ids[goodID] || !ids["110105194912310021"] {
		t.Errorf("unsealed rows hold %d IDs, not the two expected", len(ids))
	}

	// The county switches new data to AES-256-GCM under the same key id
	// (the HMAC, hence the person keys, unchanged) and fixes the mapping:
	// the SM4-sealed rows re-drive.
	aesKey, _ := pii.NewKeyWith("k2-gm", secret, pii.Algorithms{HMAC: pii.HMACSM3, Cipher: pii.AES256GCM})
	e.key = aesKey
	p, _, stop = e.start(e.maps)
	defer func() { _ = stop() }()
	waitFor(t, "the restart", func() bool { return idle(p) })
	fixed := filepath.Join(t.TempDir(), "ins-settlement.yaml")
	text := strings.Replace(string(mustRead(t, e.maps)), `"3": county}`, `"3": county, "4": city}`, 1)
	if err := os.WriteFile(fixed, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ms, err := mappings.Load(mappings.Options{Key: aesKey}, fixed)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(ms); err != nil {
		t.Fatal(err)
	}
	res, err := p.Redrive(context.Background(), e.scanner(), "sha256:fixed", pipeline.RedriveRequest{Mapping: "e2e-ins-settlement", Reason: "unknown_code"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 4 || res.UnreadableTotal() != 0 {
		t.Fatalf("re-drive of SM4-sealed rows under an AES-configured key: %+v", res)
	}
	recs = connectortest.ReadAll(t, e.broker, "hp.settlement.v1", 10, 10*time.Second)
	if len(recs) != 10 {
		t.Fatalf("%d records after the re-drive, want 10", len(recs))
	}
	for _, r := range recs {
		if string(r.Key) != wantKey {
			t.Errorf("re-driven key %s, want %s", r.Key, wantKey)
		}
		texts = append(texts, string(r.Value))
	}
	noPersonalData(t, append(texts, e.logs.String(), string(mustJSON(t, res)))...)
}
