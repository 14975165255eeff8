package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/pipeline/config"
	"github.com/hpgate/hpgate/pipeline/dlq"
)

// benchChildEnv is set in the environment of the processes `hpgate bench`
// starts from its own executable. The hpgate binary ignores it; a test
// binary's TestMain sees it and runs the command line instead of the tests.
const benchChildEnv = "HPGATE_BENCH_CHILD"

// benchMapping is mappings/testdata/bench/settlement.yaml, the 21-column
// settlement mapping of the benchmark, carried in the binary (a test keeps
// the two identical).
const benchMapping = `# The 21-column settlement mapping of the issue's benchmark: column moves,
# ID normalisation, HMAC, two code lookups, one expression, the content
# hash and the envelope JSON.
kind: mapping
name: bench-ins-settlement
county: "370282"
system: insurance
source: bench-ins
entity: settlement
table: YB_JSXX
cursor: {mode: incremental, timestamp: GXSJ, keys: [JSID]}
identity: {id_card: SFZH}
codes:
  level: {values: {"1": village, "2": township, "3": county, "4": city, "5": province}}
  type: {values: {"11": outpatient, "21": inpatient, "15": chronic_outpatient}}
fields:
  settlement_no: JSID
  encounter_no: JZID
  facility_code: YYBM
  facility_level: {column: YYDJ, code: level}
  encounter_type: {column: JZLX, code: type}
  settled_at: JSSJ
  main_diagnosis: ZDDM
  total_cost: {column: ZFY, unit: fen}
  in_scope_cost: {column: ZCFY, unit: fen}
  non_reimbursable_cost: {column: ZWFY, unit: fen}
  deductible: {column: QFX, unit: fen}
  basic_insurance: {column: TCZF, unit: fen}
  critical_illness: {column: DBZF, unit: fen}
  medical_assistance: {column: JZZF, unit: fen}
  government_backstop: {column: DDZF, unit: fen}
  out_of_pocket: {column: GRZF, unit: fen}
  reversal: {expr: 'CXBZ == "1"'}
  in_county: {const: true}
`

// Fixed parts of the bench set-up.
const (
	benchSource        = "bench-ins"
	benchTopicPrefix   = "hp."
	benchBaselineTopic = "bench.baseline.v1"
	benchPartitions    = 6 // kafkasink's default for created topics
)

type benchOptions struct {
	rows       int
	dsn        string
	batch      int
	keep       bool
	repeat     int
	partitions int
	only       string // "", "hpgate" or "baseline"
	verbose    bool   // children's stderr to ours
	cpuprofile string // of the hpgate run
	memprofile string // of the hpgate run, half-way
	baseProf   string // of the baseline run
	envelope   bool   // the loop writes hpgate's envelope, not the bare row
}

func benchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the pipeline end to end against a plain hand-written loop",
		Long: `Loads --rows rows of the 21-column settlement table into MariaDB (a private
mariadbd on a free port in a temp dir, or the server of --mysql-dsn), starts
a Kafka-protocol broker (kfake) in a separate process, and measures in turn,
each in a process of its own so that its peak RSS is its own:

  hpgate    the real pipeline (sqlsource mysql, the settlement mapping,
            kafkasink with lz4 and acks=all, a bbolt checkpoint store),
            until every row is checkpointed;
  baseline  a plain loop doing the same keyset reads, json.Marshal of the
            21 columns and kafka-go writes (lz4, acks=all, keyed).

It prints rows/s, µs per row and peak RSS of both, and hpgate's rows/s as
a ratio of the loop's: absolute figures drift between runs on shared
machines, the ratio much less. The broker discards record bytes
(kfake BlackholeProduce) but keeps offsets, which the bench checks.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.rows, "rows", 1000000, "rows to load and move")
	f.StringVar(&o.dsn, "mysql-dsn", "", "use this MySQL/MariaDB server (go-sql-driver DSN; a fresh database is created and dropped) instead of a private mariadbd")
	f.IntVar(&o.batch, "batch-size", config.DefaultBatchSize, "rows per batch, for hpgate and the loop (the default is hpgate's)")
	f.BoolVar(&o.keep, "keep", false, "keep the bench directory (database files, config, state, profiles) and database, and print the path")
	f.IntVar(&o.repeat, "repeat", 1, "measure hpgate and the loop this many times each, alternating, and report the median runs")
	f.IntVar(&o.partitions, "partitions", benchPartitions, "partitions of the topics")
	f.StringVar(&o.only, "only", "", "run only hpgate or only baseline")
	f.BoolVar(&o.envelope, "baseline-envelope", false, "the loop writes each row in hpgate's envelope (hash, HMAC key, source, times) instead of the bare row, to tell the contract's cost from hpgate's")
	f.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the hpgate run to this file")
	f.StringVar(&o.baseProf, "baseline-cpuprofile", "", "write a CPU profile of the baseline run to this file")
	f.StringVar(&o.memprofile, "memprofile", "", "write a heap profile of the hpgate run, taken half-way, to this file")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "copy the children's stderr (logs, GODEBUG traces) to stderr")
	for _, name := range []string{"partitions", "only", "cpuprofile", "baseline-cpuprofile", "memprofile", "verbose"} {
		_ = f.MarkHidden(name)
	}
	return cmd
}

// benchResult is what a measured child reports on its last line of
// stdout; the parent adds the peak RSS.
type benchResult struct {
	Rows     int64   `json:"rows"`
	Records  int64   `json:"records"`
	Rejected int64   `json:"rejected"`
	Seconds  float64 `json:"seconds"`
	// Stages sums the time spent per stage of the batches, in seconds.
	Stages  map[string]float64 `json:"stages,omitempty"`
	PeakRSS int64              `json:"-"` // bytes, -1 when unknown
}

func (r benchResult) rate() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Rows) / r.Seconds
}

func (r benchResult) microsPerRow() float64 {
	if r.Rows == 0 {
		return 0
	}
	return r.Seconds * 1e6 / float64(r.Rows)
}

func runBench(ctx context.Context, out, errOut io.Writer, o benchOptions) (err error) {
	if o.rows <= 0 || o.batch <= 0 || o.partitions <= 0 || o.repeat <= 0 {
		return errors.New("--rows, --batch-size, --repeat and --partitions must be positive")
	}
	if o.only != "" && o.only != "hpgate" && o.only != "baseline" {
		return fmt.Errorf("--only %q: want hpgate or baseline", o.only)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find my own executable, to start the broker and the measured runs: %w", err)
	}
	dir, err := os.MkdirTemp("", "hpgate-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(out, "bench directory: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	// The database.
	var db *benchDB
	if o.dsn != "" {
		db, err = openBenchDB(ctx, o.dsn)
	} else {
		fmt.Fprintf(out, "starting a private MariaDB in %s…\n", dir)
		db, err = startBenchMariaDB(ctx, dir)
	}
	if err != nil {
		return err
	}
	defer func() {
		err = errors.Join(err, db.close(o.keep))
	}()
	pool, perr := db.growBufferPool(ctx)
	if perr != nil {
		fmt.Fprintf(errOut, "warning: buffer pool stays at %d MB: %v\n", pool>>20, perr)
	}
	t0 := time.Now()
	if err := loadBenchTable(ctx, db.admin, o.rows); err != nil {
		return err
	}
	load := time.Since(t0)
	size, err := warmBenchTable(ctx, db.admin)
	if err != nil {
		return fmt.Errorf("warm the table: %w", err)
	}
	fmt.Fprintf(out, "MariaDB %s, buffer pool %d MB: loaded %d rows into %s (%d MB with indexes) in %s (%.0f rows/s)\n",
		db.version(ctx), pool>>20, o.rows, benchTable, size>>20, load.Round(time.Millisecond), float64(o.rows)/load.Seconds())

	// The mapping and the topics.
	mapDir := filepath.Join(dir, "maps")
	if err := os.MkdirAll(mapDir, 0o755); err != nil {
		return err
	}
	mapPath := filepath.Join(mapDir, "settlement.yaml")
	if err := os.WriteFile(mapPath, []byte(benchMapping), 0o644); err != nil {
		return err
	}
	ms, err := mappings.Load(mappings.Options{}, mapPath)
	if err != nil {
		return fmt.Errorf("bench mapping: %w", err)
	}
	topic := ms[0].Topic(benchTopicPrefix)
	topics := []string{topic, dlq.Topic(benchTopicPrefix), benchBaselineTopic}

	// The broker, in a process of its own.
	broker, err := startBenchBroker(ctx, exe, o.partitions, topics)
	if err != nil {
		return err
	}
	defer func() {
		err = errors.Join(err, broker.stop())
	}()
	fmt.Fprintf(out, "kfake broker (separate process, records discarded, offsets kept) at %s, %d partitions per topic\n", broker.addr, o.partitions)

	// The measured runs, alternating, each in a process of its own.
	var hps, bases []benchResult
	for i := range o.repeat {
		if o.only != "baseline" {
			// A fresh checkpoint store per run: each starts from the
			// beginning of the table.
			cfgPath, err := writeBenchConfig(dir, i, db.dsn(), broker.addr, mapDir, o.batch)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "hpgate: %s → %s, batch %d…", benchTable, topic, o.batch)
			args := []string{"bench-run", "--config", cfgPath, "--rows", strconv.Itoa(o.rows)}
			if o.cpuprofile != "" && i == 0 {
				args = append(args, "--cpuprofile", o.cpuprofile)
			}
			if o.memprofile != "" && i == 0 {
				args = append(args, "--memprofile", o.memprofile)
			}
			r, err := runBenchChild(ctx, o.verbose, errOut, exe, args...)
			if err != nil {
				fmt.Fprintln(out)
				return err
			}
			fmt.Fprintf(out, " %.3fs\n", r.Seconds)
			hps = append(hps, r)
		}
		if o.only != "hpgate" {
			fmt.Fprintf(out, "baseline: %s → %s, batch %d…", benchTable, benchBaselineTopic, o.batch)
			args := []string{"bench-baseline", "--dsn", db.dsn(), "--brokers", broker.addr, "--topic", benchBaselineTopic,
				"--rows", strconv.Itoa(o.rows), "--batch-size", strconv.Itoa(o.batch)}
			if o.envelope {
				args = append(args, "--envelope")
			}
			if o.baseProf != "" && i == 0 {
				args = append(args, "--cpuprofile", o.baseProf)
			}
			r, err := runBenchChild(ctx, o.verbose, errOut, exe, args...)
			if err != nil {
				fmt.Fprintln(out)
				return err
			}
			fmt.Fprintf(out, " %.3fs\n", r.Seconds)
			bases = append(bases, r)
		}
	}

	// Every run moved every row, and every record reached the broker: its
	// offsets count them.
	counts, err := topicCounts(ctx, []string{broker.addr}, topics)
	if err != nil {
		return fmt.Errorf("count the records on the broker: %w", err)
	}
	want := int64(o.rows) * int64(o.repeat)
	for _, r := range hps {
		if r.Rows < int64(o.rows) {
			return fmt.Errorf("hpgate: %d rows checkpointed; want %d", r.Rows, o.rows)
		}
	}
	if len(hps) > 0 && counts[topic] < want {
		return fmt.Errorf("hpgate: %d records on %s; want %d", counts[topic], topic, want)
	}
	for _, r := range bases {
		if r.Rows < int64(o.rows) {
			return fmt.Errorf("baseline: %d rows read; want %d", r.Rows, o.rows)
		}
	}
	if len(bases) > 0 && counts[benchBaselineTopic] < want {
		return fmt.Errorf("baseline: %d records on %s; want %d", counts[benchBaselineTopic], benchBaselineTopic, want)
	}
	hp, base := medianRun(hps), medianRun(bases)

	fmt.Fprintln(out)
	printBenchTable(out, hp, base, o.envelope)
	if o.repeat > 1 {
		fmt.Fprintf(out, "medians of %d runs each; seconds per run: hpgate %s; baseline %s\n", o.repeat, runSeconds(hps), runSeconds(bases))
	}
	if hp != nil && hp.Rejected > 0 {
		fmt.Fprintf(out, "note: hpgate rejected %d rows (on %s): the generated data should all map\n", hp.Rejected, dlq.Topic(benchTopicPrefix))
	}
	return nil
}

func runSeconds(runs []benchResult) string {
	var s []string
	for _, r := range runs {
		s = append(s, strconv.FormatFloat(r.Seconds, 'f', 2, 64))
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, " ")
}

// medianRun returns the run of median time, with the highest peak RSS of
// all the runs; nil for none.
func medianRun(runs []benchResult) *benchResult {
	if len(runs) == 0 {
		return nil
	}
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b benchResult) int { return cmp.Compare(a.Seconds, b.Seconds) })
	m := sorted[(len(sorted)-1)/2]
	for _, r := range runs {
		m.PeakRSS = max(m.PeakRSS, r.PeakRSS)
	}
	return &m
}

func printBenchTable(out io.Writer, hp, base *benchResult, envelope bool) {
	fmt.Fprintf(out, "%d-core machine, %s, GOMAXPROCS %d; lz4, acks=all\n", runtime.NumCPU(), runtime.Version(), runtime.GOMAXPROCS(0))
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\trows\tseconds\trows/s\tµs/row\tpeak RSS MB\t")
	line := func(name string, r *benchResult) {
		if r == nil {
			return
		}
		rss := "n/a"
		if r.PeakRSS >= 0 {
			rss = strconv.FormatFloat(float64(r.PeakRSS)/(1<<20), 'f', 1, 64)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.0f\t%.2f\t%s\t\n", name, r.Rows, r.Seconds, r.rate(), r.microsPerRow(), rss)
	}
	line("hpgate", hp)
	line("baseline", base)
	_ = tw.Flush()
	if hp != nil && base != nil && base.rate() > 0 {
		target := "(target ≥ 0.80×)"
		if envelope {
			target = "(the loop writes hpgate's envelope: no target)"
		}
		fmt.Fprintf(out, "ratio hpgate/baseline: %.2f× rows/s %s\n", hp.rate()/base.rate(), target)
	}
	if hp != nil && hp.PeakRSS >= 0 {
		fmt.Fprintf(out, "hpgate peak RSS: %.1f MB (target ≤ 100 MB)\n", float64(hp.PeakRSS)/(1<<20))
	}
	for _, r := range []struct {
		name string
		r    *benchResult
	}{{"hpgate", hp}, {"baseline", base}} {
		if r.r == nil || len(r.r.Stages) == 0 {
			continue
		}
		var parts []string
		for _, st := range []string{"read", "read+map", "map", "write", "checkpoint"} {
			if v, ok := r.r.Stages[st]; ok {
				parts = append(parts, fmt.Sprintf("%s %.2f", st, v))
			}
		}
		fmt.Fprintf(out, "%s seconds per stage: %s (of %.2f)\n", r.name, strings.Join(parts, ", "), r.r.Seconds)
	}
}

// writeBenchConfig writes the hpgate config of the measured run, with
// the DSN and a random pseudonymisation key in files beside it.
func writeBenchConfig(dir string, run int, dsn, broker, mapDir string, batch int) (string, error) {
	dsnFile := filepath.Join(dir, "bench.dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn), 0o600); err != nil {
		return "", err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	keyFile := filepath.Join(dir, "pii.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(secret)), 0o600); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("# written by `hpgate bench`\nsources:\n")
	fmt.Fprintf(&b, "  %s:\n    driver: mysql\n    dsn_file: %q\n    settle_delay: 0s\n    batch_size: %d\n    poll_interval: 1s\n",
		benchSource, dsnFile, batch)
	fmt.Fprintf(&b, "kafka:\n  brokers: [%q]\n  topic_prefix: %q\n  compression: lz4\n  required_acks: all\n", broker, benchTopicPrefix)
	fmt.Fprintf(&b, "state:\n  dir: %q\n", filepath.Join(dir, "state-"+strconv.Itoa(run)))
	fmt.Fprintf(&b, "pii:\n  key_id: bench\n  key_file: %q\n", keyFile)
	fmt.Fprintf(&b, "http:\n  listen: \"\"\nmappings:\n  paths: [%q]\n", mapDir)
	path := filepath.Join(dir, "hpgate-"+strconv.Itoa(run)+".yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// benchCommand returns a command running this executable with args, as a
// child of the bench.
func benchCommand(ctx context.Context, exe string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), benchChildEnv+"=1")
	cmd.WaitDelay = 10 * time.Second
	benchSetDeathSignal(cmd)
	return cmd
}

// runBenchChild runs a measured child to its end and returns its result
// with its peak RSS.
func runBenchChild(ctx context.Context, verbose bool, errOut io.Writer, exe string, args ...string) (benchResult, error) {
	cmd := benchCommand(ctx, exe, args...)
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if verbose {
		cmd.Stderr = io.MultiWriter(stderr, errOut)
	}
	err := cmd.Run()
	if err != nil {
		return benchResult{}, fmt.Errorf("%s: %w\n%s", args[0], err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var r benchResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return benchResult{}, fmt.Errorf("%s: bad result line %q: %w", args[0], lines[len(lines)-1], err)
	}
	r.PeakRSS = benchPeakRSS(cmd.ProcessState)
	return r, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// benchBrokerProc is the broker child.
type benchBrokerProc struct {
	addr   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
}

// startBenchBroker starts `hpgate bench-broker` and reads the address it
// listens on.
func startBenchBroker(ctx context.Context, exe string, partitions int, topics []string) (*benchBrokerProc, error) {
	cmd := benchCommand(context.WithoutCancel(ctx), exe, "bench-broker", "--listen", "127.0.0.1:0",
		"--partitions", strconv.Itoa(partitions), "--topics", strings.Join(topics, ","))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &benchBrokerProc{cmd: cmd, stdin: stdin, stderr: &tailBuffer{max: 64 << 10}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case addr, ok := <-line:
		if ok && addr != "" {
			p.addr = addr
			return p, nil
		}
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	_ = p.stop()
	return nil, fmt.Errorf("the broker did not start: %s", p.stderr.String())
}

// stop closes the broker's stdin, which ends it, and waits for it.
func (p *benchBrokerProc) stop() error {
	_ = p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("bench-broker: %w\n%s", err, p.stderr.String())
		}
		return nil
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		return errors.New("bench-broker did not stop within 15s; killed")
	}
}

// benchChild runs the measured part of a child, under a CPU profile when
// asked, and prints its result as the last line of stdout.
func benchChild(cmd *cobra.Command, cpuprofile string, measure func(context.Context) (benchResult, error)) error {
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	r, err := measure(cmd.Context())
	if cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", line)
	return err
}

// benchRunCmd is the hidden `hpgate bench-run`: the measured hpgate run of
// `hpgate bench`, in a process of its own.
func benchRunCmd() *cobra.Command {
	var (
		configPath, cpuprofile, memprofile string
		rows                               int64
	)
	cmd := &cobra.Command{
		Use:    "bench-run -c CONFIG --rows N",
		Short:  "The measured pipeline run of `hpgate bench` (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchChild(cmd, cpuprofile, func(ctx context.Context) (benchResult, error) {
				return runBenchPipeline(ctx, configPath, rows, memprofile, cmd.ErrOrStderr())
			})
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "config file")
	cmd.Flags().Int64Var(&rows, "rows", 0, "rows to wait for")
	cmd.Flags().StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the run to this file")
	cmd.Flags().StringVar(&memprofile, "memprofile", "", "write a heap profile, taken when half the rows are through, to this file")
	return cmd
}

// runBenchPipeline runs the daemon of configPath, as `hpgate run` does,
// until its mappings have checkpointed rows rows together, and returns the
// time that took. With memprofile, it writes a heap profile when half the
// rows are through.
func runBenchPipeline(ctx context.Context, configPath string, rows int64, memprofile string, errOut io.Writer) (benchResult, error) {
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start := time.Now()
	d, err := openDaemon(configPath, log, prometheus.NewRegistry())
	if err != nil {
		return benchResult{}, reportLoad(errOut, err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- d.run(runCtx) }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	var r benchResult
	for r.Rows < rows {
		select {
		case <-ctx.Done():
			stop()
			<-done
			return r, ctx.Err()
		case err := <-done:
			return r, fmt.Errorf("the pipeline ended after %d rows: %v", r.Rows, err)
		case <-tick.C:
		}
		r = benchResult{}
		for _, s := range d.pipe.Status() {
			if s.State == "stopped" {
				stop()
				<-done
				return r, fmt.Errorf("mapping %s stopped: %s", s.Mapping, s.LastError)
			}
			r.Rows += s.Rows
			r.Records += s.Records
			r.Rejected += s.Rejected
		}
		if memprofile != "" && r.Rows >= rows/2 {
			if err := writeHeapProfile(memprofile); err != nil {
				fmt.Fprintf(errOut, "heap profile: %v\n", err)
			}
			memprofile = ""
		}
	}
	r.Seconds = time.Since(start).Seconds()
	stop()
	err = <-done
	r.Stages = stageSeconds(d.reg)
	return r, err
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// stageSeconds sums hpgate_batch_duration_seconds per stage.
func stageSeconds(reg *prometheus.Registry) map[string]float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return nil
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "hpgate_batch_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "stage" {
					out[l.GetValue()] += m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	return out
}
