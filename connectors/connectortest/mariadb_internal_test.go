package connectortest

import (
	"strings"
	"testing"

	"github.com/hpgate/hpgate/connectors/mariadbproc"
)

func TestFindProgramNamesInstallCommand(t *testing.T) {
	_, err := mariadbproc.FindProgram("hpgate-no-such-mariadbd")
	err = withInstallHint(err)
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y mariadb-server") || !strings.Contains(err.Error(), EnvMySQLDSN) {
		t.Errorf("got %v, want the install command and %s", err, EnvMySQLDSN)
	}
}

func TestDatabaseName(t *testing.T) {
	a := databaseName("TestSourceMariaDB/row_committed_late_inside_the_settle_delay/with_settle_delay")
	b := databaseName("TestSourceMariaDB/row_committed_late_inside_the_settle_delay/with_settle_delay")
	if a == b {
		t.Errorf("two calls gave %s", a)
	}
	for _, n := range []string{a, b} {
		if len(n) > 64 || strings.ContainsAny(n, "/-. `") || !strings.HasPrefix(n, "hpt_") {
			t.Errorf("bad database name %q", n)
		}
	}
}
