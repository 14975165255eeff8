package monitoring

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestIdentityMetricsLint: the identity-stage metrics follow the naming
// rules, with a sample each.
func TestIdentityMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	sampleIdentity(NewIdentity(reg))
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n, _ := testutil.GatherAndCount(reg); n != 10 {
		t.Errorf("%d series, want 10", n)
	}
}

// sampleIdentity gives every identity-stage metric one sample.
func sampleIdentity(m *IdentityMetrics) {
	m.Inputs.WithLabelValues("person").Inc()
	m.InputErrors.WithLabelValues("decode").Inc()
	m.Outputs.WithLabelValues("identity").Inc()
	m.Discrepancies.WithLabelValues("registry_mark_missing", "open").Inc()
	m.Alerts.WithLabelValues("R06").Inc()
	m.Rebuilds.WithLabelValues("rebuilt").Inc()
	m.RebuildInputs.Inc()
	m.Partitions.Set(2)
	m.Commits.Inc()
	m.Lag.WithLabelValues("hp.person.v1", "0").Set(3)
}
