package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/fetch"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/connectors/sqlsource"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/pipeline"
)

// auditBenchRows is the settlements BenchmarkAudit loads: 50,000, spread
// over 30 days (a month of a mid-size county). The in-process broker keeps
// every record in memory, so much more would measure the broker.
const auditBenchRows = 50_000

// BenchmarkAudit measures the source-to-Kafka audit over a month of
// settlements that `run` delivered: rows/s read back from MariaDB, the
// topic and the DLQ and compared; peak-heap-B/row, the heap the audit
// adds above what the process held before it (at the default GOGC, so
// what an operator sees); and held-B/row, the live heap it adds, measured
// in an extra, untimed audit with the collector run often (GOGC=5); and
// fetches/op, the topic fetches (round trips to the broker) an audit
// makes. Both heap figures include the one topic fetch being decoded (at
// most Scanner.MaxBytes compressed, some 7 times that in JSON), which
// does not grow with the window; the window itself is about 200 bytes a
// row (pprof -sample_index=inuse_space of a heap profile taken during the
// audit). It runs once a MaxBytes: the default and the sizes it was
// chosen from.
//
//	go test -run '^$' -bench Audit -benchtime 1x ./pipeline/
func BenchmarkAudit(b *testing.B) {
	db, dsn := connectortest.MariaDB(b)
	broker, _ := connectortest.Broker(b, "hp.settlement.v1", "hp.dlq.v1")
	if _, err := db.Exec(settlementDDL); err != nil {
		b.Fatal(err)
	}
	from := time.Date(2019, 3, 1, 0, 0, 0, 0, cst)
	step := 30 * 24 * time.Hour / auditBenchRows
	const chunk = 1000
	for i := 0; i < auditBenchRows; i += chunk {
		var q strings.Builder
		q.WriteString("INSERT INTO yb_jsxx VALUES ")
		args := make([]any, 0, 10*chunk)
		for j := i; j < min(i+chunk, auditBenchRows); j++ {
			if j > i {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,?,?,?,?,?)")
			ts := from.Add(time.Duration(j) * step).Format(time.DateTime) // the source reads +08:00
			args = append(args, fmt.Sprintf("JS%08d", j), goodID, []byte{0xd5, 0xc5, 0xc8, 0xfd}, "2", ts, 100000+j, 1000+j, "I10", "0", ts)
		}
		if _, err := db.Exec(q.String(), args...); err != nil {
			b.Fatal(err)
		}
	}
	key := pii.TestKey()
	r := startPipeline(b, "e2e-ins", func(log *slog.Logger) (connectors.Source, error) {
		return sqlsource.New("e2e-ins", sqlsource.Config{Driver: "mysql", DSN: sqlsource.DSN(dsn), SettleDelay: time.Second, TimeZone: "+08:00"}, log)
	}, pipeOpts{maps: loadMaps(b, key, "testdata/maps/ins-settlement.yaml"), broker: broker, state: b.TempDir(), key: key,
		logs: &syncBuffer{}, batch: 1000, poll: 50 * time.Millisecond})
	defer func() {
		if err := r.stop(); err != nil {
			b.Error(err)
		}
	}()
	for deadline := time.Now().Add(10 * time.Minute); !(idle(r.Pipeline) && r.Status()[0].Rows == auditBenchRows); {
		if time.Now().After(deadline) {
			b.Fatalf("delivery: %+v", r.Status())
		}
		time.Sleep(100 * time.Millisecond)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := &kafka.Transport{Context: ctx}
	defer tr.CloseIdleConnections()
	req := pipeline.AuditRequest{From: from, To: from.AddDate(0, 0, 30)}
	for _, mb := range []struct {
		name string
		max  int64
	}{{"MaxBytes=default", 0}, {"MaxBytes=4MiB", 4 << 20}, {"MaxBytes=1MiB", 1 << 20}, {"MaxBytes=512KiB", 512 << 10}} {
		b.Run(mb.name, func(b *testing.B) {
			ft := &fetchCounter{RoundTripper: tr}
			scan := &pipeline.Scanner{Client: &kafka.Client{Addr: kafka.TCP(broker), Timeout: time.Minute, Transport: ft}, MaxBytes: mb.max}
			benchAudit(b, r, scan, req)
			// Each fetch is a round trip to the broker: on a real network
			// its latency times this count is what a smaller MaxBytes costs.
			b.ReportMetric(float64(ft.n.Load())/float64(b.N+1), "fetches/op")
		})
	}
}

// benchAudit runs and measures the audit of req with scan.
func benchAudit(b *testing.B, r *running, scan *pipeline.Scanner, req pipeline.AuditRequest) {
	ctx := context.Background()
	audit := func() {
		rep, err := r.Audit(ctx, scan, req)
		if err != nil {
			b.Fatal(err)
		}
		var src, topic int
		for _, d := range rep.Days {
			src += d.Source
			topic += d.Topic
			if d.Gap() {
				b.Fatalf("gap on %+v", d)
			}
		}
		if len(rep.Days) != 30 || src != auditBenchRows || topic != auditBenchRows {
			b.Fatalf("%d days, %d source rows, %d on the topic; want 30, %d, %d", len(rep.Days), src, topic, auditBenchRows, auditBenchRows)
		}
	}

	// The heap the audit adds: sampled every millisecond during the timed
	// audits, above the heap after a collection before them.
	heap := heapSampler("/memory/classes/heap/objects:bytes")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		audit()
	}
	b.StopTimer()
	peak := heap()
	b.ReportMetric(float64(auditBenchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peak)/auditBenchRows, "peak-heap-B/row")

	// What the audit holds: the live heap after each collection, with the
	// collector run often enough to see it.
	old := debug.SetGCPercent(5)
	live := heapSampler("/gc/heap/live:bytes")
	audit()
	held := live()
	debug.SetGCPercent(old)
	b.ReportMetric(float64(held)/auditBenchRows, "held-B/row")
}

// fetchCounter counts the fetch requests that go through it.
type fetchCounter struct {
	kafka.RoundTripper
	n atomic.Int64
}

func (f *fetchCounter) RoundTrip(ctx context.Context, addr net.Addr, req protocol.Message) (protocol.Message, error) {
	if _, ok := req.(*fetch.Request); ok {
		f.n.Add(1)
	}
	return f.RoundTripper.RoundTrip(ctx, addr, req)
}

// heapSampler collects, then reads the runtime metric name (bytes) every
// millisecond until the returned function is called; that returns the
// highest value seen less the first.
func heapSampler(name string) func() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	base, peak := s[0].Value.Uint64(), uint64(0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(stop)
		wg.Wait()
		if peak < base {
			return 0
		}
		return peak - base
	}
}
