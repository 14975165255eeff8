package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/counties"
	"github.com/hpgate/hpgate/pipeline/demo"
)

func demoCmd() *cobra.Command {
	var (
		brokers string
		serve   bool
		listen  string
		keep    bool
		pack    string
		rows    int
		lf      logFlags
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline on a synthetic county, on embedded parts",
		Long: `Builds a synthetic county on SQLite from a county pack (shipped, or a
directory: --pack mappings/counties/360730-ningdu), starts an
in-process Kafka-protocol broker (or uses --brokers), runs the gateway
until every table is delivered, then adds rows to every source and shows
them arrive incrementally. Prints a per-topic summary and exits 0.
With --serve it keeps running with /metrics and /status until Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lf.level == "" {
				lf.level = "warn"
			}
			log, err := lf.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if serve && listen == "" {
				listen = "127.0.0.1:9464"
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), log, demoOptions{
				brokers: brokers, serve: serve, listen: listen, keep: keep, pack: pack, rows: rows,
			})
		},
	}
	cmd.Flags().StringVar(&brokers, "brokers", "", "write to this Kafka (host:port,…) instead of an in-process broker")
	cmd.Flags().BoolVar(&serve, "serve", false, "keep running with the HTTP listener (/metrics, /status) until interrupted")
	cmd.Flags().StringVar(&listen, "listen", "", "HTTP listen address (default 127.0.0.1:9464 with --serve)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the demo's directory (databases, config, state) and print its path")
	cmd.Flags().StringVar(&pack, "pack", "370282-jimo", "county pack to build the synthetic county from: a shipped pack ("+strings.Join(counties.Names(), ", ")+") or a pack directory")
	cmd.Flags().IntVar(&rows, "rows", 400, "rows per source table in the first load")
	lf.add(cmd)
	cmd.Flags().Lookup("log.level").DefValue = "warn"
	_ = cmd.Flags().Set("log.level", "warn")
	return cmd
}

type demoOptions struct {
	brokers, listen, pack string
	serve, keep           bool
	rows                  int
}

func runDemo(ctx context.Context, out io.Writer, log *slog.Logger, o demoOptions) error {
	start := time.Now()
	dir, err := os.MkdirTemp("", "hpgate-demo-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(out, "demo directory: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	packDir, err := demoPack(o.pack, dir)
	if err != nil {
		return err
	}

	brokers := splitList(o.brokers)
	if len(brokers) == 0 {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
		if err != nil {
			return fmt.Errorf("start in-process broker: %w", err)
		}
		defer cluster.Close()
		brokers = cluster.ListenAddrs()
		fmt.Fprintf(out, "in-process Kafka-protocol broker at %s\n", strings.Join(brokers, ","))
	}

	county, err := demo.Build(dir, packDir, demo.Options{RowsPerTable: o.rows, Brokers: brokers, HTTPListen: o.listen, Cases: true})
	if err != nil {
		return err
	}
	defer county.Close()
	fmt.Fprintf(out, "synthetic county %s: %d rows in %d tables of %d sources, %d mappings\n",
		o.pack, county.Total(), len(county.Rows), len(distinctSources(county)), len(county.Mappings))
	if r := county.Registry(); r != "" {
		fmt.Fprintln(out, r)
	}

	reg := prometheus.NewRegistry()
	d, err := openDaemon(county.ConfigPath, log, reg)
	if err != nil {
		return reportLoad(out, err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- d.run(runCtx) }()

	if err := waitDelivered(ctx, d, county, done, start); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nsnapshot delivered in %s\n", time.Since(start).Round(time.Millisecond))
	counts1, err := topicCounts(ctx, brokers, d.pipe.Topics())
	if err != nil {
		return err
	}

	if err := county.Update(25); err != nil {
		return err
	}
	fmt.Fprintf(out, "added 25 rows to every table; waiting for the incremental pull…\n")
	t1 := time.Now()
	if err := waitDelivered(ctx, d, county, done, t1); err != nil {
		return err
	}
	fmt.Fprintf(out, "increment delivered in %s\n\n", time.Since(t1).Round(time.Millisecond))
	counts2, err := topicCounts(ctx, brokers, d.pipe.Topics())
	if err != nil {
		return err
	}
	printSummary(out, d, counts1, counts2)
	// The identity stages, in-process, over what the gateway delivered.
	idSummary, err := runIdentityDemo(ctx, log, county.ConfigPath)
	if err != nil {
		return reportLoad(out, err)
	}
	printIdentitySummary(out, idSummary)
	if sample, err := sampleRecord(ctx, brokers, "hp.settlement.v1"); err == nil {
		fmt.Fprintf(out, "\none record of hp.settlement.v1 (ID numbers and names never leave the mapper):\n%s\n", sample)
	}

	if o.serve {
		fmt.Fprintf(out, "\nserving http://%s/metrics and /status; Ctrl-C to stop\n", o.listen)
		<-ctx.Done()
	}
	stop()
	if err := <-done; err != nil {
		return err
	}
	fmt.Fprintf(out, "\ndone in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// demoPack copies the county pack to the demo directory: a directory on
// disk (a pack being written, or a shipped one in the source tree), else
// a pack shipped in the binary, by name.
func demoPack(pack, dir string) (string, error) {
	if st, err := os.Stat(pack); err == nil && st.IsDir() {
		dst := filepath.Join(dir, "pack")
		if err := os.CopyFS(dst, os.DirFS(pack)); err != nil {
			return "", fmt.Errorf("county pack %s: %w", pack, err)
		}
		return dst, nil
	}
	if !slices.Contains(counties.Names(), pack) {
		return "", fmt.Errorf("county pack %s: no such directory, and not a shipped pack (%s)", pack, strings.Join(counties.Names(), ", "))
	}
	return counties.Extract(pack, dir)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func distinctSources(c *demo.County) []string {
	var s []string
	for _, m := range c.Mappings {
		s = append(s, m.Source)
	}
	slices.Sort(s)
	return slices.Compact(s)
}

// waitDelivered waits until every mapping has read every row of its table
// and has since finished a poll that began after `since` (a snapshot
// mapping's pass must have seen the newest rows).
func waitDelivered(ctx context.Context, d *daemon, c *demo.County, done <-chan error, since time.Time) error {
	deadline := time.After(2 * time.Minute)
	for {
		ready := true
		for _, s := range d.pipe.Status() {
			if s.State == "stopped" {
				return fmt.Errorf("mapping %s stopped: %s", s.Mapping, s.LastError)
			}
			m := mappingByName(d, s.Mapping)
			if s.State != "idle" || s.Rows < int64(c.TableRows(m)) || !s.LastSuccess.After(since) {
				ready = false
			}
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-done:
			return fmt.Errorf("pipeline ended early: %w", errors.Join(err, errors.New("see the log")))
		case <-deadline:
			return errors.New("demo: the pipeline did not catch up within 2 minutes")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func mappingByName(d *daemon, name string) *mappings.Mapping {
	for _, m := range d.current() {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// topicCounts returns the number of messages on each topic.
func topicCounts(ctx context.Context, brokers, topics []string) (map[string]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	out := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		out[o.Topic] += o.Offset
	})
	return out, nil
}

func printSummary(out io.Writer, d *daemon, first, now map[string]int64) {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "topic\tafter snapshot\tafter increment\t")
	var topics []string
	for t := range now {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	for _, t := range topics {
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", t, first[t], now[t])
	}
	_ = tw.Flush()
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mapping\trows read\trecords\trejected\tposition\t")
	for _, s := range d.pipe.Status() {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t\n", s.Mapping, s.Rows, s.Records, s.Rejected, s.Position)
	}
	_ = tw.Flush()
	printRejections(out, d)
}

// printRejections lists rejections per mapping and reason code, from the
// metrics (the DLQ holds each row with its reason).
func printRejections(out io.Writer, d *daemon) {
	mfs, err := d.reg.Gather()
	if err != nil {
		return
	}
	var lines []string
	for _, mf := range mfs {
		if mf.GetName() != "hpgate_mapping_rejections_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var mapping, reason string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "mapping":
					mapping = l.GetValue()
				case "reason":
					reason = l.GetValue()
				}
			}
			lines = append(lines, fmt.Sprintf("%s\t%s\t%.0f\t", mapping, reason, m.GetCounter().GetValue()))
		}
	}
	if len(lines) == 0 {
		return
	}
	slices.Sort(lines)
	fmt.Fprintln(out, "\nrejected rows, by reason (each is on hp.dlq.v1 with its reason, masked, and sealed for re-drive):")
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mapping\treason\trows\t")
	for _, l := range lines {
		fmt.Fprintln(tw, l)
	}
	_ = tw.Flush()
}

// sampleRecord reads the first record of a topic.
func sampleRecord(ctx context.Context, brokers []string, topic string) (string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fs := cl.PollRecords(ctx, 1)
	if err := fs.Err0(); err != nil {
		return "", err
	}
	recs := fs.Records()
	if len(recs) == 0 {
		return "", errors.New("no record")
	}
	return string(recs[0].Value), nil
}
