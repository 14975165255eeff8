package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/kafkasink"
	"github.com/hpgate/hpgate/connectors/registry"
	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/mappings/yamlfile"
	"github.com/hpgate/hpgate/monitoring"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
	"github.com/hpgate/hpgate/pipeline/config"
	"github.com/hpgate/hpgate/pipeline/dlq"
	"github.com/hpgate/hpgate/pipeline/trail"
)

func runCmd() *cobra.Command {
	var (
		configPath string
		lf         logFlags
	)
	cmd := &cobra.Command{
		Use:   "run -c CONFIG",
		Short: "Run the gateway until SIGTERM or SIGINT",
		Long: `Runs every mapping of the config: reads its source incrementally, maps
the rows, writes canonical records and rejections to Kafka and commits the
checkpoint after Kafka acknowledged the batch. On SIGHUP, or when a file
under the mapping paths changes, the mappings are checked and reloaded
between batches. On SIGTERM or SIGINT it finishes (or abandons,
uncommitted) the batches in flight and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			d, err := openDaemon(configPath, log, prometheus.NewRegistry())
			if err != nil {
				return reportLoad(cmd.ErrOrStderr(), err)
			}
			return d.run(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "config file (required)")
	_ = cmd.MarkFlagRequired("config")
	lf.add(cmd)
	return cmd
}

// reportLoad prints configuration problems one per line and turns them
// into exit status 1.
func reportLoad(w io.Writer, err error) error {
	var errs yamlfile.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e)
		}
		return exitError(1)
	}
	return err
}

// daemon is a loaded, wired gateway: the parts `run` and `demo` share.
type daemon struct {
	cfg      *config.Config
	log      *slog.Logger
	reg      *prometheus.Registry
	key      *pii.Key
	sources  map[string]connectors.Source
	sink     *kafkasink.Sink
	store    *checkpoint.Store
	pipe     *pipeline.Pipeline
	metrics  *monitoring.Metrics
	trail    *trail.Trail  // the audit trail of changes, in the state store
	publish  chan struct{} // asks the running daemon to publish the trail
	mu       sync.Mutex    // guards mappings, which reloads replace
	mappings []*mappings.Mapping
	// memoryLimit is the Go runtime's soft memory limit in force.
	memoryLimit int64
}

// applyMemoryLimit sets the Go runtime's soft memory limit, unless the
// operator set GOMEMLIMIT: 64 MiB plus 16 MiB per mapping (each holds at
// most two batches). Without it the collector lets the heap double before
// it runs, and a daemon that needs 40 MB live would show 140 MB RSS.
func applyMemoryLimit(mappings int) int64 {
	if v, ok := os.LookupEnv("GOMEMLIMIT"); ok && v != "" {
		return debug.SetMemoryLimit(-1)
	}
	limit := int64(64<<20 + 16<<20*mappings)
	debug.SetMemoryLimit(limit)
	return limit
}

// openDaemon loads the config and mappings, resolves secrets and builds
// every part without dialling anything but the state store.
func openDaemon(configPath string, log *slog.Logger, reg *prometheus.Registry) (_ *daemon, err error) {
	cfg, err := config.LoadFile(configPath)
	if err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, log: log, reg: reg}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.key, err = cfg.LoadKey(); err != nil {
		return nil, fmt.Errorf("pseudonymisation key: %w", err)
	}
	var errs yamlfile.Errors
	d.sources, errs = openSources(cfg, log)
	ms, merr := mappings.Load(mappings.Options{Key: d.key}, cfg.MappingPaths()...)
	if merr != nil {
		errs = append(errs, yamlfile.AsErrors(merr, configPath)...)
	}
	if len(errs) > 0 {
		return nil, errs.Err()
	}
	d.mappings = ms
	d.memoryLimit = applyMemoryLimit(len(ms))
	specs := make(map[string]pipeline.SourceSpec, len(cfg.Sources))
	for name, s := range cfg.Sources {
		specs[name] = pipeline.SourceSpec{Source: d.sources[name], BatchSize: s.BatchSize, PollInterval: s.PollInterval}
	}
	if d.sink, err = kafkasink.New(cfg.Kafka.Config, log.With("component", "kafka")); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if d.store, err = checkpoint.Open(cfg.State.Dir, d.key.SealKey(), checkpoint.Options{Algorithms: d.key.Algorithms()}); err != nil {
		return nil, err
	}
	var pipe *pipeline.Pipeline
	v, r, g := buildInfo()
	d.metrics = monitoring.New(reg, monitoring.BuildInfo{Version: v, Revision: r, GoVersion: g}, func() []monitoring.MappingStatus {
		if pipe == nil {
			return nil
		}
		return pipe.Status()
	})
	monitoring.RegisterSources(reg, d.sourceStats)
	monitoring.RegisterStateSize(reg, func() float64 {
		st, err := os.Stat(d.store.Path())
		if err != nil {
			return 0
		}
		return float64(st.Size())
	})
	d.metrics.ReloadOK.Set(1)
	d.metrics.ReloadsTotal.WithLabelValues("success").Inc()
	pipe, err = pipeline.New(ms, specs, d.sink, d.store, d.key, d.metrics,
		pipeline.Options{TopicPrefix: cfg.Kafka.TopicPrefix}, log.With("component", "pipeline"))
	if err != nil {
		return nil, err
	}
	d.pipe = pipe
	d.trail = trail.Open(d.store)
	return d, nil
}

// run serves HTTP and runs the pipeline until ctx is done.
func (d *daemon) run(ctx context.Context) error {
	defer d.close()
	d.publish = make(chan struct{}, 1) // before any admin request can record
	log := d.log
	v, _, _ := buildInfo()
	log.Info("starting", "version", v, "mappings", len(d.current()), "sources", len(d.sources), "memory_limit_bytes", d.memoryLimit)
	// The listener comes first, so probes answer (and /readyz says why not
	// ready) while the daemon waits for its broker.
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel below: deferred calls run last-in first-out
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if d.cfg.HTTP.Listen != "" {
		h, err := d.handlers()
		if err != nil {
			return err
		}
		if err := serveHTTP(ctx, &wg, d.cfg, d.cfg.HTTP.Listen, h, log); err != nil {
			return err
		}
	}
	wg.Go(func() { watchdog(ctx, log) })
	notifyReady(log)
	defer notifyStopping()
	if err := d.ensureTopics(ctx); err != nil {
		return err
	}
	d.record(ctx, trail.Entry{Action: canonical.AuditStart, Config: d.cfg.File, Mappings: d.current()})
	wg.Go(func() { d.trailPublisher(ctx) })
	wg.Go(func() { d.auditLoop(ctx) })
	wg.Go(func() { d.watchReload(ctx) })
	if err := d.pipe.Run(ctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// handlers are the daemon's HTTP handlers: metrics, probes, status, admin API.
func (d *daemon) handlers() (monitoring.Handlers, error) {
	token, err := writeAdminToken(d.cfg.State.Dir)
	if err != nil {
		return monitoring.Handlers{}, fmt.Errorf("admin token: %w", err)
	}
	h := monitoring.Handlers{
		Gatherer: d.reg,
		Status:   d.pipe.Status,
		Extra:    d.adminHandlers(token),
		// Ready: config loaded and state open (both done by now), and the
		// broker answers for the dead-letter topic.
		Ready: func(ctx context.Context) error {
			_, err := d.sink.PartitionCount(ctx, dlq.Topic(d.cfg.Kafka.TopicPrefix))
			return err
		},
	}
	return h, nil
}

// serveHTTP binds addr with handlers h, guarded by the config's
// http.basic_auth and http.tls (metrics and status protected, the probes
// open), and serves it in wg until ctx is done. run, identity and
// writeback all listen through it.
func serveHTTP(ctx context.Context, wg *sync.WaitGroup, cfg *config.Config, addr string, h monitoring.Handlers, log *slog.Logger) error {
	if err := secureHTTP(cfg, &h); err != nil {
		return err
	}
	srv, err := monitoring.Listen(addr, h, log.With("component", "http"))
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	log.Info("http listening", "addr", srv.Addr())
	wg.Go(func() {
		if err := srv.Serve(ctx); err != nil {
			log.Error("http server failed", "err", err)
		}
	})
	return nil
}

// secureHTTP sets the basic authentication and TLS of the config's http
// section on h (every process that serves /metrics uses them).
func secureHTTP(cfg *config.Config, h *monitoring.Handlers) error {
	if b := cfg.HTTP.BasicAuth; b != nil {
		h.User = b.Username
		// Files named in the config are relative to it, as the TLS files
		// and the key file are.
		ba := *b
		ba.PasswordFile = cfg.Resolve(b.PasswordFile)
		var err error
		if h.Password, err = ba.Password(); err != nil {
			return fmt.Errorf("http basic auth: %w", err)
		}
	}
	if t := cfg.HTTP.TLS; t != nil {
		h.CertFile, h.KeyFile = cfg.Resolve(t.CertFile), cfg.Resolve(t.KeyFile)
	}
	return nil
}

// current returns the mappings in force.
func (d *daemon) current() []*mappings.Mapping {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mappings
}

// DLQRetention is how long the dead-letter topic keeps rejected rows when
// hpgate creates it: at least 90 days (design.md contract 4).
const DLQRetention = 90 * 24 * time.Hour

// topicConfigs gives the settings of the topics hpgate creates: canonical
// topics are the stream's system of record and keep everything; the DLQ
// keeps 90 days.
func (d *daemon) topicConfigs(topic string) map[string]string {
	if topic == dlq.Topic(d.cfg.Kafka.TopicPrefix) {
		return map[string]string{"retention.ms": strconv.FormatInt(DLQRetention.Milliseconds(), 10)}
	}
	return map[string]string{"retention.ms": "-1", "retention.bytes": "-1"}
}

// ensureTopics creates missing topics when the config asks for it. A
// broker that is not there yet (the daemon often starts first) is waited
// for, with backoff; a refusal (no permission, a bad replication factor)
// ends the run with its reason.
func (d *daemon) ensureTopics(ctx context.Context) error {
	ct := d.cfg.Kafka.CreateTopics
	if !ct.Enabled {
		return nil
	}
	wait := 500 * time.Millisecond
	for {
		err := d.sink.EnsureTopicsWithConfigs(ctx, d.pipe.Topics(), ct.Partitions, ct.ReplicationFactor, d.topicConfigs)
		if err == nil || !errors.Is(err, connectors.ErrUnavailable) {
			if err != nil {
				return fmt.Errorf("create topics: %w", err)
			}
			return nil
		}
		d.log.Warn("broker unavailable, waiting to create topics", "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// sourceStats adapts the SQL and registry sources' own counters for the
// metrics.
func (d *daemon) sourceStats() []monitoring.SourceStats {
	var out []monitoring.SourceStats
	for name, src := range d.sources {
		switch s := src.(type) {
		case *sqlsource.Source:
			st := s.Stats()
			out = append(out, monitoring.SourceStats{
				Source: name, Quiet: st.Quiet, Errors: st.Errors, Unavailable: st.Unavailable, NullTimestamps: st.NullTimestamps,
			})
		case *registry.Source:
			out = append(out, registryStats(name, s.Stats()))
		}
	}
	return out
}

// registryStats adapts a registry source's counters for the metrics.
func registryStats(name string, st registry.Stats) monitoring.SourceStats {
	h := &monitoring.HTTPSourceStats{Retries: st.Retries, RateLimited: st.RateLimited, MalformedPages: st.MalformedPages, LastPage: st.LastPage}
	for k, n := range st.Requests {
		h.Requests = append(h.Requests, monitoring.HTTPRequests{Resource: k.Resource, Class: k.Class, N: n})
	}
	return monitoring.SourceStats{Source: name, Errors: st.Errors, Unavailable: st.Unavailable, HTTP: h}
}

func (d *daemon) close() {
	for _, s := range d.sources {
		_ = s.Close()
	}
	if d.sink != nil {
		_ = d.sink.Close(context.Background())
	}
	if d.store != nil {
		_ = d.store.Close()
	}
}
