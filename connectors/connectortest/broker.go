package connectortest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hpgate/hpgate/connectors"
)

// BrokerPartitions is the partition count of the topics Broker seeds and of
// topics created on first use. Design.md requires every canonical topic of a
// deployment to share one count; three makes key routing visible in tests.
const BrokerPartitions = 3

// Broker starts an in-process, single-broker Kafka cluster that speaks the
// wire protocol on a free 127.0.0.1 port, with topics created up front
// (kafka-go needs their metadata before the first write) and any other topic
// created on first use. It returns the bootstrap address and the cluster,
// whose ControlKey hooks inject faults. The cluster is closed by t.Cleanup.
//
// kfake keeps every record in memory: fine for tests, wrong for benchmarks
// of large volumes.
func Broker(t testing.TB, topics ...string) (addr string, c *kfake.Cluster) {
	t.Helper()
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(BrokerPartitions),
	}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(BrokerPartitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("connectortest: start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	addrs := c.ListenAddrs()
	if len(addrs) == 0 {
		t.Fatal("connectortest: kfake has no listener")
	}
	return addrs[0], c
}

// Record is one Kafka record as a consumer sees it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []connectors.Header
	Timestamp time.Time
}

// Header returns the value of the first header named key, and whether there
// was one.
func (r Record) Header(key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// ReadAll consumes topic from the start with a real Kafka client (franz-go's
// kgo, over TCP) and returns its records sorted by partition and offset.
//
// With n > 0 it waits until at least n records arrived; it may return more
// when they came in the same fetch. With n <= 0 it returns exactly the
// records the topic holds when ReadAll is called (up to each partition's
// end offset), which is what an exact-content check needs. Either way it
// fails the test when the records are not there within timeout.
func ReadAll(t testing.TB, addr, topic string, n int, timeout time.Duration) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.RetryTimeout(timeout),
	)
	if err != nil {
		t.Fatalf("connectortest: kgo client: %v", err)
	}
	defer cl.Close()

	var ends map[int32]int64 // for n <= 0: the end offset of each partition
	if n <= 0 {
		ends, err = endOffsets(ctx, cl, topic)
		if err != nil {
			t.Fatalf("connectortest: end offsets of %s: %v", topic, err)
		}
		n = 0
		for _, end := range ends {
			n += int(end)
		}
		if n == 0 {
			return nil
		}
	}

	var out []Record
	for len(out) < n {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("connectortest: read %d of %d records from %s within %v", len(out), n, topic, timeout)
		}
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
				continue
			}
			t.Fatalf("connectortest: fetch %s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if ends != nil && r.Offset >= ends[r.Partition] {
				return // written after ReadAll was called
			}
			rec := Record{
				Topic:     r.Topic,
				Partition: r.Partition,
				Offset:    r.Offset,
				Key:       r.Key,
				Value:     r.Value,
				Timestamp: r.Timestamp,
			}
			for _, h := range r.Headers {
				rec.Headers = append(rec.Headers, connectors.Header{Key: h.Key, Value: h.Value})
			}
			out = append(out, rec)
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out
}

// endOffsets returns the end offset (the next offset to be written) of
// every partition of topic.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if len(mresp.Topics) != 1 {
		return nil, fmt.Errorf("metadata returned %d topics", len(mresp.Topics))
	}
	if code := mresp.Topics[0].ErrorCode; code != 0 {
		return nil, fmt.Errorf("metadata error code %d", code)
	}

	list := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	for _, p := range mresp.Topics[0].Partitions {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition = p.Partition
		lp.Timestamp = -1 // latest
		lt.Partitions = append(lt.Partitions, lp)
	}
	list.Topics = append(list.Topics, lt)
	lresp, err := list.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	ends := make(map[int32]int64)
	for _, rt := range lresp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				return nil, fmt.Errorf("list offsets of partition %d: error code %d", rp.Partition, rp.ErrorCode)
			}
			ends[rp.Partition] = rp.Offset
		}
	}
	return ends, nil
}
