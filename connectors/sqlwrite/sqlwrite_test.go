package sqlwrite

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestStatementsGolden checks the SQL of every dialect, Oracle's and SQL
// Server's MERGE statements included, against testdata/<driver>.golden.
func TestStatementsGolden(t *testing.T) {
	for _, driver := range Drivers {
		t.Run(driver, func(t *testing.T) {
			d, err := ForDriver(driver)
			if err != nil {
				t.Fatal(err)
			}
			cols := []string{"PKBZ", "DBBZ"}
			got := strings.Join([]string{
				d.Select("ybzx.YB_CBRY", "GRBH", cols),
				d.Update("ybzx.YB_CBRY", "GRBH", cols),
				d.CreateAudit(),
				d.InsertAudit(),
			}, "\n") + "\n"
			path := filepath.Join("testdata", driver+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("%s:\n got %s\nwant %s", path, got, want)
			}
		})
	}
}

func TestUpdateArgs(t *testing.T) {
	vals := []any{"1", "0"}
	for _, tc := range []struct {
		driver string
		want   []any
	}{
		{"mysql", []any{"1", "0", "K", "1", "0"}},
		{"postgres", []any{"1", "0", "K"}},
		{"sqlite", []any{"1", "0", "K"}},
		{"oracle", []any{"K", "1", "0", "1", "0"}},
		{"sqlserver", []any{"K", "1", "0"}},
	} {
		d, _ := ForDriver(tc.driver)
		got := d.UpdateArgs("K", vals)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.driver, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %v, want %v", tc.driver, got, tc.want)
				break
			}
		}
		// Every placeholder of the statement has an argument.
		stmt := d.Update("T", "K", []string{"A", "B"})
		if n := strings.Count(stmt, "?"); tc.driver == "mysql" && n != len(got) {
			t.Errorf("mysql: %d placeholders, %d args", n, len(got))
		}
	}
}

func TestForDriverRefusesUnknown(t *testing.T) {
	if _, err := ForDriver("registry"); err == nil {
		t.Error("registry accepted as a writeback target")
	}
	if ValidIdent("t; DROP TABLE x") || !ValidIdent("ybzx.YB_CBRY") {
		t.Error("ValidIdent")
	}
}
