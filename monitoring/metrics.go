// Package monitoring defines every hpgate_* metric in one place and serves
// /metrics, /healthz, /readyz and /status.
//
// Metrics are registered on a registry the caller passes in, never on the
// global default. Labels are bounded sets (source, mapping, entity, topic,
// reason code, stage), never person keys, IDs, positions or error text.
// Lag and positions are computed at scrape time from the pipeline's status,
// so a stuck pipeline shows a growing lag.
package monitoring

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds hpgate's metrics.
type Metrics struct {
	RowsRead        *prometheus.CounterVec   // source, mapping, county
	SourceUp        *prometheus.GaugeVec     // source
	Records         *prometheus.CounterVec   // mapping, entity, county
	Rejections      *prometheus.CounterVec   // mapping, reason, county
	Filtered        *prometheus.CounterVec   // mapping, county
	MessagesWritten *prometheus.CounterVec   // topic
	WriteErrors     *prometheus.CounterVec   // topic
	WriteRetries    prometheus.Counter       //
	DLQMessages     *prometheus.CounterVec   // mapping, reason, county
	BatchDuration   *prometheus.HistogramVec // mapping, stage, county
	InFlight        prometheus.Gauge
	ReloadOK        prometheus.Gauge
	ReloadsTotal    *prometheus.CounterVec // result

	// Data assurance: the source-to-Kafka audit, DLQ re-drives, replays
	// and catch-up after an outage.
	AuditRows         *prometheus.GaugeVec   // mapping, county, kind (source, topic, dlq, missing, extra, hash_mismatch)
	AuditMissing      *prometheus.GaugeVec   // mapping, county
	AuditLastRun      *prometheus.GaugeVec   // result
	RedriveRows       *prometheus.CounterVec // mapping, outcome, county
	ReplayRows        *prometheus.CounterVec // mapping, county
	CatchupRemaining  *prometheus.GaugeVec   // mapping, county
	AuditTrailEntries *prometheus.CounterVec // action
}

// BuildInfo labels hpgate_build_info.
type BuildInfo struct {
	Version, Revision, GoVersion string
}

// New registers hpgate's metrics on reg. status, when not nil, is called
// at every scrape for the per-mapping gauges (lag, checkpoint time, state).
func New(reg prometheus.Registerer, build BuildInfo, status func() []MappingStatus) *Metrics {
	m := &Metrics{
		RowsRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpgate_source_rows_read_total", Help: "Rows read from sources.",
		}, []string{"source", "mapping", "county"}),
		SourceUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hpgate_source_up", Help: "1 when the last read from the source succeeded, 0 when it failed.",
		}, []string{"source"}),
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpgate_mapping_records_total", Help: "Canonical records written to Kafka.",
		}, []string{"mapping", "entity", "county"}),
		Rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpgate_mapping_rejections_total", Help: "Rows that could not be mapped, by reason code.",
		}, []string{"mapping", "reason", "county"}),
		Filtered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpgate_mapping_filtered_total", Help: "Rows skipped by the mapping's filter.",
		}, []string{"mapping", "county"}),
		MessagesWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpgate_kafka_messages_written_total", Help: "Messages acknowledged by Kafka.",
		}, []string{"topic"}),
		WriteErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpgate_kafka_write_errors_total", Help: "Messages Kafka did not acknowledge.",
		}, []string{"topic"}),
		WriteRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hpgate_kafka_write_retries_total", Help: "Batches written again after a failed write.",
		}),
		DLQMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpgate_dlq_messages_total", Help: "Rejected rows written to the dead-letter topic.",
		}, []string{"mapping", "reason", "county"}),
		BatchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hpgate_batch_duration_seconds", Help: "Time per batch and stage (read, map, write, checkpoint).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"mapping", "stage", "county"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hpgate_batches_in_flight", Help: "Batches read but not yet checkpointed.",
		}),
		ReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hpgate_config_last_reload_successful", Help: "1 when the last load of config and mappings succeeded.",
		}),
		ReloadsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpgate_config_reloads_total", Help: "Loads of the config and mappings, by result.",
		}, []string{"result"}),
	}
	m.AuditRows = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hpgate_audit_records", Help: "Figures of the last source-to-Kafka audit over its window, by kind: source, topic, dlq, missing, extra, hash_mismatch.",
	}, []string{"mapping", "county", "kind"})
	m.AuditMissing = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hpgate_audit_missing_records", Help: "Source rows of the last audit's window found neither on the topic nor in the DLQ.",
	}, []string{"mapping", "county"})
	m.AuditLastRun = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hpgate_audit_last_run_timestamp_seconds", Help: "Unix time of the end of the last audit run, by result (ok, gap, error).",
	}, []string{"result"})
	m.RedriveRows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hpgate_dlq_redrive_rows_total", Help: "Dead-letter rows re-driven, by outcome (delivered, rejected, filtered).",
	}, []string{"mapping", "outcome", "county"})
	m.ReplayRows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hpgate_replay_rows_total", Help: "Source rows read and written again by replays.",
	}, []string{"mapping", "county"})
	m.CatchupRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hpgate_catchup_remaining_estimate_seconds", Help: "While a mapping catches up after an outage: estimated time until it is caught up; -1 when it is not gaining.",
	}, []string{"mapping", "county"})
	m.AuditTrailEntries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hpgate_audit_trail_entries_total", Help: "Entries appended to the audit trail of changes, by action.",
	}, []string{"action"})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hpgate_build_info", Help: "Build information; the value is always 1.",
	}, []string{"version", "revision", "goversion"})
	buildInfo.WithLabelValues(build.Version, build.Revision, build.GoVersion).Set(1)
	reg.MustRegister(m.RowsRead, m.SourceUp, m.Records, m.Rejections, m.Filtered, m.MessagesWritten,
		m.WriteErrors, m.WriteRetries, m.DLQMessages, m.BatchDuration, m.InFlight, m.ReloadOK, m.ReloadsTotal, buildInfo,
		m.AuditRows, m.AuditMissing, m.AuditLastRun, m.RedriveRows, m.ReplayRows, m.CatchupRemaining, m.AuditTrailEntries)
	if status != nil {
		reg.MustRegister(&statusCollector{status: status})
	}
	return m
}

// MappingStatus is what the pipeline reports about one mapping. It holds
// no personal data: Position is the display form.
type MappingStatus struct {
	Mapping string `json:"mapping"`
	Source  string `json:"source"`
	County  string `json:"county"`
	Entity  string `json:"entity"`
	// State is starting, running, idle (caught up), quiet (paused for the
	// source's quiet hours), backoff (a source or Kafka outage; resumes by
	// itself) or stopped (needs an operator): one of MappingStates.
	State    string `json:"state"`
	Position string `json:"position,omitempty"`
	// LastError is the last error, phrased without personal data.
	LastError string `json:"last_error,omitempty"`
	// LastSuccess is the end of the last successful poll.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Checkpoint is when the checkpoint was last committed.
	Checkpoint time.Time `json:"checkpoint,omitzero"`
	// Oldest is the source timestamp of the oldest row not yet delivered;
	// zero while the mapping is caught up.
	Oldest   time.Time `json:"oldest_undelivered,omitzero"`
	Rows     int64     `json:"rows"`
	Records  int64     `json:"records"`
	Rejected int64     `json:"rejected"`
}

// Lag is now minus the oldest undelivered row's timestamp, 0 when caught up.
func (s *MappingStatus) Lag(now time.Time) time.Duration {
	if s.Oldest.IsZero() || now.Before(s.Oldest) {
		return 0
	}
	return now.Sub(s.Oldest)
}

var (
	descLag = prometheus.NewDesc("hpgate_source_lag_seconds",
		"Now minus the source timestamp of the oldest row not yet delivered; 0 while caught up.", []string{"mapping", "source", "county"}, nil)
	descCheckpoint = prometheus.NewDesc("hpgate_checkpoint_timestamp_seconds",
		"Unix time of the mapping's last committed checkpoint.", []string{"mapping", "source", "county"}, nil)
	descLastSuccess = prometheus.NewDesc("hpgate_source_last_success_timestamp_seconds",
		"Unix time of the mapping's last successful poll.", []string{"mapping", "source", "county"}, nil)
	descUp = prometheus.NewDesc("hpgate_mapping_up",
		"1 while the mapping runs (or waits for new rows), 0 when it is stopped or backing off.", []string{"mapping", "source", "county"}, nil)
	descState = prometheus.NewDesc("hpgate_mapping_state",
		"1 for the mapping's current state, 0 for the others: starting, running, idle (caught up), quiet (source's quiet hours), "+
			"backoff (source or Kafka outage, resumes by itself), stopped (needs an operator: hpgate checkpoint reset or set).",
		[]string{"mapping", "source", "county", "state"}, nil)
)

// MappingStates are the values of MappingStatus.State, and of the state
// label of hpgate_mapping_state (a bounded set).
var MappingStates = []string{"starting", "running", "idle", "quiet", "backoff", "stopped"}

type statusCollector struct {
	status func() []MappingStatus
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLag
	ch <- descCheckpoint
	ch <- descLastSuccess
	ch <- descUp
	ch <- descState
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, s := range c.status() {
		labels := []string{s.Mapping, s.Source, s.County}
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, s.Lag(now).Seconds(), labels...)
		if !s.Checkpoint.IsZero() {
			ch <- prometheus.MustNewConstMetric(descCheckpoint, prometheus.GaugeValue, float64(s.Checkpoint.UnixNano())/1e9, labels...)
		}
		if !s.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(descLastSuccess, prometheus.GaugeValue, float64(s.LastSuccess.UnixNano())/1e9, labels...)
		}
		up := 0.0
		if s.State == "running" || s.State == "idle" || s.State == "starting" || s.State == "quiet" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, labels...)
		for _, st := range MappingStates {
			v := 0.0
			if s.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, s.Mapping, s.Source, s.County, st)
		}
	}
}

// SourceStats is what a source connector reports about itself, adapted by
// the daemon from the connector's own Stats (connectors do not depend on
// Prometheus).
type SourceStats struct {
	Source string
	// Quiet is true while the source is inside its quiet hours.
	Quiet bool
	// Errors and Unavailable count failed reads, and those among them
	// that were outages.
	Errors, Unavailable int64
	// NullTimestamps is, per mapping, the rows whose cursor timestamp is
	// NULL: incremental reads cannot see them.
	NullTimestamps map[string]int64
	// HTTP is set for a source that reads an HTTP API (the registry).
	HTTP *HTTPSourceStats
}

// HTTPSourceStats is what an HTTP API source (the registry) reports about
// its requests.
type HTTPSourceStats struct {
	// Requests are the requests sent, retries included, by resource and
	// status class (2xx, 3xx, 4xx, 5xx, error: no response).
	Requests []HTTPRequests
	// Retries, RateLimited and MalformedPages count requests sent again
	// after a fault, 429 responses and unusable 200 pages.
	Retries, RateLimited, MalformedPages int64
	// LastPage is when the latest usable page arrived (zero before).
	LastPage time.Time
}

// HTTPRequests is one figure of HTTPSourceStats.Requests.
type HTTPRequests struct {
	Resource, Class string
	N               int64
}

var (
	descQuiet = prometheus.NewDesc("hpgate_source_quiet",
		"1 while the source is inside its configured quiet hours (reads paused).", []string{"source"}, nil)
	descReadErrors = prometheus.NewDesc("hpgate_source_read_errors_total",
		"Failed reads from the source.", []string{"source"}, nil)
	descUnavailable = prometheus.NewDesc("hpgate_source_unavailable_total",
		"Failed reads from the source that were outages (retried).", []string{"source"}, nil)
	descNullTS = prometheus.NewDesc("hpgate_source_null_timestamp_rows",
		"Rows whose cursor timestamp is NULL, which incremental reads cannot see; map them with a snapshot mapping.", []string{"source", "mapping"}, nil)
	descHTTPRequests = prometheus.NewDesc("hpgate_registry_requests_total",
		"HTTP requests sent to the registry API, retries included, by resource and status class (2xx, 3xx, 4xx, 5xx, error: no response).", []string{"source", "resource", "class"}, nil)
	descHTTPRetries = prometheus.NewDesc("hpgate_registry_retries_total",
		"Registry requests sent again after a fault (429, 5xx, no response, malformed page).", []string{"source"}, nil)
	descHTTPRateLimited = prometheus.NewDesc("hpgate_registry_rate_limited_total",
		"429 Too Many Requests responses of the registry API.", []string{"source"}, nil)
	descHTTPMalformed = prometheus.NewDesc("hpgate_registry_malformed_pages_total",
		"Registry pages answered 200 that could not be used (invalid or truncated JSON, another request's page, records out of order).", []string{"source"}, nil)
	descHTTPLastPage = prometheus.NewDesc("hpgate_registry_last_page_timestamp_seconds",
		"Unix time of the latest usable page from the registry API.", []string{"source"}, nil)
)

// RegisterSources adds the per-source gauges, read from stats at scrape
// time.
func RegisterSources(reg prometheus.Registerer, stats func() []SourceStats) {
	reg.MustRegister(&sourceCollector{stats: stats})
}

type sourceCollector struct {
	stats func() []SourceStats
}

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descQuiet
	ch <- descReadErrors
	ch <- descUnavailable
	ch <- descNullTS
	ch <- descHTTPRequests
	ch <- descHTTPRetries
	ch <- descHTTPRateLimited
	ch <- descHTTPMalformed
	ch <- descHTTPLastPage
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		quiet := 0.0
		if s.Quiet {
			quiet = 1
		}
		ch <- prometheus.MustNewConstMetric(descQuiet, prometheus.GaugeValue, quiet, s.Source)
		ch <- prometheus.MustNewConstMetric(descReadErrors, prometheus.CounterValue, float64(s.Errors), s.Source)
		ch <- prometheus.MustNewConstMetric(descUnavailable, prometheus.CounterValue, float64(s.Unavailable), s.Source)
		for mapping, n := range s.NullTimestamps {
			ch <- prometheus.MustNewConstMetric(descNullTS, prometheus.GaugeValue, float64(n), s.Source, mapping)
		}
		if h := s.HTTP; h != nil {
			for _, r := range h.Requests {
				ch <- prometheus.MustNewConstMetric(descHTTPRequests, prometheus.CounterValue, float64(r.N), s.Source, r.Resource, r.Class)
			}
			ch <- prometheus.MustNewConstMetric(descHTTPRetries, prometheus.CounterValue, float64(h.Retries), s.Source)
			ch <- prometheus.MustNewConstMetric(descHTTPRateLimited, prometheus.CounterValue, float64(h.RateLimited), s.Source)
			ch <- prometheus.MustNewConstMetric(descHTTPMalformed, prometheus.CounterValue, float64(h.MalformedPages), s.Source)
			if !h.LastPage.IsZero() {
				ch <- prometheus.MustNewConstMetric(descHTTPLastPage, prometheus.GaugeValue, float64(h.LastPage.UnixNano())/1e9, s.Source)
			}
		}
	}
}

// RegisterStateSize adds hpgate_state_store_size_bytes, read from size at
// scrape time.
func RegisterStateSize(reg prometheus.Registerer, size func() float64) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hpgate_state_store_size_bytes",
		Help: "Size of the local state store (checkpoints, snapshot hashes) on disk.",
	}, size))
}

// WritebackMetrics are the metrics of `hpgate writeback`, which runs as its
// own process with its own registry.
type WritebackMetrics struct {
	Rows        *prometheus.CounterVec // writeback, result (updated, unchanged, not_found, unmapped, nothing, error)
	DLQMessages *prometheus.CounterVec // writeback, reason
	IndexRows   *prometheus.GaugeVec   // writeback
	Retries     prometheus.Counter
}

// NewWriteback registers the writeback metrics on reg.
func NewWriteback(reg prometheus.Registerer) *WritebackMetrics {
	m := &WritebackMetrics{
		Rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hpgate_writeback_rows_total",
			Help: "Identity records applied to a writeback's target table, by result (updated, unchanged, not_found, unmapped, nothing, error)."}, []string{"writeback", "result"}),
		DLQMessages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hpgate_writeback_dlq_messages_total",
			Help: "Identity records a writeback could not apply, sent to the dead-letter topic, by reason."}, []string{"writeback", "reason"}),
		IndexRows: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hpgate_writeback_index_rows",
			Help: "Target rows a writeback's blind index holds (rows with a valid ID number), set when the index is built or refreshed."}, []string{"writeback"}),
		Retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "hpgate_writeback_retries_total",
			Help: "Identity records retried after a transient fault of a target database."}),
	}
	reg.MustRegister(m.Rows, m.DLQMessages, m.IndexRows, m.Retries)
	return m
}

// IdentityMetrics are the metrics of `hpgate identity` (the identity view,
// discrepancy and policy stages), which runs as its own consumer-group
// process with its own registry.
type IdentityMetrics struct {
	Inputs        *prometheus.CounterVec // entity
	InputErrors   *prometheus.CounterVec // reason (decode, apply)
	Outputs       *prometheus.CounterVec // entity
	Discrepancies *prometheus.CounterVec // kind, status
	Alerts        *prometheus.CounterVec // rule
	Rebuilds      *prometheus.CounterVec // result (reused, rebuilt)
	RebuildInputs prometheus.Counter
	Partitions    prometheus.Gauge
	Commits       prometheus.Counter
	Lag           *prometheus.GaugeVec // topic, partition
}

// NewIdentity registers the identity-stage metrics on reg.
func NewIdentity(reg prometheus.Registerer) *IdentityMetrics {
	m := &IdentityMetrics{
		Inputs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hpgate_identity_inputs_total",
			Help: "Canonical records consumed by the identity stages, by entity."}, []string{"entity"}),
		InputErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hpgate_identity_input_errors_total",
			Help: "Canonical records the identity stages could not use (logged with topic, partition and offset), by reason."}, []string{"reason"}),
		Outputs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hpgate_identity_outputs_total",
			Help: "Records written and acknowledged by the identity stages, by entity (identity, discrepancy, policy_alert, settlement_enriched)."}, []string{"entity"}),
		Discrepancies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hpgate_identity_discrepancies_total",
			Help: "Discrepancy records emitted, by kind and status (open, resolved)."}, []string{"kind", "status"}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hpgate_identity_policy_alerts_total",
			Help: "Policy alerts emitted, by rule."}, []string{"rule"}),
		Rebuilds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hpgate_identity_partition_loads_total",
			Help: "Partitions taken on, by result: reused (local state current) or rebuilt (replayed from the topics)."}, []string{"result"}),
		RebuildInputs: prometheus.NewCounter(prometheus.CounterOpts{Name: "hpgate_identity_rebuild_inputs_total",
			Help: "Canonical records replayed to rebuild partition state."}),
		Partitions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hpgate_identity_partitions_owned",
			Help: "Partitions this instance owns in the identity consumer group."}),
		Commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "hpgate_identity_offset_commits_total",
			Help: "Consumer-group offset commits, each after its outputs were acknowledged."}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hpgate_identity_consumer_lag_records",
			Help: "Records of each canonical topic partition the identity consumer group has not committed yet (end offset less committed offset), measured every sweep interval. Every instance reports the whole group's lag: aggregate with max by (topic, partition)."}, []string{"topic", "partition"}),
	}
	reg.MustRegister(m.Inputs, m.InputErrors, m.Outputs, m.Discrepancies, m.Alerts, m.Rebuilds, m.RebuildInputs, m.Partitions, m.Commits, m.Lag)
	return m
}
