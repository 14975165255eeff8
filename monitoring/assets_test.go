package monitoring

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v4"
)

// The operator assets this package ships next to the metrics.
const (
	dashboardFile  = "dashboards/hpgate.json"
	rulesFile      = "alerts/hpgate.rules.yml"
	rulesTestFile  = "alerts/hpgate.rules_test.yml"
	assetGlobJSON  = "dashboards/*.json"
	assetGlobYAML  = "alerts/*.yml"
	skipPromtoolEV = "HPGATE_SKIP_PROMTOOL"
)

// wantAlerts are the alerts hpgate.rules.yml must define (issue 9, then
// data assurance, the identity stages and writeback), sorted.
var wantAlerts = []string{
	"HpgateAuditMissingRecords", "HpgateAuditNotRun", "HpgateCatchupNotGaining",
	"HpgateConfigReloadFailed", "HpgateDLQRateHigh", "HpgateDown", "HpgateIdentityConsumerLag", "HpgateIdentityInputErrors",
	"HpgateIdentityNoPartitions", "HpgateKafkaWriteErrors", "HpgateMappingBackoff", "HpgateMappingStopped", "HpgateNoProgress",
	"HpgateNullTimestampRows", "HpgateSourceLagHigh", "HpgateSourceUnavailable",
	"HpgateWritebackErrors", "HpgateWritebackNotFoundHigh",
}

// describingRegisterer registers on a real registry and keeps the Desc of
// every metric each collector describes, so the test knows every name
// registered, including those no sample has been recorded for.
type describingRegisterer struct {
	*prometheus.Registry
	descs []*prometheus.Desc
}

func (r *describingRegisterer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	for d := range ch {
		r.descs = append(r.descs, d)
	}
	return r.Registry.Register(c)
}

func (r *describingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// registeredMetrics builds hpgate's metrics as the daemon does (New and
// RegisterSources), and those of `hpgate writeback` and `hpgate identity`, gives every vector and scrape-time collector a sample,
// and returns the types of the metric families gathered (COUNTER,
// HISTOGRAM, …) by name. It fails the test if a described metric is missing
// from the output, so a metric added to metrics.go without a sample here is
// caught rather than skipped.
func registeredMetrics(t *testing.T) map[string]string {
	t.Helper()
	reg := &describingRegisterer{Registry: prometheus.NewRegistry()}
	now := time.Now()
	m := New(reg, BuildInfo{Version: "v1", Revision: "abc", GoVersion: "go1.26"}, func() []MappingStatus {
		return []MappingStatus{{
			Mapping: "a", Source: "s", County: "370282", Entity: "settlement", State: "running",
			LastSuccess: now, Checkpoint: now, Oldest: now.Add(-time.Minute),
		}}
	})
	RegisterSources(reg, func() []SourceStats {
		return []SourceStats{{Source: "s", Quiet: true, Errors: 1, Unavailable: 1, NullTimestamps: map[string]int64{"a": 2}},
			{Source: "r", HTTP: &HTTPSourceStats{Requests: []HTTPRequests{{"persons", "2xx", 1}}, Retries: 1, RateLimited: 1, MalformedPages: 1, LastPage: now}}}
	})
	RegisterStateSize(reg, func() float64 { return 1 << 20 })
	m.RowsRead.WithLabelValues("s", "a", "370282").Inc()
	m.SourceUp.WithLabelValues("s").Set(1)
	m.Records.WithLabelValues("a", "settlement", "370282").Inc()
	m.Rejections.WithLabelValues("a", "bad_check_digit", "370282").Inc()
	m.Filtered.WithLabelValues("a", "370282").Inc()
	m.MessagesWritten.WithLabelValues("hp.settlement.v1").Inc()
	m.WriteErrors.WithLabelValues("hp.settlement.v1").Inc()
	m.WriteRetries.Inc()
	m.DLQMessages.WithLabelValues("a", "bad_check_digit", "370282").Inc()
	m.BatchDuration.WithLabelValues("a", "read", "370282").Observe(0.01)
	m.InFlight.Set(1)
	m.ReloadOK.Set(1)
	m.ReloadsTotal.WithLabelValues("success").Inc()
	m.AuditRows.WithLabelValues("a", "370282", "source").Set(10)
	m.AuditMissing.WithLabelValues("a", "370282").Set(0)
	m.AuditLastRun.WithLabelValues("ok").SetToCurrentTime()
	m.RedriveRows.WithLabelValues("a", "delivered", "370282").Inc()
	m.ReplayRows.WithLabelValues("a", "370282").Inc()
	m.CatchupRemaining.WithLabelValues("a", "370282").Set(60)
	m.AuditTrailEntries.WithLabelValues("replay").Inc()
	// `hpgate writeback` and `hpgate identity` run as processes of their
	// own with their own registries; their names are distinct, so one
	// registry here holds them all.
	wb := NewWriteback(reg)
	wb.Rows.WithLabelValues("w", "not_found").Inc()
	wb.DLQMessages.WithLabelValues("w", "target_error").Inc()
	wb.IndexRows.WithLabelValues("w").Set(10)
	wb.Retries.Inc()
	sampleIdentity(NewIdentity(reg))

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]string, len(mfs))
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetType().String()
	}
	if len(reg.descs) == 0 {
		t.Fatal("no metric was described")
	}
	for _, d := range reg.descs {
		sm := descName.FindStringSubmatch(d.String())
		if sm == nil {
			t.Fatalf("cannot read the metric name from %s", d)
		}
		if _, ok := got[sm[1]]; !ok {
			t.Errorf("%s is registered but has no sample: give it one in registeredMetrics", sm[1])
		}
	}
	return got
}

var metricRef = regexp.MustCompile(`hpgate_[a-z_]+`)

// resolveMetric maps a name as written in a query to its metric family:
// histogram series carry _bucket, _sum and _count suffixes.
func resolveMetric(name string, families map[string]string) (string, bool) {
	if _, ok := families[name]; ok {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch families[base] {
		case "HISTOGRAM", "GAUGE_HISTOGRAM":
			return base, true
		case "SUMMARY":
			if suffix != "_bucket" {
				return base, true
			}
		}
	}
	return "", false
}

// TestAssetsNameRegisteredMetrics: every hpgate_* name in the dashboards
// and alert rules (and the rules' unit tests) is a metric hpgate registers,
// like node_exporter's checkmetrics.sh.
func TestAssetsNameRegisteredMetrics(t *testing.T) {
	families := registeredMetrics(t)
	var files []string
	for _, glob := range []string{assetGlobJSON, assetGlobYAML} {
		fs, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	for _, want := range []string{dashboardFile, rulesFile, rulesTestFile} {
		if !slices.Contains(files, want) {
			t.Errorf("%s is missing", want)
		}
	}
	used := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		names := metricRef.FindAllString(string(b), -1)
		if len(names) == 0 {
			t.Errorf("%s names no hpgate_* metric", f)
		}
		unknown := map[string]bool{}
		for _, n := range names {
			base, ok := resolveMetric(n, families)
			if !ok {
				unknown[n] = true
				continue
			}
			used[base] = true
		}
		for _, n := range sortedKeys(unknown) {
			t.Errorf("%s: %s is not a metric registered by monitoring.New, RegisterSources, RegisterStateSize, NewWriteback or NewIdentity", f, n)
		}
	}
	var unused []string
	for n := range families {
		if !used[n] {
			unused = append(unused, n)
		}
	}
	sort.Strings(unused)
	t.Logf("%d of %d registered metrics used by the dashboards and alerts", len(used), len(families))
	if len(unused) > 0 {
		t.Logf("not used: %s", strings.Join(unused, ", "))
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type gridPos struct{ H, W, X, Y int }

type dashboardPanel struct {
	ID         int              `json:"id"`
	Type       string           `json:"type"`
	Title      string           `json:"title"`
	GridPos    gridPos          `json:"gridPos"`
	Datasource *dashboardDS     `json:"datasource"`
	Targets    []dashboardQuery `json:"targets"`
	Panels     []dashboardPanel `json:"panels"` // a collapsed row's panels
}

type dashboardDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboardQuery struct {
	RefID      string       `json:"refId"`
	Expr       string       `json:"expr"`
	Datasource *dashboardDS `json:"datasource"`
}

type dashboard struct {
	UID           string           `json:"uid"`
	Title         string           `json:"title"`
	SchemaVersion int              `json:"schemaVersion"`
	Panels        []dashboardPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			AllValue   *string         `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("%s is not valid JSON", dashboardFile)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return &d
}

// allPanels flattens rows' nested panels.
func allPanels(ps []dashboardPanel) []dashboardPanel {
	var out []dashboardPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// TestDashboard: the dashboard is valid JSON with unique panel ids, panels
// that do not overlap, every query on the datasource variable, and the
// datasource, county and mapping variables.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want a current one (39)", d.SchemaVersion)
	}
	panels := allPanels(d.Panels)
	if len(panels) == 0 {
		t.Fatal("no panels")
	}
	ids := map[int]string{}
	queries := 0
	for _, p := range panels {
		if p.ID <= 0 {
			t.Errorf("panel %q has no id", p.Title)
		}
		if prev, ok := ids[p.ID]; ok {
			t.Errorf("panel id %d is used by %q and %q", p.ID, prev, p.Title)
		}
		ids[p.ID] = p.Title
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want uid ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			queries++
			if strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %q: query %s has no expr", p.Title, q.RefID)
			}
			if q.RefID == "" || refs[q.RefID] {
				t.Errorf("panel %q: missing or repeated refId %q", p.Title, q.RefID)
			}
			refs[q.RefID] = true
			if q.Datasource != nil && q.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: query %s uses datasource %+v", p.Title, q.RefID, q.Datasource)
			}
		}
	}
	// Panels on the top level must not overlap (nested ones are laid out
	// when their row is expanded).
	top := d.Panels
	for i := range top {
		for j := i + 1; j < len(top); j++ {
			a, b := top[i].GridPos, top[j].GridPos
			if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				t.Errorf("panels %q and %q overlap", top[i].Title, top[j].Title)
			}
		}
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		switch v.Name {
		case "county", "mapping":
			if !strings.HasPrefix(v.Definition, "label_values(") {
				t.Errorf("variable %s: definition %q, want label_values(…)", v.Name, v.Definition)
			}
			// A custom "All" value such as .* would select every county's
			// mappings on panels whose metrics have no county label.
			if v.AllValue != nil && *v.AllValue != "" {
				t.Errorf("variable %s: allValue %q; leave it unset so All means the listed values", v.Name, *v.AllValue)
			}
		}
	}
	for name, typ := range map[string]string{"datasource": "datasource", "county": "query", "mapping": "query"} {
		if vars[name] != typ {
			t.Errorf("template variable %s: type %q, want %q", name, vars[name], typ)
		}
	}
	t.Logf("%d panels, %d queries", len(panels), queries)
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTestFile struct {
	RuleFiles          []string `yaml:"rule_files"`
	EvaluationInterval string   `yaml:"evaluation_interval"`
	Tests              []struct {
		Name          string `yaml:"name"`
		Interval      string `yaml:"interval"`
		InputSeries   []any  `yaml:"input_series"`
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func decodeYAMLStrict(t *testing.T, path string, out any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestAlertRules checks what promtool does not: the set of alerts, a
// severity and operator-facing annotations on each, and unit tests that
// see every alert both fire and stay silent.
func TestAlertRules(t *testing.T) {
	var rf ruleFile
	decodeYAMLStrict(t, rulesFile, &rf)
	var alerts []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			if !strings.Contains(r.Annotations["summary"]+r.Annotations["description"], "$labels.") &&
				r.Alert != "HpgateDown" {
				t.Errorf("%s: the annotations name no mapping, source or instance", r.Alert)
			}
		}
	}
	sort.Strings(alerts)
	if !slices.Equal(alerts, wantAlerts) {
		t.Errorf("alerts\n got %v\nwant %v", alerts, wantAlerts)
	}

	var tf ruleTestFile
	decodeYAMLStrict(t, rulesTestFile, &tf)
	if !slices.Contains(tf.RuleFiles, filepath.Base(rulesFile)) {
		t.Errorf("%s does not load %s", rulesTestFile, filepath.Base(rulesFile))
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	for _, a := range wantAlerts {
		if !fires[a] {
			t.Errorf("%s: no unit test where it fires", a)
		}
		if !silent[a] {
			t.Errorf("%s: no unit test where it stays silent", a)
		}
	}
}

// promtool returns the path of promtool, or skips or fails the test when
// it is missing.
func promtool(t *testing.T) string {
	t.Helper()
	if os.Getenv(skipPromtoolEV) == "1" {
		t.Skip(skipPromtoolEV + "=1: promtool checks of the alert rules and dashboard queries skipped")
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/promtool"); err == nil {
		return "/usr/bin/promtool"
	}
	t.Fatal("promtool not found in PATH or /usr/bin: install it with `apt-get install prometheus` " +
		"(bash .ci/test does when run as root), or set " + skipPromtoolEV + "=1 to skip these checks")
	return ""
}

func runPromtool(t *testing.T, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		return
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), bytes.TrimSpace(out))
}

// TestAlertRulesPromtool runs `promtool check rules` and `promtool test
// rules` on the alert rules.
func TestAlertRulesPromtool(t *testing.T) {
	bin := promtool(t)
	runPromtool(t, bin, "check", "rules", "--lint=all", "--lint-fatal", rulesFile)
	runPromtool(t, bin, "test", "rules", rulesTestFile)
}

// grafanaVars are the dashboard variables, replaced by values that make
// the queries plain PromQL.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$__interval", "1m",
	"$__range", "1h",
	"$county", ".*",
	"$mapping", ".*",
)

// TestDashboardQueriesPromtool parses every dashboard query with promtool
// (as the expressions of recording rules), so a syntax error fails here
// rather than as an empty panel.
func TestDashboardQueriesPromtool(t *testing.T) {
	bin := promtool(t)
	d := loadDashboard(t)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for _, p := range allPanels(d.Panels) {
		for _, q := range p.Targets {
			expr := grafanaVars.Replace(q.Expr)
			if strings.Contains(expr, "$") {
				t.Errorf("panel %q query %s: unknown variable in %q", p.Title, q.RefID, q.Expr)
				continue
			}
			rules = append(rules, rule{Record: fmt.Sprintf("dashboard:panel_%d:%s", p.ID, strings.ToLower(q.RefID)), Expr: expr})
		}
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, bin, "check", "rules", path)
}
