package main

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/mappings"
)

// TestDemoMultiTablePack runs `hpgate demo` on the Ningdu pack, whose
// mappings all read several tables (a fund-detail pivot, dictionary
// lookups), against a broker of the test, and checks what each mapping
// delivered against its own fixtures: the demo grew the header, detail
// and dictionary rows from them, so every record grown from a fixture
// must carry what the fixture expects (per-layer amounts, looked-up
// levels, diagnoses and identities).
func TestDemoMultiTablePack(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo builds a county and runs the pipeline; skipped with -short")
	}
	const pack = "../../mappings/counties/360730-ningdu"
	addr, _ := connectortest.Broker(t)
	code, out, errOut := runCLI(t, "demo", "--pack", pack, "--rows", "60", "--brokers", addr)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "increment delivered") {
		t.Errorf("no increment in:\n%s", out)
	}
	if regexp.MustCompile(`\b\d{6}(19|20)\d{9}[\dX]\b`).MatchString(out) {
		t.Errorf("a clear ID number in the demo output:\n%s", out)
	}
	ms, err := mappings.Load(mappings.Options{}, pack)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Tables() == nil {
			t.Errorf("%s: not a multi-table mapping, the test means to cover those", m.Name)
		}
		// 60 rows then 25 more, all mapped but the rejected fixtures.
		line := regexp.MustCompile(`(?m)^\s+` + m.Name + `\s+(\d+)\s+(\d+)\s+(\d+)\s`).FindStringSubmatch(out)
		if line == nil {
			t.Errorf("no %s line in:\n%s", m.Name, out)
			continue
		}
		rows, _ := strconv.Atoi(line[1])
		records, _ := strconv.Atoi(line[2])
		rejected, _ := strconv.Atoi(line[3])
		if records != 85 || rows != records+rejected {
			t.Errorf("%s: %d rows read, %d records, %d rejected; want 85 records and every row accounted for", m.Name, rows, records, rejected)
		}
		checkAgainstFixtures(t, addr, m)
	}
}

// checkAgainstFixtures reads the mapping's topic and compares each record
// grown from a clean fixture (its key is the fixture's, suffixed) with the
// fixture's expectations, leaving out what the demo varies on purpose (the
// key and the person).
func checkAgainstFixtures(t *testing.T, addr string, m *mappings.Mapping) {
	t.Helper()
	var recs []map[string]any
	for _, r := range connectortest.ReadAll(t, addr, m.Topic("hp."), 0, 30*time.Second) {
		var env struct {
			Source struct{ Mapping string }
			Data   map[string]any
		}
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatalf("%s: %v", m.Topic("hp."), err)
		}
		if env.Source.Mapping == m.Name {
			recs = append(recs, env.Data)
		}
	}
	key := m.Stream.KeyColumns[0]
	checked := 0
	for _, fx := range m.Fixtures {
		if fx.Reject != nil || fx.Filtered || fx.Op == "delete" {
			continue
		}
		row := map[string]any{}
		for i, col := range fx.Columns {
			row[col] = fx.Row[i]
		}
		prefix := fixtureText(row[key]) + "-"
		n := 0
		for _, rec := range recs {
			if !strings.HasPrefix(fmt.Sprint(rec["source_id"]), prefix) {
				continue
			}
			n++
			for field, want := range fx.Expect {
				if field == "id_masked" || want.Value == fixtureText(row[key]) {
					continue // varied by the demo: the person, the key
				}
				got, ok := rec[field]
				switch {
				case want.Tag == "!!null":
					if ok && got != nil {
						t.Errorf("%s, %s: %s = %v, want null", m.Name, fx.Name, field, got)
					}
				case recordText(got) != want.Value:
					t.Errorf("%s, %s: %s = %v, want %s", m.Name, fx.Name, field, got, want.Value)
				}
			}
			// The pivot summed each layer from its detail rows: the layers
			// add up to what the fixture's fund columns hold.
			if m.Tables().Detail != nil {
				var want, got float64
				for _, col := range []string{"FUND_BASIC", "FUND_SERIOUS", "FUND_AID", "FUND_SUPP", "FUND_BACKSTOP", "FUND_OTHER"} {
					want += fixtureNumber(t, row[col])
				}
				for _, f := range []string{"basic_insurance", "critical_illness", "medical_assistance", "supplementary", "government_backstop", "other_funds"} {
					if v, ok := rec[f].(string); ok {
						x, err := strconv.ParseFloat(v, 64)
						if err != nil {
							t.Fatalf("%s: %s = %q", m.Name, f, v)
						}
						got += x
					}
				}
				if math.Abs(want-got) > 0.005 {
					t.Errorf("%s, %s: the layers sum to %.2f, the fixture's funds to %.2f", m.Name, fx.Name, got, want)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no record grown from fixture %q (source_id %s…)", m.Name, fx.Name, prefix)
		}
		checked += n
	}
	if checked == 0 {
		t.Errorf("%s: no record checked", m.Name)
	}
}

func fixtureText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

func fixtureNumber(t *testing.T, v any) float64 {
	if v == nil {
		return 0
	}
	x, err := strconv.ParseFloat(fixtureText(v), 64)
	if err != nil {
		t.Fatalf("fixture amount %v: %v", v, err)
	}
	return x
}

// recordText renders a JSON value as the fixtures write it.
func recordText(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}
