package deploy

import (
	"net"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/pipeline/config"
	"github.com/hpgate/hpgate/pipeline/writeback"
)

// The units of `hpgate identity` and `hpgate writeback` (design.md,
// "Process roles"), beside the gateway's.
const (
	identityUnitPath    = "systemd/hpgate-identity.service"
	writebackUnitPath   = "systemd/hpgate-writeback.service"
	writebackConfigPath = "systemd/writeback.yaml"
	writebackCredDir    = "/run/credentials/hpgate-writeback.service"
)

var allUnitPaths = []string{unitPath, identityUnitPath, writebackUnitPath}

// flagValue is the value of --name (or --name=v) in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		switch {
		case a == name && i+1 < len(args):
			return args[i+1]
		case strings.HasPrefix(a, name+"="):
			return strings.TrimPrefix(a, name+"=")
		}
	}
	return ""
}

// roleUnit parses a role's unit and checks what every role unit shares:
// the gateway's hardening, ExecStart `/usr/bin/hpgate ROLE`, no
// ExecReload (identity and writeback do not handle SIGHUP: it would end
// them), no writable place but the state directory. It returns the unit,
// its ExecStart fields and its TimeoutStopSec.
func roleUnit(t *testing.T, p, role string) (unitFile, []string, time.Duration) {
	t.Helper()
	u := parseUnit(t, p)
	checkHardening(t, p, u)
	args := strings.Fields(u.last("Service", "ExecStart"))
	if len(args) < 2 || args[0] != "/usr/bin/hpgate" || args[1] != role {
		t.Fatalf("%s: ExecStart=%q: want /usr/bin/hpgate %s …", p, args, role)
	}
	for _, k := range []string{"ExecReload", "ReadWritePaths", "SupplementaryGroups"} {
		if _, set := u["Service"][k]; set {
			t.Errorf("%s: %s= is set: hpgate %s has no reload and writes only its state directory", p, k, role)
		}
	}
	stop, err := time.ParseDuration(u.last("Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatalf("%s: TimeoutStopSec=%s: %v", p, u.last("Service", "TimeoutStopSec"), err)
	}
	return u, args, stop
}

// TestSystemdRoleUnits checks the identity and writeback units against the
// gateway's: each its own state directory (one process per directory),
// identity on the gateway's config with no secret, writeback on its own
// config, and drain times that cover their work in flight and match the
// Kubernetes Deployments'.
func TestSystemdRoleUnits(t *testing.T) {
	gwCfg := loadLoose(t, unitConfigPath, readFile(t, unitConfigPath))
	stateDirs := map[string]string{}
	for _, p := range allUnitPaths {
		d := parseUnit(t, p).last("Service", "StateDirectory")
		if other, dup := stateDirs[d]; dup {
			t.Errorf("%s and %s share StateDirectory=%s: one process per state directory", other, p, d)
		}
		stateDirs[d] = p
	}
	if _, set := parseUnit(t, unitPath)["Service"]["ExecReload"]; !set {
		t.Errorf("%s: no ExecReload: hpgate run reloads its mappings on SIGHUP", unitPath)
	}

	t.Run("identity", func(t *testing.T) {
		u, args, stop := roleUnit(t, identityUnitPath, "identity")
		if cfg := configFlag(args); cfg != "/etc/hpgate/hpgate.yaml" {
			t.Errorf("ExecStart reads %s: want the gateway's /etc/hpgate/hpgate.yaml (same brokers, prefix and packs)", cfg)
		}
		if got, want := flagValue(args, "--state-dir"), "/var/lib/"+u.last("Service", "StateDirectory"); got != want {
			t.Errorf("ExecStart --state-dir %q: want %s, the unit's StateDirectory (not the gateway's state.dir)", got, want)
		}
		if creds := u["Service"]["LoadCredential"]; len(creds) > 0 {
			t.Errorf("LoadCredential=%q: hpgate identity reads no secret of the gateway's config", creds)
		}
		checkLoopback(t, "identity.listen", gwCfg.Identity.Listen)
		if need := gwCfg.Kafka.WriteTimeout + 30*time.Second; stop < need {
			t.Errorf("TimeoutStopSec=%s: a drain is one Kafka write (write_timeout %s); leave 30 s more", stop, gwCfg.Kafka.WriteTimeout)
		}
		if grace := deploymentGrace(t, identityDeployment); grace != stop {
			t.Errorf("TimeoutStopSec=%s but Deployment %s has terminationGracePeriodSeconds %s: give both platforms the same drain time", stop, identityDeployment, grace)
		}
	})

	t.Run("writeback", func(t *testing.T) {
		u, args, stop := roleUnit(t, writebackUnitPath, "writeback")
		if cfg := configFlag(args); cfg != "/etc/hpgate/"+path.Base(writebackConfigPath) {
			t.Errorf("ExecStart reads %s: want /etc/hpgate/%s", cfg, path.Base(writebackConfigPath))
		}
		cfg := loadLoose(t, writebackConfigPath, readFile(t, writebackConfigPath))
		if want := "/var/lib/" + u.last("Service", "StateDirectory"); path.Clean(cfg.State.Dir) != want {
			t.Errorf("%s: state.dir %s: want %s, the unit's StateDirectory", writebackConfigPath, cfg.State.Dir, want)
		}
		checkLoopback(t, "writeback.listen", cfg.Writeback.Listen)
		var need time.Duration
		for name := range cfg.Sources {
			need = max(need, sourceBlock(t, cfg, name).readTimeout)
		}
		if need += cfg.Kafka.WriteTimeout; stop < need+30*time.Second {
			t.Errorf("TimeoutStopSec=%s: a drain may take %s (a target's query_timeout + write_timeout); leave 30 s more", stop, need)
		}
		if grace := deploymentGrace(t, writebackDeployment); grace != stop {
			t.Errorf("TimeoutStopSec=%s but Deployment %s has terminationGracePeriodSeconds %s: give both platforms the same drain time", stop, writebackDeployment, grace)
		}
	})
}

func checkLoopback(t *testing.T, key, listen string) {
	t.Helper()
	if host, _, err := net.SplitHostPort(listen); err != nil {
		t.Errorf("%s %q: %v", key, listen, err)
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		t.Errorf("%s %s: keep the listener on loopback on a host", key, listen)
	}
}

// TestSystemdWritebackConfig: writeback.yaml names exactly the targets of
// the pack's writeback files (no other database's DSN), takes every secret
// from the unit's credentials, agrees with the gateway's config on what
// they share, and, laid out as the unit sees it, loads: key, target
// sources, and `hpgate writeback --print-audit-ddl` with the built binary.
func TestSystemdWritebackConfig(t *testing.T) {
	u := parseUnit(t, writebackUnitPath)
	creds := credentials(t, u)
	text := readFile(t, writebackConfigPath)
	cfg := loadLoose(t, writebackConfigPath, text)
	gw := loadLoose(t, unitConfigPath, readFile(t, unitConfigPath))

	wbs, err := writeback.Load(jimoPack)
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, wb := range wbs {
		if !slices.Contains(targets, wb.Target) {
			targets = append(targets, wb.Target)
		}
	}
	slices.Sort(targets)
	if got := slices.Sorted(mapKeys(cfg.Sources)); !slices.Equal(got, targets) {
		t.Errorf("%s: sources %q, want the writeback targets %q and nothing else (least privilege)", writebackConfigPath, got, targets)
	}
	for _, name := range targets {
		if gw.Sources[name] == nil || gw.Sources[name].Driver != cfg.Sources[name].Driver {
			t.Errorf("%s: source %s is not the gateway's source of that name and driver", writebackConfigPath, name)
		}
	}
	same := func(what string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: %s %v differs from %s's %v", writebackConfigPath, what, a, unitConfigPath, b)
		}
	}
	same("kafka.brokers", cfg.Kafka.Brokers, gw.Kafka.Brokers)
	same("kafka.topic_prefix", cfg.Kafka.TopicPrefix, gw.Kafka.TopicPrefix)
	same("kafka.tls", cfg.Kafka.TLS, gw.Kafka.TLS)
	same("pii.key_id", cfg.PII.KeyID, gw.PII.KeyID)
	same("mappings.paths", cfg.Mappings.Paths, gw.Mappings.Paths)
	if creds["pii-key"] != credentials(t, parseUnit(t, unitPath))["pii-key"] {
		t.Errorf("LoadCredential=pii-key:%s: want the gateway's key file", creds["pii-key"])
	}
	files := checkCredentials(t, writebackConfigPath, cfg, writebackCredDir, creds)
	if t.Failed() {
		return
	}

	root := t.TempDir()
	for id := range creds {
		v := testDSN
		if files["pii.key_file"] == writebackCredDir+"/"+id {
			v = testKeyHex
		}
		writeFile(t, filepath.Join(root, "credentials", id), []byte(v+"\n"))
	}
	copyTree(t, jimoPack, filepath.Join(root, "mappings", "370282-jimo"))
	rewritten := strings.NewReplacer(
		writebackCredDir, filepath.Join(root, "credentials"),
		cfg.Mappings.Paths[0], filepath.Join(root, "mappings"),
		cfg.State.Dir, filepath.Join(root, "state"),
	).Replace(string(text))
	p := filepath.Join(root, "writeback.yaml")
	writeFile(t, p, []byte(rewritten))
	loaded, err := config.LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loaded.LoadKey(); err != nil {
		t.Fatalf("key: %v", err)
	}
	if errs := openSources(loaded); len(errs) > 0 {
		t.Fatalf("sources:\n%s", strings.Join(errs, "\n"))
	}
	bin, _ := builtHpgate(t)
	out, err := exec.Command(bin, "writeback", "-c", p, "--print-audit-ddl").CombinedOutput()
	if err != nil {
		t.Fatalf("hpgate writeback --print-audit-ddl: %v\n%s", err, out)
	}
	for _, name := range targets {
		if !strings.Contains(string(out), "-- target "+name+" (") {
			t.Errorf("hpgate writeback --print-audit-ddl shows no target %s:\n%s", name, out)
		}
	}
}

// TestSystemdIdentityConfig: the gateway's config, laid out as the identity
// unit sees it (the pack in place, no credentials at all), passes `hpgate
// identity --check`, which loads the config and the county policy files.
func TestSystemdIdentityConfig(t *testing.T) {
	text := readFile(t, unitConfigPath)
	cfg := loadLoose(t, unitConfigPath, text)
	root := t.TempDir()
	copyTree(t, jimoPack, filepath.Join(root, "mappings", "370282-jimo"))
	rewritten := strings.NewReplacer(cfg.Mappings.Paths[0], filepath.Join(root, "mappings")).Replace(string(text))
	p := filepath.Join(root, "hpgate.yaml")
	writeFile(t, p, []byte(rewritten))
	bin, _ := builtHpgate(t)
	out, err := exec.Command(bin, "identity", "--check", "-c", p, "--state-dir", filepath.Join(root, "state")).CombinedOutput()
	if err != nil {
		t.Fatalf("hpgate identity --check without the gateway's credentials: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "county policy file(s) (370282)") {
		t.Errorf("hpgate identity --check did not load the Jimo policy:\n%s", out)
	}
}
