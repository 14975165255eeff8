package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hpgate/hpgate/connectors/connectortest"
	"github.com/hpgate/hpgate/pipeline"
)

// TestScannerSmallFetches reads a topic with fetches much smaller than it,
// and smaller than some of its records, as the default MaxBytes does on a
// large topic: every record must come back once, in offset order.
func TestScannerSmallFetches(t *testing.T) {
	broker, _ := connectortest.Broker(t, "scan.small")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tr := &kafka.Transport{Context: ctx}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second, Transport: tr}

	// Incompressible values, a few larger than the fetch size, written in
	// batches of 10 so a fetch ends inside or between batches.
	rnd := rand.New(rand.NewPCG(1, 2))
	want := map[int][][]byte{}
	for b := range 40 {
		for p := range connectortest.BrokerPartitions {
			var recs []kafka.Record
			for i := range 10 {
				n := 1500
				if i == 3 && b%7 == 0 {
					n = 40 << 10
				}
				v := make([]byte, n)
				for j := range v {
					v[j] = byte(rnd.Uint32())
				}
				want[p] = append(want[p], v)
				recs = append(recs, kafka.Record{Key: kafka.NewBytes(fmt.Appendf(nil, "k%d", len(want[p])-1)), Value: kafka.NewBytes(v)})
			}
			res, err := cl.Produce(ctx, &kafka.ProduceRequest{Topic: "scan.small", Partition: p, RequiredAcks: kafka.RequireAll,
				Records: kafka.NewRecordReader(recs...), Compression: kafka.Snappy})
			if err != nil {
				t.Fatal(err)
			}
			if res.Error != nil {
				t.Fatal(res.Error)
			}
		}
	}

	for _, max := range []int64{8 << 10, 0} {
		t.Run(fmt.Sprintf("MaxBytes=%d", max), func(t *testing.T) {
			got := map[int]int{}
			s := &pipeline.Scanner{Client: cl, MaxBytes: max}
			err := s.Scan(ctx, "scan.small", func(r *pipeline.TopicRecord) error {
				n := got[r.Partition]
				if r.Offset != int64(n) {
					return fmt.Errorf("partition %d: offset %d after %d records", r.Partition, r.Offset, n)
				}
				if string(r.Key) != fmt.Sprintf("k%d", n) || !bytes.Equal(r.Value, want[r.Partition][n]) {
					return fmt.Errorf("partition %d offset %d: key %q, value of %d bytes differs", r.Partition, r.Offset, r.Key, len(r.Value))
				}
				got[r.Partition]++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for p, w := range want {
				if got[p] != len(w) {
					t.Errorf("partition %d: read %d records, want %d", p, got[p], len(w))
				}
			}
		})
	}
}
