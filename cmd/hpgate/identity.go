package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/kafkasink"
	"github.com/hpgate/hpgate/mappings/yamlfile"
	"github.com/hpgate/hpgate/monitoring"
	"github.com/hpgate/hpgate/pipeline/config"
	"github.com/hpgate/hpgate/pipeline/identity"
)

func identityCmd() *cobra.Command {
	var (
		configPath, stateDir, listen string
		check                        bool
		lf                           logFlags
	)
	cmd := &cobra.Command{
		Use:   "identity -c CONFIG",
		Short: "Run the identity view, discrepancy and policy stages (a Kafka consumer group)",
		Long: `Consumes the canonical topics as a member of the consumer group
identity.group_id and keeps, for the partitions it owns, each person's
identity flags as every system holds them (state in state.dir/identity.db,
rebuilt from the topics when a partition moves here). It publishes
<prefix>identity.v1 (one record per person), <prefix>discrepancy.v1 (systems
that disagree with the authority, opened and resolved),
<prefix>settlement_enriched.v1 (settlements with the flags of their service
date) and <prefix>policy_alert.v1 (rules R01, R02, R04–R09 and the
return-to-poverty risk RPR). County thresholds, grace periods and disease
lists come from the county packs' policy files (kind: policy). Run several
instances, on several machines, with the same group to share the load.
With --check it validates the config and policy files and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			o := identityOverrides{stateDir: stateDir}
			if cmd.Flags().Changed("listen") {
				o.listen = &listen
			}
			p, err := openIdentity(configPath, o, log, prometheus.NewRegistry(), check)
			if err != nil {
				return reportLoad(cmd.ErrOrStderr(), err)
			}
			if check {
				fmt.Fprintf(cmd.OutOrStdout(), "ok: config and %d county policy file(s) (%s)\n", len(p.pols.Counties()), strings.Join(p.pols.Counties(), ", "))
				return nil
			}
			return p.run(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "config file (required)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory (default: state.dir of the config); one identity instance per directory")
	cmd.Flags().StringVar(&listen, "listen", "", `HTTP listen address for /metrics and the probes (default: identity.listen; "off" turns it off)`)
	cmd.Flags().BoolVar(&check, "check", false, "validate the config and policy files, then exit")
	_ = cmd.MarkFlagRequired("config")
	lf.add(cmd)
	return cmd
}

// identityOverrides are what a command line (or the demo) changes from the
// config.
type identityOverrides struct {
	stateDir string
	listen   *string          // a --listen value: host:port, or "off" or "" for none
	now      func() time.Time // the demo's clock; nil is the wall clock
}

// identityProc is a loaded identity stage process.
type identityProc struct {
	cfg     *config.Config
	pols    *identity.Policies
	log     *slog.Logger
	reg     *prometheus.Registry
	sink    *kafkasink.Sink
	store   *identity.Store
	runner  *identity.Runner
	metrics *monitoring.IdentityMetrics
	listen  string
}

// openIdentity loads the config and the policies and builds the stage; it
// dials nothing but opens the state store (unless checkOnly).
func openIdentity(configPath string, o identityOverrides, log *slog.Logger, reg *prometheus.Registry, checkOnly bool) (_ *identityProc, err error) {
	cfg, err := config.LoadFile(configPath)
	if err != nil {
		return nil, err
	}
	pols, err := identity.LoadPolicies(cfg.Identity.GracePeriod, cfg.PolicyPaths()...)
	if err != nil {
		return nil, yamlfile.AsErrors(err, configPath)
	}
	p := &identityProc{cfg: cfg, pols: pols, log: log, reg: reg, listen: cfg.Identity.Listen}
	if o.listen != nil {
		if p.listen, err = listenFlag(*o.listen); err != nil {
			return nil, err
		}
	}
	if checkOnly {
		return p, nil
	}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.sink, err = kafkasink.New(cfg.Kafka.Config, log.With("component", "kafka")); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	dir := cfg.State.Dir
	if o.stateDir != "" {
		dir = o.stateDir
	}
	if p.store, err = identity.OpenStore(dir, 0); err != nil {
		return nil, err
	}
	p.metrics = monitoring.NewIdentity(reg)
	id := cfg.Identity
	stage := &identity.Stage{Policies: pols, Prefix: cfg.Kafka.TopicPrefix, Connector: id.GroupID, Now: o.now}
	p.runner = identity.NewRunner(stage, p.store, p.sink, p.metrics, identity.Options{
		Kafka: cfg.Kafka.Config, Prefix: cfg.Kafka.TopicPrefix, GroupID: id.GroupID,
		SessionTimeout: id.SessionTimeout, HeartbeatInterval: id.HeartbeatInterval, RebalanceTimeout: id.RebalanceTimeout,
		SweepInterval: id.SweepInterval, MaxPollRecords: id.MaxPollRecords,
	}, log.With("component", "identity"))
	return p, nil
}

func (p *identityProc) close() {
	if p.sink != nil {
		_ = p.sink.Close(context.Background())
	}
	if p.store != nil {
		_ = p.store.Close()
	}
}

// topics are every topic the stage reads or writes.
func (p *identityProc) topics() []string {
	return append(p.runner.InputTopics(), identity.OutputTopics(p.cfg.Kafka.TopicPrefix)...)
}

// run serves the probes and metrics, creates missing topics when the
// config asks for it, checks the partition counts and consumes until ctx
// is done.
func (p *identityProc) run(ctx context.Context) error {
	defer p.close()
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel below: deferred calls run last-in first-out
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if p.listen != "" {
		h := monitoring.Handlers{
			Gatherer: p.reg,
			// Ready: the broker answers for the identity topic.
			Ready: func(ctx context.Context) error {
				_, err := p.sink.PartitionCount(ctx, identity.Topic(p.cfg.Kafka.TopicPrefix, identity.EntityIdentity))
				return err
			},
		}
		if err := serveHTTP(ctx, &wg, p.cfg, p.listen, h, p.log); err != nil {
			return err
		}
	}
	// Ready for systemd once loaded, with the state store open and the
	// listener up: before waiting for a broker (/readyz says why not).
	wg.Go(func() { watchdog(ctx, p.log) })
	notifyReady(p.log)
	defer notifyStopping()
	n, err := p.prepareTopics(ctx)
	if err != nil || ctx.Err() != nil {
		return err
	}
	p.log.Info("canonical topics checked", "partitions", n)
	return p.runner.Run(ctx)
}

// prepareTopics creates missing topics (with create_topics) and checks that
// every topic has one partition count, waiting for a broker that is not
// there yet.
func (p *identityProc) prepareTopics(ctx context.Context) (int, error) {
	ct := p.cfg.Kafka.CreateTopics
	wait := 500 * time.Millisecond
	for {
		var err error
		if ct.Enabled {
			err = p.sink.EnsureTopicsWithConfigs(ctx, p.topics(), ct.Partitions, ct.ReplicationFactor, p.topicConfigs)
		}
		if err == nil {
			var n int
			n, err = identity.CheckPartitions(ctx, p.sink, p.topics())
			if err == nil {
				return n, nil
			}
		}
		if !errors.Is(err, connectors.ErrUnavailable) {
			return 0, fmt.Errorf("topics: %w", err)
		}
		p.log.Warn("broker unavailable, waiting", "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return 0, nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// topicConfigs: the identity topic is compacted (one record per person
// holds everything); the other topics keep everything, as canonical topics
// do.
func (p *identityProc) topicConfigs(topic string) map[string]string {
	if topic == identity.Topic(p.cfg.Kafka.TopicPrefix, identity.EntityIdentity) {
		return map[string]string{"cleanup.policy": "compact"}
	}
	return map[string]string{"retention.ms": strconv.Itoa(-1), "retention.bytes": "-1"}
}
