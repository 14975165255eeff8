package deploy

import (
	"bufio"
	"bytes"
	"net"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hpgate/hpgate/pipeline/config"
)

const (
	unitPath       = "systemd/hpgate.service"
	unitConfigPath = "systemd/hpgate.yaml"
	unitName       = "hpgate.service"
	// credentialsDir is $CREDENTIALS_DIRECTORY of the unit: systemd puts
	// a unit's credentials in /run/credentials/<unit name>.
	credentialsDir = "/run/credentials/" + unitName
)

// unitFile is a parsed unit file: section → key → values in order.
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, p string) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, p)))
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
		case strings.HasSuffix(l, `\`):
			t.Fatalf("%s:%d: continuation lines are not supported by this test's parser", p, n)
		case l[0] == '[' && l[len(l)-1] == ']':
			section = l[1 : len(l)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not key=value in a section: %q", p, n, l)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// last returns the value in force of a key (the last assignment).
func (u unitFile) last(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// unitHardening is what every unit sets (issue 9), so that none is
// dropped unnoticed.
var unitHardening = map[string]string{
	"Type":                    "notify",
	"NotifyAccess":            "main",
	"WatchdogSec":             "60",
	"DynamicUser":             "yes",
	"StateDirectoryMode":      "0700",
	"ConfigurationDirectory":  "hpgate",
	"UMask":                   "0077",
	"ProtectSystem":           "strict",
	"ProtectHome":             "yes",
	"PrivateTmp":              "yes",
	"PrivateDevices":          "yes",
	"NoNewPrivileges":         "yes",
	"ProtectKernelTunables":   "yes",
	"ProtectKernelModules":    "yes",
	"ProtectKernelLogs":       "yes",
	"ProtectControlGroups":    "yes",
	"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	"RestrictNamespaces":      "yes",
	"LockPersonality":         "yes",
	"MemoryDenyWriteExecute":  "yes",
	"SystemCallArchitectures": "native",
	"CapabilityBoundingSet":   "",
	"KillSignal":              "SIGTERM",
	"Restart":                 "on-failure",
}

// checkHardening checks unitHardening and the rest every unit shares.
func checkHardening(t *testing.T, p string, u unitFile) {
	t.Helper()
	for _, k := range slices.Sorted(mapKeys(unitHardening)) {
		if _, set := u["Service"][k]; !set {
			t.Errorf("%s: [Service] %s is not set; want %s=%s", p, k, k, unitHardening[k])
		} else if got := u.last("Service", k); got != unitHardening[k] {
			t.Errorf("%s: [Service] %s=%s, want %s", p, k, got, unitHardening[k])
		}
	}
	if !slices.Contains(u["Service"]["SystemCallFilter"], "@system-service") {
		t.Errorf("%s: SystemCallFilter=%q lacks @system-service", p, u["Service"]["SystemCallFilter"])
	}
	if u.last("Service", "RestartSec") == "" {
		t.Errorf("%s: RestartSec is not set", p)
	}
	if u.last("Service", "StateDirectory") == "" {
		t.Errorf("%s: StateDirectory is not set: the only writable place", p)
	}
	for _, k := range []string{"Environment", "User"} {
		if _, set := u["Service"][k]; set {
			t.Errorf("%s: [Service] %s= is set: secrets go in credentials, and the user is dynamic", p, k)
		}
	}
	if env := u.last("Service", "EnvironmentFile"); env != "" && !strings.HasPrefix(env, "-") {
		t.Errorf("%s: EnvironmentFile=%s: make it optional (-/etc/hpgate/…)", p, env)
	}
	if !strings.Contains(u.last("Service", "ExecStart"), "--log.format json") {
		t.Errorf("%s: ExecStart=%s: want --log.format json (the journal keeps one JSON line per event)", p, u.last("Service", "ExecStart"))
	}
}

// TestSystemdUnitSettings checks the directives issue 9 asks of the unit,
// so that none is dropped unnoticed.
func TestSystemdUnitSettings(t *testing.T) {
	u := parseUnit(t, unitPath)
	checkHardening(t, unitPath, u)
	if got := u.last("Service", "StateDirectory"); got != "hpgate" {
		t.Errorf("StateDirectory=%s, want hpgate", got)
	}
	if len(u["Service"]["LoadCredential"]) == 0 {
		t.Error("no LoadCredential=: secrets must come as credentials")
	}

	execStart := strings.Fields(u.last("Service", "ExecStart"))
	if len(execStart) < 2 || execStart[0] != "/usr/bin/hpgate" || execStart[1] != "run" {
		t.Fatalf("ExecStart=%q: want /usr/bin/hpgate run …", execStart)
	}
	if cfg := configFlag(execStart); cfg != "/etc/"+u.last("Service", "ConfigurationDirectory")+"/hpgate.yaml" {
		t.Errorf("ExecStart reads config %s: want hpgate.yaml in the ConfigurationDirectory, /etc/%s", cfg, u.last("Service", "ConfigurationDirectory"))
	}

	// The drain budget: a stop waits for one source query and one Kafka
	// write at most; both platforms give it the same time.
	stop, err := time.ParseDuration(u.last("Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec=%s: %v", u.last("Service", "TimeoutStopSec"), err)
	}
	cfg := loadLoose(t, unitConfigPath, readFile(t, unitConfigPath))
	if need := drainBudget(t, cfg); stop < need+30*time.Second {
		t.Errorf("TimeoutStopSec=%s: a drain may take %s (slowest source read + write_timeout); leave 30 s more", stop, need)
	}
	sts := baseStatefulSet(t)
	if grace := time.Duration(*sts.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second; grace != stop {
		t.Errorf("TimeoutStopSec=%s but the StatefulSet's terminationGracePeriodSeconds is %s: give both platforms the same drain time", stop, grace)
	}
}

// drainBudget is the longest a SIGTERM drain can take: the slowest
// source read in flight (see sourceSpec.readTimeout) plus one Kafka write.
func drainBudget(t *testing.T, cfg *config.Config) time.Duration {
	t.Helper()
	var q time.Duration
	for name := range cfg.Sources {
		q = max(q, sourceBlock(t, cfg, name).readTimeout)
	}
	return q + cfg.Kafka.WriteTimeout
}

// credentials returns the unit's LoadCredential= IDs and source paths.
func credentials(t *testing.T, u unitFile) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, v := range u["Service"]["LoadCredential"] {
		id, src, ok := strings.Cut(v, ":")
		if !ok || !filepath.IsAbs(src) {
			t.Errorf("LoadCredential=%s: want ID:/absolute/path", v)
			continue
		}
		out[id] = src
	}
	return out
}

// TestSystemdConfig loads the unit's example config as hpgate would see it
// under the unit: its *_file paths are credentials the unit loads, its
// state is the StateDirectory, its mappings are under the
// ConfigurationDirectory, and with those in place (test secrets, the Jimo
// pack) it loads, builds its sources and compiles its mappings.
func TestSystemdConfig(t *testing.T) {
	u := parseUnit(t, unitPath)
	creds := credentials(t, u)
	text := readFile(t, unitConfigPath)
	cfg := loadLoose(t, unitConfigPath, text)

	if want := "/var/lib/" + u.last("Service", "StateDirectory"); path.Clean(cfg.State.Dir) != want {
		t.Errorf("state.dir %s: want %s, the unit's StateDirectory (the only writable place)", cfg.State.Dir, want)
	}
	confDir := "/etc/" + u.last("Service", "ConfigurationDirectory")
	for _, p := range cfg.Mappings.Paths {
		if !strings.HasPrefix(path.Clean(p)+"/", confDir+"/") {
			t.Errorf("mapping path %s: want it under %s, the unit's ConfigurationDirectory", p, confDir)
		}
	}
	if host, _, err := net.SplitHostPort(cfg.HTTP.Listen); err != nil {
		t.Errorf("http.listen %s: %v", cfg.HTTP.Listen, err)
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		t.Errorf("http.listen %s: keep the listener on loopback on a host (the admin API and /status are on it)", cfg.HTTP.Listen)
	}

	files := checkCredentials(t, unitConfigPath, cfg, credentialsDir, creds)
	if t.Failed() {
		return
	}

	// Load it for real: credentials with test secrets, the Jimo pack as
	// the mappings.
	root := t.TempDir()
	for id := range creds {
		v := testDSN
		if files["pii.key_file"] == credentialsDir+"/"+id {
			v = testKeyHex
		}
		writeFile(t, filepath.Join(root, "credentials", id), []byte(v+"\n"))
	}
	if len(cfg.Mappings.Paths) != 1 {
		t.Fatalf("mappings.paths %q: this test lays out one directory", cfg.Mappings.Paths)
	}
	copyTree(t, jimoPack, filepath.Join(root, "mappings", "370282-jimo"))
	rewritten := strings.NewReplacer(
		credentialsDir, filepath.Join(root, "credentials"),
		cfg.Mappings.Paths[0], filepath.Join(root, "mappings"),
	).Replace(string(text))
	ms := checkConfig(t, filepath.Join(root, "hpgate.yaml"), []byte(rewritten))
	if len(ms) == 0 {
		t.Error("no mappings compiled")
	}
}

// checkCredentials checks that every secret file a config names (the key,
// the Kafka password, the sources' *_file keys) is a credential the unit
// loads (credDir/ID, with a LoadCredential=ID:… line), that no secret comes
// from the environment, and that every credential is used. It returns the
// config key → file.
func checkCredentials(t *testing.T, cfgPath string, cfg *config.Config, credDir string, creds map[string]string) map[string]string {
	t.Helper()
	files := map[string]string{"pii.key_file": cfg.PII.KeyFile}
	if cfg.PII.KeyEnv != "" {
		t.Errorf("%s: pii.key_env %s: under systemd the key is a credential (key_file)", cfgPath, cfg.PII.KeyEnv)
	}
	if f := cfg.Kafka.SASL.PasswordFile; f != "" {
		files["kafka.sasl.password_file"] = f
	}
	if cfg.Kafka.SASL.PasswordEnv != "" {
		t.Errorf("%s: kafka.sasl.password_env: under systemd the password is a credential (password_file)", cfgPath)
	}
	for name := range cfg.Sources {
		spec := sourceBlock(t, cfg, name)
		for key, env := range spec.secretEnvs {
			t.Errorf("%s: source %s: %s %s: under systemd secrets are credentials (the *_file key)", cfgPath, name, key, env)
		}
		for key, f := range spec.secretFiles {
			files["sources."+name+"."+key] = f
		}
	}
	used := map[string]bool{}
	for _, key := range slices.Sorted(mapKeys(files)) {
		f := files[key]
		id, ok := strings.CutPrefix(f, credDir+"/")
		if !ok {
			t.Errorf("%s: %s %s: want %s/ID, a credential of the unit", cfgPath, key, f, credDir)
			continue
		}
		if _, ok := creds[id]; !ok {
			t.Errorf("%s: %s %s: the unit has no LoadCredential=%s:…", cfgPath, key, f, id)
		}
		used[id] = true
	}
	for id := range creds {
		if !used[id] {
			t.Errorf("LoadCredential=%s: no key of %s reads it", id, cfgPath)
		}
	}
	return files
}

// TestSystemdDropDirs checks that the unit can do what a filedrop source
// does: ProtectSystem=strict leaves only the state directory writable, so
// each drop directory must be a ReadWritePaths= entry, with its done and
// failed directories under the same entry (each entry is its own bind
// mount, and a rename across two fails with EXDEV even on one file
// system). Every ReadWritePaths= entry must be such a drop directory: no
// other place is writable.
func TestSystemdDropDirs(t *testing.T) {
	u := parseUnit(t, unitPath)
	var rw []string
	for _, v := range u["Service"]["ReadWritePaths"] {
		for _, p := range strings.Fields(v) {
			p = strings.TrimLeft(p, "-+")
			if !path.IsAbs(p) {
				t.Errorf("ReadWritePaths=%s: want an absolute path", p)
			}
			rw = append(rw, path.Clean(p))
		}
	}
	cfg := loadLoose(t, unitConfigPath, readFile(t, unitConfigPath))
	stateDir := "/var/lib/" + u.last("Service", "StateDirectory")
	used := map[string]bool{}
	drops := 0
	for _, name := range slices.Sorted(mapKeys(cfg.Sources)) {
		spec := sourceBlock(t, cfg, name)
		if spec.dropDirs == nil {
			continue
		}
		drops++
		var entry string
		for i, d := range spec.dropDirs {
			d = path.Clean(d)
			if d == stateDir || strings.HasPrefix(d, stateDir+"/") {
				t.Errorf("source %s: %s is in the StateDirectory, which only the service can reach: the office's upload cannot write it", name, d)
				continue
			}
			e := ""
			for _, p := range rw {
				if (d == p || strings.HasPrefix(d, p+"/")) && len(p) > len(e) {
					e = p
				}
			}
			switch {
			case e == "":
				t.Errorf("source %s: %s is not under a ReadWritePaths= entry: under ProtectSystem=strict hpgate cannot move files there", name, d)
			case i == 0:
				entry = e
			case e != entry:
				t.Errorf("source %s: %s is under ReadWritePaths=%s, the drop directory under %s: renames across the two fail (EXDEV)", name, d, e, entry)
			}
			used[e] = true
		}
	}
	for _, p := range rw {
		if !used[p] {
			t.Errorf("ReadWritePaths=%s: no filedrop source of %s uses it; keep the file system read-only", p, unitConfigPath)
		}
	}
	if drops == 0 {
		t.Errorf("%s has no filedrop source: this test checks nothing", unitConfigPath)
	}
}

// TestSystemdAnalyzeVerify runs systemd-analyze verify on each unit (the
// gateway's, hpgate-identity's and hpgate-writeback's), with ExecStart
// pointing at a freshly built hpgate (verify checks that the binary
// exists). Verify exits 0 on unknown keys and bad values and only prints
// them, so any line about the unit fails the test. It also runs
// systemd-analyze security offline and holds the exposure at or below 2.0.
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, ok := lookPath("systemd-analyze")
	if !ok {
		t.Skip("systemd-analyze not installed")
	}
	bin, _ := builtHpgate(t)
	for _, up := range allUnitPaths {
		name := path.Base(up)
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			unit := strings.ReplaceAll(string(readFile(t, up)), "ExecStart=/usr/bin/hpgate ", "ExecStart="+bin+" ")
			if unit == string(readFile(t, up)) {
				t.Fatalf("%s: ExecStart is not /usr/bin/hpgate …", up)
			}
			p := filepath.Join(dir, name)
			writeFile(t, p, []byte(unit))

			out, err := exec.Command(sa, "verify", "--man=no", p).CombinedOutput()
			t.Logf("systemd-analyze verify:\n%s", out)
			if err != nil {
				t.Fatalf("systemd-analyze verify %s: %v\n%s", up, err, out)
			}
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, name) || strings.Contains(l, dir) {
					t.Errorf("systemd-analyze verify: %s", l)
				}
			}

			out, err = exec.Command(sa, "security", "--offline=true", "--no-pager", "--threshold=20", p).CombinedOutput()
			s := string(out)
			if strings.Contains(s, "unrecognized option") || strings.Contains(s, "Unknown option") {
				t.Skipf("this systemd-analyze has no offline security review: %s", strings.TrimSpace(s))
			}
			i := strings.LastIndex(s, "Overall exposure level")
			if i < 0 {
				t.Fatalf("systemd-analyze security: no overall exposure in its output (%v):\n%s", err, s)
			}
			summary := strings.TrimSpace(s[i:])
			t.Log(summary)
			if err != nil {
				t.Errorf("systemd-analyze security: exposure above 2.0 (%v): %s", err, summary)
			}
		})
	}
}

// TestSystemdEnvExample keeps the environment file free of secrets: only
// comments and non-secret variables.
func TestSystemdEnvExample(t *testing.T) {
	allowed := []string{"GOMEMLIMIT", "TZ", "GODEBUG", "GOMAXPROCS", "GOGC"}
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, "systemd/hpgate.env.example")))
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		l = strings.TrimPrefix(l, "#")
		k, _, ok := strings.Cut(l, "=")
		if !ok || strings.ContainsAny(k, " \t") {
			continue // prose
		}
		if !slices.Contains(allowed, k) {
			t.Errorf("systemd/hpgate.env.example:%d: %s: only %v belong here; secrets are credentials", n, k, allowed)
		}
	}
	u := parseUnit(t, unitPath)
	if got := u.last("Service", "EnvironmentFile"); got != "-/etc/hpgate/hpgate.env" {
		t.Errorf("EnvironmentFile=%s, want -/etc/hpgate/hpgate.env (optional)", got)
	}
}
