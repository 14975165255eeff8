package counties_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/counties"
)

// extract writes every embedded pack to a temporary directory.
func extract(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	for _, name := range counties.Names() {
		p, err := counties.Extract(name, dir)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = p
	}
	if len(out) < 3 {
		t.Fatalf("packs %v", counties.Names())
	}
	return out
}

// TestPacksPassFixtures compiles every embedded pack and runs its
// fixtures: each mapping has some, and all pass.
func TestPacksPassFixtures(t *testing.T) {
	for name, dir := range extract(t) {
		ms, err := mappings.Load(mappings.Options{}, dir)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, m := range ms {
			rs := m.RunFixtures()
			if len(rs) == 0 {
				t.Errorf("%s: %s has no fixtures", name, m.Name)
			}
			for _, r := range rs {
				if !r.Passed() {
					t.Errorf("%s: %s %q: %s", name, m.Name, r.Fixture.Name, strings.Join(r.Problems, "; "))
				}
			}
		}
	}
}

// TestPacksReadmeNamesDatabase: each pack's README lists every mapping
// of the database-backed systems (HIS, public health, insurance) with the
// database it targets.
func TestPacksReadmeNamesDatabase(t *testing.T) {
	flavour := regexp.MustCompile(`\| (Oracle|MySQL|MariaDB|PostgreSQL|SQL Server|SQLite)[^|]*\|`)
	for name, dir := range extract(t) {
		readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		ms, err := mappings.Load(mappings.Options{}, dir)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n := 0
		for _, m := range ms {
			if m.System == "registry" {
				continue
			}
			n++
			row := ""
			for _, line := range strings.Split(string(readme), "\n") {
				if strings.HasPrefix(line, "| `"+filepath.Base(m.File)+"` |") {
					row = line
				}
			}
			if !flavour.MatchString(row) {
				t.Errorf("%s: README has no table row naming the database of %s", name, filepath.Base(m.File))
			}
		}
		if n < 3 {
			t.Errorf("%s: %d database-backed mappings, want HIS, public health and insurance ones", name, n)
		}
	}
}

// TestMultiTablePacks: the multi-table pack reads its settlement from the
// header with the fund detail pivoted and the facility dictionary joined,
// its encounter and follow-up through dictionary lookups.
func TestMultiTablePacks(t *testing.T) {
	dir := extract(t)["360730-ningdu"]
	ms, err := mappings.Load(mappings.Options{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"ningdu-ins-settlement": {
			"(SELECT SUM(d.FUND_PAYAMT) FROM SETL_FUND_DETL d WHERE d.SETL_ID = h.SETL_ID AND d.VALI_FLAG = '1' AND d.FUND_PAY_TYPE IN ('310100', '390100')) AS FUND_BASIC",
			" NOT IN ('310100', '330100', '390100', '390200', '610100', '999996', '999997', '999998', '310200', '510100')) AS hpgate_unknown",
			" FROM SETL_D h LEFT JOIN FIXMEDINS_B l1 ON l1.FIXMEDINS_CODE = h.FIXMEDINS_CODE AND l1.VALI_FLAG = '1'",
		},
		"ningdu-his-encounter": {"l1.icd10 AS zd_icd10 FROM zy_brry h LEFT JOIN gy_jbbm l1 ON l1.jbxh = h.zdbm AND l1.zfpb = '0'"},
		"ningdu-phs-followup":  {"l1.sfzh AS da_sfzh FROM t_mb_sf h LEFT JOIN t_jkda l1 ON l1.dabh = h.dabh AND l1.zt = '1'"},
	}
	for _, m := range ms {
		for _, part := range want[m.Name] {
			if !strings.Contains(m.Stream.Query, part) {
				t.Errorf("%s: query lacks %q:\n%s", m.Name, part, m.Stream.Query)
			}
		}
		delete(want, m.Name)
	}
	if len(want) > 0 {
		t.Errorf("mappings missing from the pack: %v", want)
	}
}
