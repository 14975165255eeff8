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
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hpgate_build_info", Help: "Build information; the value is always 1.",
	}, []string{"version", "revision", "goversion"})
	buildInfo.WithLabelValues(build.Version, build.Revision, build.GoVersion).Set(1)
	reg.MustRegister(m.RowsRead, m.SourceUp, m.Records, m.Rejections, m.Filtered, m.MessagesWritten,
		m.WriteErrors, m.WriteRetries, m.DLQMessages, m.BatchDuration, m.InFlight, m.ReloadOK, m.ReloadsTotal, buildInfo)
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
	// source's quiet hours), backoff or stopped.
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
)

type statusCollector struct {
	status func() []MappingStatus
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLag
	ch <- descCheckpoint
	ch <- descLastSuccess
	ch <- descUp
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
