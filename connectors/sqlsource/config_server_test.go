package sqlsource_test

import (
	"strings"
	"testing"

	"github.com/hpgate/hpgate/connectors/sqlsource"
)

// TestFileConfigServerParts builds oracle and sqlserver DSNs from host,
// port, service or database, user and a password from the environment,
// and reports the parts that are missing or do not fit, by key.
func TestFileConfigServerParts(t *testing.T) {
	t.Setenv("HIS_PW", "p@ss:w/rd")
	cfg, err := sqlsource.FileConfig{Host: "10.1.2.3", Service: "ORCLPDB1", User: "hpgate", PasswordEnv: "HIS_PW", ServerVersion: "11"}.Config("oracle")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(cfg.DSN); got != "oracle://hpgate:p@ss:w%2Frd@10.1.2.3:1521/ORCLPDB1" || cfg.ServerVersion != "11" {
		t.Errorf("oracle DSN %q version %q", got, cfg.ServerVersion)
	}
	if strings.Contains(cfg.DSN.String(), "w%2Frd") {
		t.Errorf("masked DSN shows the password: %s", cfg.DSN)
	}
	cfg, err = sqlsource.FileConfig{Host: "db", Port: 14330, Database: "his", User: "sa", PasswordEnv: "HIS_PW"}.Config("sqlserver")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(cfg.DSN); got != "sqlserver://sa:p%40ss%3Aw%2Frd@db:14330?database=his" {
		t.Errorf("sqlserver DSN %q", got)
	}
	src, err := sqlsource.New("his", cfg, nil)
	if err != nil {
		t.Fatalf("the built DSN does not open: %v", err)
	}
	_ = src.Close()

	for _, tc := range []struct {
		driver string
		fc     sqlsource.FileConfig
		keys   []string
	}{
		{"oracle", sqlsource.FileConfig{Host: "db", User: "u"}, []string{"service", "password_env"}},
		{"oracle", sqlsource.FileConfig{Host: "db", Service: "S", User: "u", PasswordEnv: "HIS_PW", DSNEnv: "X"}, []string{"host"}},
		{"sqlserver", sqlsource.FileConfig{User: "u", Service: "S", PasswordEnv: "NOPE_UNSET"}, []string{"host", "service", "password_env"}},
		{"mysql", sqlsource.FileConfig{Host: "db", User: "u", PasswordEnv: "HIS_PW"}, []string{"host"}},
	} {
		_, err := tc.fc.Config(tc.driver)
		var keys []string
		for _, e := range unjoin(err) {
			if fe, ok := e.(*sqlsource.FieldError); ok {
				keys = append(keys, fe.Key)
			}
		}
		if strings.Join(keys, ",") != strings.Join(tc.keys, ",") {
			t.Errorf("%s %+v: keys %v, want %v (%v)", tc.driver, tc.fc, keys, tc.keys, err)
		}
	}
	for _, tc := range []struct {
		driver, version string
		ok              bool
	}{{"oracle", "12", true}, {"oracle", "auto", true}, {"oracle", "9", false}, {"sqlserver", "2008R2", true}, {"sqlserver", "2000", false}, {"mysql", "8.0", false}} {
		src, err := sqlsource.New("s", sqlsource.Config{Driver: tc.driver, DSN: map[string]sqlsource.DSN{
			"oracle": "oracle://u:p@db:1521/S", "sqlserver": "sqlserver://u:p@db?database=d", "mysql": "u:p@tcp(db)/his",
		}[tc.driver], ServerVersion: tc.version}, nil)
		if src != nil {
			_ = src.Close()
		}
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "server_version")) {
			t.Errorf("%s server_version %q: %v", tc.driver, tc.version, err)
		}
	}
}
