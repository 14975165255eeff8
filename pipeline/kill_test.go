package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/kafkasink"
	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/monitoring"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
)

// The kill test runs the pipeline in a child process (this test binary,
// re-executed with childEnv set) and kills it with SIGKILL mid-run.
const childEnv = "HPGATE_PIPELINE_CHILD"

// runChild is the child's main: run the pipeline until killed.
func runChild() {
	dsn, broker, state := os.Getenv("CHILD_DSN"), os.Getenv("CHILD_BROKER"), os.Getenv("CHILD_STATE")
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	key := pii.TestKey()
	ms, err := mappings.Load(mappings.Options{Key: key}, "testdata/maps/ins-settlement.yaml")
	if err != nil {
		fail(err)
	}
	src, err := sqlsource.New("e2e-ins", sqlsource.Config{Driver: "mysql", DSN: sqlsource.DSN(dsn), SettleDelay: -1, RowsPerSecond: 4000}, slog.New(slog.DiscardHandler))
	if err != nil {
		fail(err)
	}
	sink, err := kafkasink.New(kafkasink.Config{Brokers: []string{broker}}, slog.New(slog.DiscardHandler))
	if err != nil {
		fail(err)
	}
	store, err := checkpoint.Open(state, key.SealKey(), checkpoint.Options{LockTimeout: 5 * time.Second, Algorithms: key.Algorithms()})
	if err != nil {
		fail(err)
	}
	met := monitoring.New(prometheus.NewRegistry(), monitoring.BuildInfo{}, nil)
	p, err := pipeline.New(ms, map[string]pipeline.SourceSpec{"e2e-ins": {Source: src, BatchSize: 500, PollInterval: 50 * time.Millisecond}},
		sink, store, key, met, pipeline.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		fail(err)
	}
	go func() {
		for range time.Tick(20 * time.Millisecond) {
			fmt.Printf("rows %d\n", p.Status()[0].Rows) // progress for the parent
		}
	}()
	_ = p.Run(context.Background())
}

// TestKillMidRunLosesNothing: SIGKILL during a run, then a restart. Every
// row arrives; the repeats are at most the batch that was in flight.
func TestKillMidRunLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes; skipped with -short")
	}
	e := newEnv(t)
	const n = 6000
	e.exec(`INSERT INTO yb_jsxx (JSID, SFZH, YYDJ, JSSJ, ZFY, GRZF, ZDDM, CXBZ, GXSJ)
		SELECT CONCAT('JS', LPAD(seq, 5, '0')), ?, '2', '2019-03-01 10:00:00', 100000 + seq, 1000, 'I10', '0',
		       TIMESTAMPADD(SECOND, seq DIV 3, '2019-03-01 10:00:00')
		FROM seq_1_to_6000`, goodID)

	start := func() (*exec.Cmd, *syncBuffer) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", "CHILD_DSN="+e.dsn, "CHILD_BROKER="+e.broker, "CHILD_STATE="+e.state)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, out
	}
	lastRows := func(out *syncBuffer) int {
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(lines[i], "rows "); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		return 0
	}

	cmd, out := start()
	waitFor(t, "the first child to be half way", func() bool { return lastRows(out) >= 2000 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killedAt := lastRows(out)
	if killedAt >= n {
		t.Fatalf("the child finished (%d rows) before it was killed", killedAt)
	}

	cmd, out = start()
	waitFor(t, "the second child to finish", func() bool { return lastRows(out) >= n })
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()

	recs := connectortest.ReadAll(t, e.broker, "hp.settlement.v1", 0, 10*time.Second)
	seen := map[string]int{}
	for _, r := range recs {
		var env canonical.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		seen[env.ID]++
	}
	if len(seen) != n {
		t.Fatalf("%d distinct records, want %d: rows were lost", len(seen), n)
	}
	if repeats := len(recs) - n; repeats > 500 {
		t.Errorf("%d repeated records; at most one batch (500) may be in flight", repeats)
	} else {
		t.Logf("killed after %d checkpointed rows; %d records repeated after the restart", killedAt, repeats)
	}
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
