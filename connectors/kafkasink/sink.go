package kafkasink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"

	"github.com/hpgate/hpgate/connectors"
)

// Tuning that is not configuration.
const (
	// flushDelay is the kafka-go BatchTimeout. Write hands kafka-go the
	// whole batch at once and waits for it, so nothing is gained by waiting
	// for more messages: kafka-go's 1 s default would stall every call by a
	// second. The batch of the fullest partition is sent at once (BatchSize
	// is its message count); the others after flushDelay.
	flushDelay = time.Millisecond
	// maxAttempts, backoffMin and backoffMax bound kafka-go's own retries
	// of a produce request (a leader move, a dropped connection). The
	// pipeline backs off and retries whole batches on ErrUnavailable, so a
	// few quick tries here are enough; kafka-go waits attempt² × backoffMin
	// between them (0.1 s, 0.4 s).
	maxAttempts = 3
	backoffMin  = 100 * time.Millisecond
	backoffMax  = time.Second
	// maxDialTimeout caps the time to connect to one broker (TCP, TLS and
	// SASL together).
	maxDialTimeout = 5 * time.Second
	// maxPooledBytes keeps unusually large copy buffers out of the pool.
	maxPooledBytes = 64 << 20
	// maxPooledBufs is how many copy buffers the sink keeps between writes:
	// enough for the writes of several mappings at once.
	maxPooledBufs = 4
)

// errWriteTimeout is the cause of a Write's context when write_timeout runs
// out, to tell it from the caller's own cancellation.
var errWriteTimeout = errors.New("write_timeout")

// Sink writes messages to Kafka with kafka-go: acks=all by default, the
// Java-compatible murmur2 partitioner on the message key (every record of
// one person goes to one partition, in order), one produce request per
// partition and call when the batch fits in batch_bytes.
//
// A Sink is safe for concurrent use. Concurrent Write calls run
// independently; order holds within one call, not between calls. New does
// not connect: the first Write, EnsureTopics or PartitionCount does, and
// connections are kept for reuse until Close.
type Sink struct {
	cfg         Config
	log         *slog.Logger
	addr        net.Addr
	transport   *kafka.Transport
	stop        context.CancelFunc // ends the transport's background goroutines
	compression kafka.Compression
	acks        kafka.RequiredAcks
	kafkaLog    kafka.Logger
	kafkaErrLog kafka.Logger

	mu     sync.Mutex
	closed bool
	// wg counts Write calls in progress and kafka-go writers that finish
	// in the background after a Write gave up waiting for them.
	wg sync.WaitGroup

	// bufs is a free list of copy buffers. A sync.Pool would be emptied by
	// every other garbage collection, and under hpgate's soft memory limit
	// that is every few batches: each Write then allocated (and zeroed) a
	// fresh batch-sized arena (a quarter of all bytes allocated in the
	// settlement bench).
	bufs  chan *writeBuf
	stats collector
}

var compressions = map[string]kafka.Compression{
	"none":   0,
	"gzip":   kafka.Gzip,
	"snappy": kafka.Snappy,
	"lz4":    kafka.Lz4,
	"zstd":   kafka.Zstd,
}

var acks = map[string]kafka.RequiredAcks{
	"all": kafka.RequireAll,
	"one": kafka.RequireOne,
}

// New validates cfg, fills its defaults and resolves its secrets (the SASL
// password from its variable or file, the TLS files). It does not connect.
// A nil log discards. Validation errors are those of Config.Validate.
func New(cfg Config, log *slog.Logger) (*Sink, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	installLZ4()
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Brokers = append([]string(nil), cfg.Brokers...)
	tc, err := tlsConfig(cfg.TLS)
	if err != nil {
		return nil, err
	}
	mech, err := mechanism(cfg.SASL)
	if err != nil {
		return nil, err
	}
	if cfg.SASL.Mechanism == SASLPlain && tc == nil {
		log.Warn("sasl PLAIN without tls sends the password in clear")
	}
	if cfg.TLS.InsecureSkipVerify {
		log.Warn("tls certificate verification is off (tls.insecure_skip_verify)")
	}
	if cfg.RequiredAcks != "all" {
		log.Warn("required_acks is not all: a leader failure can lose acknowledged records")
	}

	dialTimeout := min(maxDialTimeout, cfg.WriteTimeout)
	ctx, stop := context.WithCancel(context.Background())
	s := &Sink{
		cfg:  cfg,
		log:  log,
		addr: kafka.TCP(cfg.Brokers...),
		transport: &kafka.Transport{
			Dial:        (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			DialTimeout: dialTimeout,
			ClientID:    cfg.ClientID,
			TLS:         tc,
			SASL:        mech,
			Context:     ctx,
		},
		stop:        stop,
		compression: compressions[cfg.Compression],
		acks:        acks[cfg.RequiredAcks],
		kafkaLog:    slogBridge(log, slog.LevelDebug, "kafka client"),
		kafkaErrLog: slogBridge(log, slog.LevelWarn, "kafka client error"),
		bufs:        make(chan *writeBuf, maxPooledBufs),
	}
	s.stats.topics = make(map[string]*TopicStats)
	return s, nil
}

// slogBridge adapts kafka-go's Printf-style logger to slog: a constant
// message, kafka-go's text in the "detail" attribute. kafka-go logs topics,
// partitions, counts and errors, never keys or values.
func slogBridge(log *slog.Logger, level slog.Level, msg string) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		ctx := context.Background()
		if !log.Enabled(ctx, level) {
			return
		}
		log.Log(ctx, level, msg, "detail", fmt.Sprintf(format, args...))
	})
}

// enter registers a Write (or admin) call, or reports the Sink closed.
func (s *Sink) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Sink) client() *kafka.Client {
	return &kafka.Client{Addr: s.addr, Transport: s.transport, Timeout: s.cfg.WriteTimeout}
}

// Write sends msgs and returns when every one is acknowledged (by all
// in-sync replicas unless required_acks is one), or with an error:
//
//   - nil: all acknowledged.
//   - *connectors.WriteError: Errs[i] is the error of msgs[i], nil for an
//     acknowledged one. A message of a topic that does not exist, one larger
//     than batch_bytes or one without a topic fails alone; the others are
//     written.
//   - any other error: none is known to be acknowledged (some may still be
//     written: delivery is at least once).
//
// Errors of a transient outage (broker or leader not available, a dropped
// connection, a request timeout, write_timeout running out) wrap
// connectors.ErrUnavailable, per message or for the call. When ctx is done
// first, Write returns its error, not ErrUnavailable.
//
// Each message's Topic must be set; Key selects the partition (murmur2,
// as the Java client); a nil Key goes to a random partition. Order is kept
// per partition within one call.
//
// Write does not retain msgs nor the slices they point to: it copies keys,
// values and headers before handing them to kafka-go. kafka-go itself
// keeps references to the messages of a batch until the batch is done, and
// a batch outlives a Write that returns early (ctx done or write_timeout),
// so without the copy a caller reusing its buffers would corrupt messages
// still being sent.
func (s *Sink) Write(ctx context.Context, msgs []connectors.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if !s.enter() {
		return connectors.ErrClosed
	}
	defer s.wg.Done()
	start := time.Now()
	parent := ctx
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.WriteTimeout, errWriteTimeout)
	defer cancel()

	call := writeCall{msgs: msgs}
	err := s.write(ctx, parent, &call)
	s.stats.addCall(&call, time.Since(start))
	if err != nil {
		return err
	}
	if call.errs != nil {
		return &connectors.WriteError{Errs: call.errs}
	}
	return nil
}

// writeCall is the state of one Write.
type writeCall struct {
	msgs   []connectors.Message
	errs   []error // nil until a message fails
	topics []topicInfo
	byName map[string]int32
	topic  []int32 // topic[i] indexes topics for msgs[i]
}

type topicInfo struct {
	name       string
	partitions int
	err        error              // set when the topic cannot be written
	plist      []int              // 0..partitions-1, the form kafka-go's Balancer takes
	counts     []int              // keyed messages per partition in this call
	unkeyed    int                // messages without a key (random partition)
	meta       *metadata.Response // this topic's metadata, for callTransport
	total      int64              // messages of this topic in the call
	failed     int64              // of which failed
}

func (c *writeCall) fail(i int, err error) {
	if c.errs == nil {
		c.errs = make([]error, len(c.msgs))
	}
	if c.errs[i] == nil {
		c.topics[c.topic[i]].failed++
	}
	c.errs[i] = err
}

func (s *Sink) write(ctx, parent context.Context, c *writeCall) error {
	// Group by topic and check each message on its own.
	c.byName = make(map[string]int32, 4)
	c.topic = make([]int32, len(c.msgs))
	for i := range c.msgs {
		name := c.msgs[i].Topic
		t, ok := c.byName[name]
		if !ok {
			t = int32(len(c.topics))
			c.byName[name] = t
			c.topics = append(c.topics, topicInfo{name: name})
		}
		c.topic[i] = t
		c.topics[t].total++
	}
	for i := range c.msgs {
		m := &c.msgs[i]
		switch {
		case m.Topic == "":
			c.fail(i, errNoTopic)
		case messageSize(m) > s.cfg.BatchBytes:
			c.fail(i, fmt.Errorf("message of %d bytes to %s exceeds batch_bytes %d: %w",
				messageSize(m), m.Topic, s.cfg.BatchBytes, kafka.MessageSizeTooLarge))
		}
	}

	// Partition counts, from the transport's metadata cache. A topic that
	// does not exist fails its messages alone.
	if err := s.lookupTopics(ctx, c); err != nil {
		return s.callError(ctx, parent, c, "fetch metadata", err)
	}
	for i := range c.msgs {
		if t := &c.topics[c.topic[i]]; t.err != nil {
			c.fail(i, t.err)
		}
	}

	buf := s.getBuf()
	batchSize := buf.fill(c)
	if len(buf.msgs) == 0 {
		s.putBuf(buf)
		return nil
	}

	w := &kafka.Writer{
		Addr:            s.addr,
		Transport:       s.callTransport(c),
		Balancer:        &kafka.Murmur2Balancer{},
		MaxAttempts:     maxAttempts,
		WriteBackoffMin: backoffMin,
		WriteBackoffMax: backoffMax,
		BatchSize:       batchSize,
		BatchBytes:      s.cfg.BatchBytes,
		BatchTimeout:    flushDelay,
		ReadTimeout:     s.cfg.WriteTimeout,
		WriteTimeout:    s.cfg.WriteTimeout,
		RequiredAcks:    s.acks,
		Compression:     s.compression,
		Logger:          s.kafkaLog,
		ErrorLogger:     s.kafkaErrLog,
	}
	err := w.WriteMessages(ctx, buf.msgs...)

	var werrs kafka.WriteErrors
	if err == nil || errors.As(err, &werrs) {
		// Every batch is done: the writer's goroutines end at once and no
		// one references buf any more.
		_ = w.Close()
		s.stats.addWriter(w.Stats())
		for j, e := range werrs {
			if e != nil {
				i := int(buf.index[j])
				c.fail(i, s.messageError(c.msgs[i].Topic, e))
			}
		}
		s.putBuf(buf)
		return nil
	}

	// WriteMessages returned early (ctx done, or a failure before any
	// batch was formed). Batches already formed go on in kafka-go's
	// goroutines, bounded by its attempts and write timeouts; they own buf
	// until they are done, so buf is not pooled again.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = w.Close()
		s.stats.addWriter(w.Stats())
	}()
	return s.callError(ctx, parent, c, "produce", err)
}

var errNoTopic = errors.New("message has no topic")

// messageSize bounds from above what kafka-go counts against BatchBytes
// (its Message.totalSize, with each varint counted at its largest), so
// that kafka-go never refuses a whole call for one message.
func messageSize(m *connectors.Message) int64 {
	n := 4 + 1 + 1 + 4 + len(m.Key) + 4 + len(m.Value) + 8 + binary.MaxVarintLen64
	for _, h := range m.Headers {
		n += 2*binary.MaxVarintLen64 + len(h.Key) + len(h.Value)
	}
	return int64(n)
}

// lookupTopics fills the partition count or the error of each topic, with
// one metadata request served from the transport's cache. It also keeps
// each topic's metadata for callTransport.
func (s *Sink) lookupTopics(ctx context.Context, c *writeCall) error {
	names := make([]string, 0, len(c.topics))
	for _, t := range c.topics {
		if t.name != "" {
			names = append(names, t.name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	r, err := s.transport.RoundTrip(ctx, s.addr, &metadata.Request{TopicNames: names})
	if err != nil {
		return err
	}
	res, ok := r.(*metadata.Response)
	if !ok {
		return fmt.Errorf("metadata: unexpected response %T", r)
	}
	for k := range res.Topics {
		mt := &res.Topics[k]
		ti, ok := c.byName[mt.Name]
		if !ok {
			continue
		}
		t := &c.topics[ti]
		switch {
		case mt.ErrorCode == int16(kafka.UnknownTopicOrPartition):
			t.err = fmt.Errorf("topic %s does not exist (create it, or set create_topics): %w", mt.Name, kafka.UnknownTopicOrPartition)
		case mt.ErrorCode != 0:
			t.err = s.messageError(mt.Name, kafka.Error(mt.ErrorCode))
		case len(mt.Partitions) == 0:
			t.err = s.messageError(mt.Name, fmt.Errorf("topic has no partitions: %w", kafka.LeaderNotAvailable))
		default:
			t.meta = &metadata.Response{Topics: res.Topics[k : k+1 : k+1]}
			t.partitions = len(mt.Partitions)
			t.counts = make([]int, t.partitions)
			t.plist = make([]int, t.partitions)
			for p := range t.plist {
				t.plist[p] = p
			}
		}
	}
	for i := range c.topics {
		if t := &c.topics[i]; t.name != "" && t.partitions == 0 && t.err == nil {
			t.err = fmt.Errorf("topic %s missing from the metadata: %w", t.name, kafka.UnknownTopicOrPartition)
		}
	}
	return nil
}

func (s *Sink) callTransport(c *writeCall) *callTransport {
	t := &callTransport{base: s.transport, meta: make(map[string]*metadata.Response, len(c.topics))}
	for i := range c.topics {
		if m := c.topics[i].meta; m != nil {
			t.meta[c.topics[i].name] = m
		}
	}
	return t
}

// callTransport is the transport of one Write's kafka-go Writer. The Writer
// asks for a topic's metadata once per message (a round trip through the
// shared transport's cache, with four allocations each: 18% of a Write's
// CPU); callTransport answers from the metadata fetched once for the call.
// Everything else goes to the shared transport.
//
// It holds its own map, not the writeCall: a Writer can outlive its Write
// call, and must not keep the caller's messages reachable.
type callTransport struct {
	base kafka.RoundTripper
	meta map[string]*metadata.Response // read-only once the Writer runs
}

func (t *callTransport) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	if m, ok := req.(*metadata.Request); ok && len(m.TopicNames) == 1 && !m.AllowAutoTopicCreation {
		if r := t.meta[m.TopicNames[0]]; r != nil {
			return r, nil
		}
	}
	return t.base.RoundTrip(ctx, addr, req)
}

// messageError wraps a per-message error with its topic, and with
// connectors.ErrUnavailable when it is transient.
func (s *Sink) messageError(topic string, err error) error {
	if transient(err) {
		return fmt.Errorf("produce to %s: %w: %w", topic, connectors.ErrUnavailable, err)
	}
	return fmt.Errorf("produce to %s: %w", topic, err)
}

// callError is the error of a Write that failed as a whole: every message
// not failed yet fails with it. It is returned as a plain error when no
// message had its own error, else within a *connectors.WriteError.
func (s *Sink) callError(ctx, parent context.Context, c *writeCall, what string, err error) error {
	switch {
	case parent.Err() != nil:
		// The caller gave up (shutdown, drain deadline): not an outage.
		err = fmt.Errorf("write %d messages: %s: %w", len(c.msgs), what, context.Cause(parent))
	case errors.Is(context.Cause(ctx), errWriteTimeout):
		err = fmt.Errorf("write %d messages: %s: %w: no acknowledgement within write_timeout %s",
			len(c.msgs), what, connectors.ErrUnavailable, s.cfg.WriteTimeout)
	case transient(err):
		err = fmt.Errorf("write %d messages: %s: %w: %w", len(c.msgs), what, connectors.ErrUnavailable, err)
	default:
		err = fmt.Errorf("write %d messages: %s: %w", len(c.msgs), what, err)
	}
	own := c.errs != nil
	for i := range c.msgs {
		if c.errs == nil || c.errs[i] == nil {
			c.fail(i, err) // counted as failed in the stats
		}
	}
	if !own {
		return err
	}
	return &connectors.WriteError{Errs: c.errs}
}

// Close waits for Write calls in progress, and for produce requests that a
// Write stopped waiting for, then closes the connections. It gives up
// waiting when ctx is done and returns ctx's error; the connections are
// closed all the same. Write after Close returns connectors.ErrClosed.
// Close is idempotent.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("close kafka sink: %w", ctx.Err())
	}
	s.stop()
	s.transport.CloseIdleConnections()
	return err
}

// writeBuf holds one call's copy of the messages, in kafka-go's form.
type writeBuf struct {
	msgs    []kafka.Message
	index   []int32 // msgs[j] is the caller's msgs[index[j]]
	headers []kafka.Header
	arena   []byte
}

func (s *Sink) getBuf() *writeBuf {
	select {
	case b := <-s.bufs:
		return b
	default:
		return new(writeBuf)
	}
}

func (s *Sink) putBuf(b *writeBuf) {
	if cap(b.arena) > maxPooledBytes {
		return
	}
	clear(b.msgs) // drop references into the arena's past content
	b.msgs, b.index, b.headers, b.arena = b.msgs[:0], b.index[:0], b.headers[:0], b.arena[:0]
	select {
	case s.bufs <- b:
	default: // more concurrent writes than kept buffers: let it go
	}
}

// fill copies the writable messages of c into b and counts them per
// partition, with the partitioner kafka-go will use. It returns the largest
// count of one partition: as kafka-go's BatchSize, the fullest partition's
// batch is sent as soon as it is formed, no partition's batch is split by
// count, and kafka-go's per-batch preallocation (BatchSize messages) stays
// near the call's size.
func (b *writeBuf) fill(c *writeCall) int {
	var nbytes, nheaders int
	for i := range c.msgs {
		if c.errs != nil && c.errs[i] != nil {
			continue
		}
		m := &c.msgs[i]
		nbytes += len(m.Key) + len(m.Value)
		for _, h := range m.Headers {
			nbytes += len(h.Value)
		}
		nheaders += len(m.Headers)
	}
	if cap(b.arena) < nbytes {
		b.arena = make([]byte, 0, nbytes)
	}
	if cap(b.headers) < nheaders {
		b.headers = make([]kafka.Header, 0, nheaders)
	}
	if cap(b.msgs) < len(c.msgs) {
		b.msgs = make([]kafka.Message, 0, len(c.msgs))
		b.index = make([]int32, 0, len(c.msgs))
	}

	balancer := kafka.Murmur2Balancer{}
	// Messages of one mapping share one header slice: copy it once per
	// call and let them share the copy (kafka-go only reads headers).
	var lastSrc *connectors.Header
	var lastLen int
	var lastCopy []kafka.Header
	for i := range c.msgs {
		if c.errs != nil && c.errs[i] != nil {
			continue
		}
		m := &c.msgs[i]
		km := kafka.Message{Topic: m.Topic, Key: b.copy(m.Key), Value: b.copy(m.Value)}
		if len(m.Headers) > 0 {
			if &m.Headers[0] != lastSrc || len(m.Headers) != lastLen {
				h0 := len(b.headers)
				for _, h := range m.Headers {
					b.headers = append(b.headers, kafka.Header{Key: h.Key, Value: b.copy(h.Value)})
				}
				lastSrc, lastLen, lastCopy = &m.Headers[0], len(m.Headers), b.headers[h0:len(b.headers):len(b.headers)]
			}
			km.Headers = lastCopy
		}
		t := &c.topics[c.topic[i]]
		if km.Key != nil {
			t.counts[balancer.Balance(km, t.plist...)]++
		} else {
			t.unkeyed++
		}
		b.msgs = append(b.msgs, km)
		b.index = append(b.index, int32(i))
	}
	// Unkeyed messages land anywhere: count them all in, an upper bound.
	largest := 1
	for _, t := range c.topics {
		for _, n := range t.counts {
			largest = max(largest, n+t.unkeyed)
		}
	}
	return largest
}

// copy appends p to the arena and returns the copy; nil stays nil (a nil
// key and an empty one partition differently).
func (b *writeBuf) copy(p []byte) []byte {
	if p == nil {
		return nil
	}
	n := len(b.arena)
	b.arena = append(b.arena, p...)
	return b.arena[n:len(b.arena):len(b.arena)]
}
