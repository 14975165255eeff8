package kafkasink_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/kafkasink"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// broker starts an in-process Kafka-protocol broker over TCP.
func broker(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newSink builds a sink on c's addresses and closes it at cleanup.
func newSink(t testing.TB, c *kfake.Cluster, edit func(*kafkasink.Config)) *kafkasink.Sink {
	t.Helper()
	cfg := kafkasink.Config{Brokers: c.ListenAddrs()}
	if edit != nil {
		edit(&cfg)
	}
	s, err := kafkasink.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// consume reads n records of topics from the start with franz-go, an
// independent client.
func consume(t testing.TB, c *kfake.Cluster, n int, topics ...string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", len(recs), n, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
	}
	return recs
}

func headers(m connectors.Message) string {
	var b strings.Builder
	for _, h := range m.Headers {
		fmt.Fprintf(&b, "%s=%s;", h.Key, h.Value)
	}
	return b.String()
}

func kgoHeaders(r *kgo.Record) string {
	var b strings.Builder
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "%s=%s;", h.Key, h.Value)
	}
	return b.String()
}

// personMessages builds n messages over topics, with nKeys distinct
// person-key-like keys, a sequence number per key in the value, and the
// contract-4 headers.
func personMessages(n, nKeys int, topics ...string) []connectors.Message {
	msgs := make([]connectors.Message, n)
	seq := make(map[string]int)
	for i := range msgs {
		key := fmt.Sprintf("k1:%064x", i%nKeys*7919)
		topic := topics[i%len(topics)]
		seq[topic+key]++
		msgs[i] = connectors.Message{
			Topic: topic,
			Key:   []byte(key),
			Value: fmt.Appendf(nil, `{"key":%q,"seq":%d,"i":%d}`, key, seq[topic+key], i),
			Headers: []connectors.Header{
				{Key: "schema", Value: []byte("hp.settlement/v1")},
				{Key: "county", Value: []byte("370282")},
				{Key: "source_system", Value: []byte("insurance")},
			},
		}
	}
	return msgs
}

func TestWriteKeysHeadersPartitionsOrder(t *testing.T) {
	const topicA, topicB = "hp.person.v1", "hp.settlement.v1"
	c := broker(t, kfake.SeedTopics(6, topicA), kfake.SeedTopics(3, topicB))
	var acks sync.Map // int16 → true, every acks value seen in produce requests
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		acks.Store(req.(*kmsg.ProduceRequest).Acks, true)
		return nil, nil, false
	})
	s := newSink(t, c, nil)

	msgs := personMessages(600, 37, topicA, topicB)
	// Two calls: order per key must hold across them too (sequential).
	if err := s.Write(context.Background(), msgs[:300]); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), msgs[300:]); err != nil {
		t.Fatal(err)
	}

	recs := consume(t, c, len(msgs), topicA, topicB)
	if len(recs) != len(msgs) {
		t.Fatalf("consumed %d records, want %d", len(recs), len(msgs))
	}
	byValue := make(map[string]connectors.Message, len(msgs))
	for _, m := range msgs {
		byValue[string(m.Value)] = m
	}
	javaPartitioner := kgo.StickyKeyPartitioner(nil)
	partitionOf := make(map[string]int32) // topic+key → partition
	lastSeq := make(map[string]int)       // topic+key → last seq seen, in offset order per partition
	partitions := map[string]int{topicA: 6, topicB: 3}
	for _, r := range recs {
		m, ok := byValue[string(r.Value)]
		if !ok {
			t.Fatalf("unexpected record %s", r.Value)
		}
		delete(byValue, string(r.Value))
		if r.Topic != m.Topic || !bytes.Equal(r.Key, m.Key) || kgoHeaders(r) != headers(m) {
			t.Fatalf("record %s/%s %q headers %q, want %s/%s headers %q", r.Topic, r.Key, r.Value, kgoHeaders(r), m.Topic, m.Key, headers(m))
		}
		n := partitions[r.Topic]
		want := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: m.Key}, seqInts(n)...)
		if int(r.Partition) != want {
			t.Errorf("key %s in partition %d, murmur2 balancer says %d", m.Key, r.Partition, want)
		}
		if java := javaPartitioner.ForTopic(r.Topic).Partition(&kgo.Record{Key: m.Key}, n); int(r.Partition) != java {
			t.Errorf("key %s in partition %d, the Java partitioner says %d", m.Key, r.Partition, java)
		}
		tk := r.Topic + string(r.Key)
		if p, seen := partitionOf[tk]; seen && p != r.Partition {
			t.Errorf("key %s in partitions %d and %d", r.Key, p, r.Partition)
		}
		partitionOf[tk] = r.Partition
	}
	// Order per key: kgo returns each partition in offset order.
	for _, r := range recs {
		var v struct{ Seq int }
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatal(err)
		}
		tk := r.Topic + string(r.Key)
		if v.Seq != lastSeq[tk]+1 {
			t.Fatalf("key %s: seq %d after %d", r.Key, v.Seq, lastSeq[tk])
		}
		lastSeq[tk] = v.Seq
	}

	seenAcks := 0
	acks.Range(func(k, _ any) bool {
		seenAcks++
		if k.(int16) != -1 {
			t.Errorf("produce request with acks=%d, want -1 (all)", k)
		}
		return true
	})
	if seenAcks == 0 {
		t.Fatal("no produce request seen")
	}

	st := s.Stats()
	if st.Messages != int64(len(msgs)) || st.Failed != 0 || st.Writes != 2 || st.Requests == 0 {
		t.Fatalf("stats = %+v", st)
	}
	if st.Topics[topicA].Messages != 300 || st.Topics[topicB].Messages != 300 {
		t.Fatalf("topic stats = %+v", st.Topics)
	}
}

func seqInts(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestWriteDoesNotStall guards against kafka-go's default BatchTimeout (1 s),
// which a synchronous write of a batch spread over partitions would wait
// for. It is a behaviour check, not a performance figure: a stall takes a
// full second, a write without one a few milliseconds.
func TestWriteDoesNotStall(t *testing.T) {
	const topic = "hp.settlement.v1"
	c := broker(t, kfake.SeedTopics(6, topic))
	s := newSink(t, c, nil)
	msgs := personMessages(1000, 400, topic)
	if err := s.Write(context.Background(), msgs); err != nil { // connects
		t.Fatal(err)
	}
	best := time.Hour
	for range 3 {
		start := time.Now()
		if err := s.Write(context.Background(), msgs); err != nil {
			t.Fatal(err)
		}
		best = min(best, time.Since(start))
	}
	if best >= 500*time.Millisecond {
		t.Fatalf("writing 1000 messages took %s: the batch timeout stalls synchronous writes", best)
	}
	t.Logf("1000 messages over 6 partitions: %s", best)
}

func TestWriteUnknownTopicFailsItsMessagesOnly(t *testing.T) {
	const topic, missing = "hp.person.v1", "hp.nope.v1"
	c := broker(t, kfake.SeedTopics(3, topic)) // auto-creation is off by default
	s := newSink(t, c, nil)

	msgs := personMessages(8, 8, topic, missing) // even indexes to topic, odd to missing
	big := connectors.Message{Topic: topic, Key: []byte("k"), Value: make([]byte, 2<<20)}
	msgs = append(msgs, big, connectors.Message{Key: []byte("no topic")})
	err := s.Write(context.Background(), msgs)

	var werr *connectors.WriteError
	if !errors.As(err, &werr) {
		t.Fatalf("err = %v, want a *connectors.WriteError", err)
	}
	if len(werr.Errs) != len(msgs) {
		t.Fatalf("%d errors for %d messages", len(werr.Errs), len(msgs))
	}
	for i, e := range werr.Errs[:8] {
		switch {
		case i%2 == 0 && e != nil:
			t.Errorf("msgs[%d] to %s failed: %v", i, topic, e)
		case i%2 == 1 && !errors.Is(e, kafka.UnknownTopicOrPartition):
			t.Errorf("msgs[%d] to %s: err = %v, want unknown topic", i, missing, e)
		case i%2 == 1 && errors.Is(e, connectors.ErrUnavailable):
			t.Errorf("msgs[%d]: a missing topic is not an outage: %v", i, e)
		}
	}
	if e := werr.Errs[8]; !errors.Is(e, kafka.MessageSizeTooLarge) || errors.Is(e, connectors.ErrUnavailable) {
		t.Errorf("too large message: err = %v", e)
	}
	if e := werr.Errs[9]; e == nil {
		t.Error("message without topic did not fail")
	}
	recs := consume(t, c, 4, topic)
	if len(recs) != 4 {
		t.Fatalf("consumed %d records of %s, want 4", len(recs), topic)
	}
	st := s.Stats()
	if st.Messages != 4 || st.Failed != 6 || st.Topics[missing].Failed != 4 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestWriteBrokerErrorsPerMessage(t *testing.T) {
	const ok, refused, flaky = "hp.person.v1", "hp.audit.v1", "hp.settlement.v1"
	c := broker(t, kfake.SeedTopics(2, ok, refused, flaky))
	c.Fault(
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: refused, Err: kerr.TopicAuthorizationFailed, Count: -1},
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: flaky, Err: kerr.NotEnoughReplicas, Count: -1},
	)
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := kafkasink.New(kafkasink.Config{Brokers: c.ListenAddrs()}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	msgs := personMessages(30, 10, ok, refused, flaky)
	err = s.Write(context.Background(), msgs)
	var werr *connectors.WriteError
	if !errors.As(err, &werr) {
		t.Fatalf("err = %v, want a *connectors.WriteError", err)
	}
	for i, e := range werr.Errs {
		switch msgs[i].Topic {
		case ok:
			if e != nil {
				t.Errorf("msgs[%d]: %v", i, e)
			}
		case refused:
			if !errors.Is(e, kafka.TopicAuthorizationFailed) || errors.Is(e, connectors.ErrUnavailable) {
				t.Errorf("msgs[%d]: err = %v, want authorization failure, not unavailable", i, e)
			}
		case flaky:
			if !errors.Is(e, kafka.NotEnoughReplicas) || !errors.Is(e, connectors.ErrUnavailable) {
				t.Errorf("msgs[%d]: err = %v, want not enough replicas as unavailable", i, e)
			}
		}
	}
	if st := s.Stats(); st.Retries == 0 {
		t.Errorf("no retry of the transient failure: %+v", st)
	}

	// kafka-go's logs reach slog with constant messages: its progress at
	// Debug, its errors at Warn; never a key or a value.
	out := logs.String()
	for _, want := range []string{`"level":"DEBUG","msg":"kafka client"`, `"level":"WARN","msg":"kafka client error"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
	for _, m := range msgs {
		if strings.Contains(out, string(m.Key)) || strings.Contains(out, string(m.Value)) {
			t.Fatalf("logs show a message's key or value:\n%s", out)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for kafka-go's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestWriteBrokerDown(t *testing.T) {
	const topic = "hp.person.v1"
	c := broker(t, kfake.SeedTopics(3, topic))
	const timeout = 2 * time.Second
	s := newSink(t, c, func(cfg *kafkasink.Config) { cfg.WriteTimeout = timeout })
	msgs := personMessages(100, 10, topic)
	if err := s.Write(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}

	c.Close()
	start := time.Now()
	err := s.Write(context.Background(), msgs)
	elapsed := time.Since(start)
	if !errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("err = %v, want one wrapping ErrUnavailable", err)
	}
	if elapsed > timeout+time.Second {
		t.Fatalf("Write took %s with write_timeout %s", elapsed, timeout)
	}
	if st := s.Stats(); st.Messages != 100 || st.Failed != 100 {
		t.Fatalf("stats = %+v", st)
	}
	t.Logf("broker down: %s: %v", elapsed, err)
}

func TestWriteBrokerNeverReachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, err := kafkasink.New(kafkasink.Config{Brokers: []string{addr}, WriteTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	err = s.Write(context.Background(), personMessages(3, 3, "hp.person.v1"))
	if !errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("err = %v, want one wrapping ErrUnavailable", err)
	}
	if st := s.Stats(); st.Failed != 3 || st.Messages != 0 || st.Topics["hp.person.v1"].Failed != 3 {
		t.Fatalf("stats = %+v", st)
	}
	if _, err := s.PartitionCount(context.Background(), "hp.person.v1"); !errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("PartitionCount: err = %v, want one wrapping ErrUnavailable", err)
	}
}

// TestWriteDoesNotRetainMessages stalls the broker past write_timeout, so
// that Write returns while kafka-go still holds the batch, then overwrites
// the caller's buffers: what reaches the broker must be the original.
func TestWriteDoesNotRetainMessages(t *testing.T) {
	const topic = "hp.person.v1"
	c := broker(t, kfake.SeedTopics(1, topic))
	release := make(chan struct{})
	var once sync.Once
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		once.Do(func() { c.SleepControl(func() { <-release }) })
		return nil, nil, false
	})
	s := newSink(t, c, func(cfg *kafkasink.Config) { cfg.WriteTimeout = 300 * time.Millisecond })

	buf := bytes.Repeat([]byte("original"), 64)
	msgs := make([]connectors.Message, 10)
	for i := range msgs {
		msgs[i] = connectors.Message{Topic: topic, Key: buf[:8], Value: buf, Headers: []connectors.Header{{Key: "h", Value: buf[8:16]}}}
	}
	err := s.Write(context.Background(), msgs)
	if !errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("err = %v, want a write_timeout as ErrUnavailable", err)
	}
	copy(buf, bytes.Repeat([]byte("CHANGED!"), 64))
	close(release)

	for _, r := range consume(t, c, len(msgs), topic) {
		if !bytes.HasPrefix(r.Value, []byte("original")) || string(r.Key) != "original" || string(r.Headers[0].Value) != "original" {
			t.Fatalf("record changed after Write returned: key %q value %.16q header %q", r.Key, r.Value, r.Headers[0].Value)
		}
	}
}

func TestWriteCanceledIsNotUnavailable(t *testing.T) {
	const topic = "hp.person.v1"
	c := broker(t, kfake.SeedTopics(1, topic))
	release := make(chan struct{})
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	s := newSink(t, c, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := s.Write(ctx, personMessages(5, 5, topic))
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("err = %v, want the caller's deadline, not ErrUnavailable", err)
	}
}

func TestWriteAfterClose(t *testing.T) {
	c := broker(t, kfake.SeedTopics(1, "t"))
	s := newSink(t, c, nil)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), personMessages(1, 1, "t")); !errors.Is(err, connectors.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

func TestEnsureTopicsAndPartitionCount(t *testing.T) {
	c := broker(t, kfake.SeedTopics(2, "hp.existing.v1"))
	s := newSink(t, c, nil)
	ctx := context.Background()

	topics := []string{"hp.person.v1", "hp.settlement.v1", "hp.existing.v1"}
	if err := s.EnsureTopics(ctx, topics, 5, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureTopics(ctx, topics, 5, 1); err != nil { // idempotent
		t.Fatal(err)
	}
	for topic, want := range map[string]int{"hp.person.v1": 5, "hp.settlement.v1": 5, "hp.existing.v1": 2} {
		n, err := s.PartitionCount(ctx, topic)
		if err != nil || n != want {
			t.Errorf("PartitionCount(%s) = %d, %v; want %d", topic, n, err, want)
		}
	}
	if _, err := s.PartitionCount(ctx, "hp.nope.v1"); !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Errorf("PartitionCount of a missing topic: err = %v", err)
	}
	// Created topics are writable at once.
	if err := s.Write(ctx, personMessages(20, 20, "hp.person.v1")); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureTopics(ctx, []string{"hp.x.v1"}, 1, 3); err == nil {
		t.Error("replication factor 3 on one broker: no error")
	}
	// Zero values are the defaults of CreateTopicsConfig.
	if err := s.EnsureTopics(ctx, []string{"hp.defaults.v1"}, 0, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PartitionCount(ctx, "hp.defaults.v1"); err != nil || n != kafkasink.DefaultTopicPartitions {
		t.Errorf("PartitionCount(hp.defaults.v1) = %d, %v; want %d", n, err, kafkasink.DefaultTopicPartitions)
	}
}

func TestCompression(t *testing.T) {
	// Codec ids of the record batch attributes.
	codecs := map[string]int16{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
	for _, name := range []string{"", "none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run("compression="+name, func(t *testing.T) {
			const topic = "hp.settlement.v1"
			c := broker(t, kfake.SeedTopics(2, topic))
			var seen atomic.Int32
			seen.Store(-1)
			c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				for _, tp := range req.(*kmsg.ProduceRequest).Topics {
					for _, p := range tp.Partitions {
						// attributes: after baseOffset 8, length 4, epoch 4, magic 1, crc 4.
						if len(p.Records) >= 23 {
							seen.Store(int32(binary.BigEndian.Uint16(p.Records[21:23]) & 7))
						}
					}
				}
				return nil, nil, false
			})
			s := newSink(t, c, func(cfg *kafkasink.Config) { cfg.Compression = name })
			msgs := personMessages(200, 50, topic)
			if err := s.Write(context.Background(), msgs); err != nil {
				t.Fatal(err)
			}
			want := name
			if want == "" {
				want = kafkasink.DefaultCompression
			}
			if got := int16(seen.Load()); got != codecs[want] {
				t.Fatalf("record batches use codec %d, want %d (%s)", got, codecs[want], want)
			}
			recs := consume(t, c, len(msgs), topic)
			got := make(map[string]bool, len(recs))
			for _, r := range recs {
				got[string(r.Value)] = true
			}
			for _, m := range msgs {
				if !got[string(m.Value)] {
					t.Fatalf("value %s not read back", m.Value)
				}
			}
		})
	}
}

func TestSASL(t *testing.T) {
	for _, mech := range []string{kafkasink.SASLScramSHA256, kafkasink.SASLScramSHA512, kafkasink.SASLPlain} {
		t.Run(mech, func(t *testing.T) {
			const topic = "hp.person.v1"
			c := broker(t, kfake.EnableSASL(), kfake.Superuser(mech, "hpgate", "pa,ss=word"), kfake.SeedTopics(1, topic))
			t.Setenv("HPGATE_TEST_KAFKA_PASSWORD", "pa,ss=word")
			s := newSink(t, c, func(cfg *kafkasink.Config) {
				cfg.SASL = kafkasink.SASLConfig{Mechanism: mech, Username: "hpgate", PasswordEnv: "HPGATE_TEST_KAFKA_PASSWORD"}
			})
			if err := s.Write(context.Background(), personMessages(10, 10, topic)); err != nil {
				t.Fatal(err)
			}

			// kfake drops the connection on a wrong password; a real broker
			// first answers SASL_AUTHENTICATION_FAILED, as this control does.
			c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
				resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
				resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
				msg := "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mech
				resp.ErrorMessage = &msg
				return resp, nil, true
			})
			t.Setenv("HPGATE_TEST_KAFKA_PASSWORD", "wrong-pw")
			bad := newSink(t, c, func(cfg *kafkasink.Config) {
				cfg.SASL = kafkasink.SASLConfig{Mechanism: mech, Username: "hpgate", PasswordEnv: "HPGATE_TEST_KAFKA_PASSWORD"}
			})
			err := bad.Write(context.Background(), personMessages(1, 1, topic))
			if !errors.Is(err, kafka.SASLAuthenticationFailed) || errors.Is(err, connectors.ErrUnavailable) {
				t.Fatalf("wrong password: err = %v, want SASL authentication failed, not ErrUnavailable", err)
			}
			if strings.Contains(err.Error(), "wrong-pw") {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	caPEM, serverCert := testCA(t, "127.0.0.1")
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	otherCA, _ := testCA(t, "127.0.0.1")
	otherFile := filepath.Join(dir, "other.pem")
	if err := os.WriteFile(otherFile, otherCA, 0o600); err != nil {
		t.Fatal(err)
	}

	const topic = "hp.person.v1"
	c := broker(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}), kfake.SeedTopics(1, topic))
	s := newSink(t, c, func(cfg *kafkasink.Config) {
		cfg.TLS = kafkasink.TLSConfig{Enabled: true, CAFile: caFile}
	})
	if err := s.Write(context.Background(), personMessages(10, 10, topic)); err != nil {
		t.Fatal(err)
	}

	bad := newSink(t, c, func(cfg *kafkasink.Config) {
		cfg.TLS = kafkasink.TLSConfig{Enabled: true, CAFile: otherFile}
	})
	err := bad.Write(context.Background(), personMessages(1, 1, topic))
	if err == nil || errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("untrusted broker certificate: err = %v, want a failure that is not ErrUnavailable", err)
	}
}

// testCA returns a fresh CA's PEM and a server certificate it signed for ip.
func testCA(t *testing.T, ip string) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hpgate test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "broker"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP(ip)},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// BenchmarkWrite writes 5000-message batches of ~600-byte JSON values,
// lz4, acks=all, to an in-process broker over TCP (six partitions). The
// "blackhole" broker acknowledges without storing, which keeps its memory
// out of the figure.
func BenchmarkWrite(b *testing.B) {
	for _, mode := range []string{"stored", "blackhole"} {
		b.Run(mode, func(b *testing.B) {
			const topic, batch = "hp.settlement.v1", 5000
			opts := []kfake.Opt{kfake.SeedTopics(6, topic)}
			if mode == "blackhole" {
				opts = append(opts, kfake.BlackholeProduce())
			}
			c := broker(b, opts...)
			s := newSink(b, c, nil)
			msgs := benchMessages(batch, topic)
			ctx := context.Background()
			if err := s.Write(ctx, msgs); err != nil {
				b.Fatal(err)
			}
			var bytes int64
			for _, m := range msgs {
				bytes += int64(len(m.Key) + len(m.Value))
			}
			b.SetBytes(bytes)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			n := 0
			for b.Loop() {
				if err := s.Write(ctx, msgs); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n*batch)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

func benchMessages(n int, topic string) []connectors.Message {
	msgs := make([]connectors.Message, n)
	for i := range msgs {
		key := fmt.Sprintf("k1:%064x", i*2654435761)
		v := fmt.Appendf(nil, `{"schema":"hp.settlement/v1","id":"insurance:370282:JS2019%08d","op":"upsert","county":"370282",`+
			`"source":{"system":"insurance","connector":"jimo-ins","mapping":"jimo-ins-settlement","position":"2019-03-01T10:00:00|%064x"},`+
			`"occurred_at":"2019-03-01T10:00:00+08:00","ingested_at":"2026-11-01T08:00:00Z","hash":"sha256:%064x",`+
			`"data":{"person_key":%q,"id_masked":"370282********123X","birth_year":1956,"settlement_no":"JS2019%08d",`+
			`"total_fen":%d,"fund_fen":%d,"self_fen":%d,"poverty_flag":true}}`,
			i, i*31, i*17, key, i, 100000+i%9000, 70000+i%7000, 30000+i%3000)
		msgs[i] = connectors.Message{
			Topic: topic, Key: []byte(key), Value: v,
			Headers: []connectors.Header{
				{Key: "schema", Value: []byte("hp.settlement/v1")},
				{Key: "county", Value: []byte("370282")},
				{Key: "source_system", Value: []byte("insurance")},
			},
		}
	}
	return msgs
}

func TestConcurrentWrites(t *testing.T) {
	const topic = "hp.settlement.v1"
	c := broker(t, kfake.SeedTopics(4, topic))
	s := newSink(t, c, nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 5 {
				msgs := personMessages(200, 50, topic)
				for j := range msgs {
					msgs[j].Value = fmt.Appendf(nil, "g%d-i%d-j%d", g, i, j)
				}
				if err := s.Write(context.Background(), msgs); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() { // a scraper reading stats meanwhile
		for range 50 {
			_ = s.Stats()
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	recs := consume(t, c, 4*5*200, topic)
	seen := make(map[string]bool, len(recs))
	for _, r := range recs {
		seen[string(r.Value)] = true
	}
	if len(seen) != 4*5*200 {
		t.Fatalf("%d distinct records, want %d", len(seen), 4*5*200)
	}
	if st := s.Stats(); st.Messages != 4000 || st.Writes != 20 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestEnsureTopicsWithConfigs(t *testing.T) {
	c := broker(t)
	s := newSink(t, c, nil)
	ctx := context.Background()
	configs := func(topic string) map[string]string {
		if topic == "hp.dlq.v1" {
			return map[string]string{"retention.ms": "7776000000"}
		}
		return map[string]string{"retention.ms": "-1"}
	}
	if err := s.EnsureTopicsWithConfigs(ctx, []string{"hp.person.v1", "hp.dlq.v1"}, 3, 1, configs); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rc, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, "hp.person.v1", "hp.dlq.v1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rc {
		for _, cfg := range r.Configs {
			if cfg.Key == "retention.ms" && cfg.Value != nil {
				got[r.Name] = *cfg.Value
			}
		}
	}
	if got["hp.person.v1"] != "-1" || got["hp.dlq.v1"] != "7776000000" {
		t.Errorf("retention.ms by topic: %v", got)
	}
}
