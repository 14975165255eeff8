package monitoring

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRegistrySourceMetrics: an HTTP source's counters are exported at
// scrape time, labelled by source (and resource and status class), and
// lint clean; a SQL source (no HTTP stats) exports none of them.
func TestRegistrySourceMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	var h HTTPSourceStats
	RegisterSources(reg, func() []SourceStats {
		hc := h
		return []SourceStats{{Source: "jimo-registry", Errors: 1, Unavailable: 1, HTTP: &hc}, {Source: "jimo-his"}}
	})
	const names = "hpgate_registry_requests_total hpgate_registry_retries_total hpgate_registry_rate_limited_total hpgate_registry_malformed_pages_total hpgate_registry_last_page_timestamp_seconds"
	// Before the first page: counters at 0, no last-page time.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hpgate_registry_rate_limited_total 429 Too Many Requests responses of the registry API.
# TYPE hpgate_registry_rate_limited_total counter
hpgate_registry_rate_limited_total{source="jimo-registry"} 0
`), "hpgate_registry_rate_limited_total", "hpgate_registry_last_page_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	h = HTTPSourceStats{
		Requests: []HTTPRequests{{"persons", "2xx", 5}, {"persons", "4xx", 1}, {"households", "error", 2}},
		Retries:  3, RateLimited: 1, MalformedPages: 1, LastPage: time.Unix(1700000000, 0),
	}
	want := `
# HELP hpgate_registry_last_page_timestamp_seconds Unix time of the latest usable page from the registry API.
# TYPE hpgate_registry_last_page_timestamp_seconds gauge
hpgate_registry_last_page_timestamp_seconds{source="jimo-registry"} 1.7e+09
# HELP hpgate_registry_malformed_pages_total Registry pages answered 200 that could not be used (invalid or truncated JSON, another request's page, records out of order).
# TYPE hpgate_registry_malformed_pages_total counter
hpgate_registry_malformed_pages_total{source="jimo-registry"} 1
# HELP hpgate_registry_rate_limited_total 429 Too Many Requests responses of the registry API.
# TYPE hpgate_registry_rate_limited_total counter
hpgate_registry_rate_limited_total{source="jimo-registry"} 1
# HELP hpgate_registry_requests_total HTTP requests sent to the registry API, retries included, by resource and status class (2xx, 3xx, 4xx, 5xx, error: no response).
# TYPE hpgate_registry_requests_total counter
hpgate_registry_requests_total{class="2xx",resource="persons",source="jimo-registry"} 5
hpgate_registry_requests_total{class="4xx",resource="persons",source="jimo-registry"} 1
hpgate_registry_requests_total{class="error",resource="households",source="jimo-registry"} 2
# HELP hpgate_registry_retries_total Registry requests sent again after a fault (429, 5xx, no response, malformed page).
# TYPE hpgate_registry_retries_total counter
hpgate_registry_retries_total{source="jimo-registry"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), strings.Fields(names)...); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "hpgate_source_unavailable_total"); err != nil || n != 2 {
		t.Errorf("hpgate_source_unavailable_total series %d (%v), want 2 (both sources)", n, err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
