package kafkaclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// ProducerConfig tunes the synchronous producer.
type ProducerConfig struct {
	// RequiredAcks is "all" (default: a record is acknowledged only when every
	// in-sync replica has it), "one" or "none".
	RequiredAcks string `yaml:"required_acks"`
	// Compression is none, gzip, snappy, lz4 (default) or zstd.
	Compression string `yaml:"compression"`
	// BatchSize is the most records of one partition in one produce
	// request; a Send with more sends further requests. Default 10000 (what
	// librdkafka calls batch.num.messages): BatchBytes bounds first.
	BatchSize int `yaml:"batch_size"`
	// BatchBytes is the most bytes of one partition in one produce request,
	// and so the largest record accepted. Default 1 MiB (the broker's
	// default message.max.bytes is about the same).
	BatchBytes int64 `yaml:"batch_bytes"`
	// WriteTimeout bounds one produce request. Default 10s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxAttempts is how often a Send tries the records that failed with
	// a temporary error (a moved leader, a broken connection, a timeout)
	// before the error reaches the caller. Default 3.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxInFlight bounds concurrent Send calls (bounded memory under
	// concurrent Fluent Bit workers or HTTP requests). Default 8.
	MaxInFlight int `yaml:"max_in_flight"`
}

// DefaultProducerConfig returns the defaults documented on each field.
func DefaultProducerConfig() ProducerConfig {
	return ProducerConfig{RequiredAcks: "all", Compression: "lz4", BatchSize: 10000,
		BatchBytes: 1 << 20, WriteTimeout: 10 * time.Second, MaxAttempts: 3, MaxInFlight: 8}
}

// RegisterFlags binds p to flags named prefix+"topic"… (prefix usually "kafka.").
func (p *ProducerConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&p.RequiredAcks, prefix+"required-acks", p.RequiredAcks, "acks a produce waits for: all, one or none")
	fs.StringVar(&p.Compression, prefix+"compression", p.Compression, "compression codec: none, gzip, snappy, lz4 or zstd")
	fs.IntVar(&p.BatchSize, prefix+"batch-size", p.BatchSize, "most records of one partition per produce request")
	fs.Int64Var(&p.BatchBytes, prefix+"batch-bytes", p.BatchBytes, "most bytes of one partition per produce request (also the largest record)")
	fs.DurationVar(&p.WriteTimeout, prefix+"write-timeout", p.WriteTimeout, "timeout of one produce request")
	fs.IntVar(&p.MaxAttempts, prefix+"max-attempts", p.MaxAttempts, "attempts per produce request before the error is returned")
	fs.IntVar(&p.MaxInFlight, prefix+"max-in-flight", p.MaxInFlight, "most concurrent produce calls")
}

// Validate reports every problem at once.
func (p ProducerConfig) Validate() error {
	var errs []error
	if _, err := parseAcks(p.RequiredAcks); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseCompression(p.Compression); err != nil {
		errs = append(errs, err)
	}
	if p.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("kafka.batch-size: %d, want >= 1", p.BatchSize))
	}
	if p.BatchBytes < 1024 {
		errs = append(errs, fmt.Errorf("kafka.batch-bytes: %d, want >= 1024", p.BatchBytes))
	}
	if p.WriteTimeout <= 0 {
		errs = append(errs, errors.New("kafka.write-timeout: must be positive"))
	}
	if p.MaxAttempts < 1 {
		errs = append(errs, errors.New("kafka.max-attempts: want >= 1"))
	}
	if p.MaxInFlight < 1 {
		errs = append(errs, errors.New("kafka.max-in-flight: want >= 1"))
	}
	return errors.Join(errs...)
}

func parseAcks(s string) (kafka.RequiredAcks, error) {
	switch strings.ToLower(s) {
	case "all", "-1":
		return kafka.RequireAll, nil
	case "one", "1":
		return kafka.RequireOne, nil
	case "none", "0":
		return kafka.RequireNone, nil
	}
	return 0, fmt.Errorf("kafka.required-acks: %q is not all, one or none", s)
}

func parseCompression(s string) (compress.Compression, error) {
	switch strings.ToLower(s) {
	case "", "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("kafka.compression: %q is not none, gzip, snappy, lz4 or zstd", s)
}

// Produce error reasons, a closed set (metric label values).
var ProduceErrorReasons = []string{"timeout", "unreachable", "too_large", "rejected", "auth", "canceled", "other"}

// Classify maps a produce error to a reason and whether retrying the same
// records later can succeed. Unknown errors count as retryable: retrying a
// record that cannot succeed costs time, dropping one that could loses data.
//
// "auth" is a refused connection, not a refused record: a wrong SASL
// password or mechanism, a missing cluster/group permission, a broker
// certificate that does not verify. kafka-go does not retry these within a
// Send (they are not temporary), so a wrong password costs one handshake
// per Send; they stay retryable because the records are fine and succeed
// once the credentials are fixed, while dead-lettering them would fail the
// same way and drop them.
func Classify(err error) (reason string, retryable bool) {
	var msgTooLarge kafka.MessageTooLargeError
	var kerr kafka.Error
	var nerr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var badCert x509.CertificateInvalidError
	switch {
	case err == nil:
		return "", false
	case errors.Is(err, context.Canceled):
		return "canceled", true
	case errors.As(err, &msgTooLarge), errors.Is(err, kafka.MessageSizeTooLarge):
		return "too_large", false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, kafka.RequestTimedOut):
		return "timeout", true
	case errors.Is(err, kafka.SASLAuthenticationFailed), errors.Is(err, kafka.UnsupportedSASLMechanism),
		errors.Is(err, kafka.IllegalSASLState), errors.Is(err, kafka.ClusterAuthorizationFailed),
		errors.Is(err, kafka.GroupAuthorizationFailed), errors.Is(err, kafka.TransactionalIDAuthorizationFailed),
		errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &badHost), errors.As(err, &badCert):
		return "auth", true
	case errors.As(err, &kerr):
		if kerr.Temporary() {
			return "rejected", true
		}
		switch kerr {
		case kafka.InvalidRecord, kafka.InvalidMessage, kafka.InvalidTopic, kafka.RecordListTooLarge, kafka.TopicAuthorizationFailed:
			return "rejected", false
		}
		return "rejected", true
	case errors.As(err, &nerr) && nerr.Timeout():
		return "timeout", true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.As(err, &nerr):
		return "unreachable", true
	}
	return "other", true
}

// ProducerMetrics are the produce counters of one component, named
// agentobs_<component>_….
type ProducerMetrics struct {
	Records *prometheus.CounterVec // outcome=ok|error; user records and dead letters only
	// Control counts marks and canaries (HeaderControl), kind × outcome.
	Control  *prometheus.CounterVec
	Bytes    prometheus.Counter
	Errors   *prometheus.CounterVec // reason
	Duration prometheus.Histogram
	Batch    prometheus.Histogram
	InFlight prometheus.Gauge
	// Requests counts produce requests sent (one per partition leader per
	// Send, more when a Send exceeds a request's batch bounds, plus retries):
	// records_produced_total ÷ requests is the batching the broker sees.
	Requests prometheus.Counter
	// Splits counts record batches Kafka refused as too large (over the
	// topic's max.message.bytes) and that were sent again in halves.
	Splits prometheus.Counter
}

// NewProducerMetrics registers the produce metrics for component (collector,
// shipper, indexer) with every label value pre-created at 0.
func NewProducerMetrics(reg prometheus.Registerer, component string) *ProducerMetrics {
	ns := "agentobs_" + component
	m := &ProducerMetrics{
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_records_produced_total",
			Help: "Records whose produce finished, by outcome (ok = acknowledged by Kafka); high-water marks and canaries are counted in control_records_produced_total."}, []string{"outcome"}),
		Control: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_control_records_produced_total",
			Help: "The front door's own messages (kind: mark = high-water mark, canary = end-to-end canary) whose produce finished, by outcome."}, []string{"kind", "outcome"}),
		Bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "_produced_bytes_total",
			Help: "Bytes of record values acknowledged by Kafka."}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_produce_errors_total",
			Help: "Failed produce calls by reason."}, []string{"reason"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "_produce_duration_seconds",
			Help: "Time from a produce call to Kafka's acknowledgement of all its records.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}),
		Batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "_produce_batch_records",
			Help: "Records per produce call.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "_produce_in_flight",
			Help: "Produce calls waiting for Kafka."}),
		Requests: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "_produce_requests_total",
			Help: "Produce requests sent to Kafka brokers (one per partition leader per produce call, more for large calls and retries)."}),
		Splits: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "_produce_batch_splits_total",
			Help: "Record batches Kafka refused as larger than the topic's max.message.bytes, sent again in halves (a lone record that is too large is refused instead)."}),
	}
	for _, o := range []string{"ok", "error"} {
		m.Records.WithLabelValues(o)
		for _, k := range ControlKinds {
			m.Control.WithLabelValues(k, o)
		}
	}
	for _, r := range ProduceErrorReasons {
		m.Errors.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Records, m.Control, m.Bytes, m.Errors, m.Duration, m.Batch, m.InFlight, m.Requests, m.Splits)
	}
	return m
}

// Producer is a synchronous producer: Send returns only when Kafka has
// acknowledged every message, or with the error that stopped it. It is safe
// for concurrent use. Each Send is sent on its own (produce.go): one
// request per partition leader with every partition's records, retried
// inside the Send up to MaxAttempts.
type Producer struct {
	tr    *kafka.Transport
	meta  *kafka.Client         // the brokers' address and cluster metadata, from tr's cache
	bal   kafka.Murmur2Balancer // Java-compatible key hashing: one trace, one partition
	acks  kafka.RequiredAcks
	codec compress.Compression
	cfg   ProducerConfig
	m     *ProducerMetrics
	sem   chan struct{}
}

// NewProducer builds the producer; no connection is made until Send.
func NewProducer(conn Config, cfg ProducerConfig, m *ProducerMetrics) (*Producer, error) {
	if err := errors.Join(conn.Validate(), cfg.Validate()); err != nil {
		return nil, err
	}
	tr, err := conn.Transport()
	if err != nil {
		return nil, err
	}
	acks, _ := parseAcks(cfg.RequiredAcks)
	codec, _ := parseCompression(cfg.Compression)
	if m == nil {
		m = NewProducerMetrics(nil, "unregistered")
	}
	return &Producer{tr: tr, acks: acks, codec: codec, cfg: cfg, m: m,
		meta: &kafka.Client{Addr: kafka.TCP(conn.Brokers...), Transport: tr, Timeout: cfg.WriteTimeout},
		sem:  make(chan struct{}, cfg.MaxInFlight)}, nil
}

// MaxRecordBytes is the largest value that fits in a produce request.
func (p *Producer) MaxRecordBytes() int64 { return p.cfg.BatchBytes }

// write produces msgs, retrying what may succeed, and returns nil, a
// kafka.WriteErrors aligned with msgs, or the error that stopped every
// message (no metadata for a topic, the context ended).
func (p *Producer) write(ctx context.Context, msgs []kafka.Message) error {
	s := writes.Get().(*writeScratch)
	defer s.release()
	errs, part, sizes := s.perMessage(len(msgs))
	var topics []string
	for i := range msgs {
		if sizes[i] = size(&msgs[i]); sizes[i] > p.cfg.BatchBytes {
			errs[i] = kafka.MessageSizeTooLarge
			continue
		}
		if t := msgs[i].Topic; !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	for _, topic := range topics {
		// The topic's messages in their order (a Send has one topic or two:
		// a scan per topic instead of a list per topic).
		pending := s.idx[:0]
		for i := range msgs {
			if msgs[i].Topic == topic && errs[i] == nil {
				pending = append(pending, int32(i))
			}
		}
		s.idx = pending
		assigned := false
		for attempt := 0; attempt < p.cfg.MaxAttempts && len(pending) > 0; attempt++ {
			if attempt > 0 {
				select {
				case <-time.After(min(time.Duration(attempt*attempt)*100*time.Millisecond, time.Second)):
				case <-ctx.Done():
					return fmt.Errorf("produce to %s: %w", topic, ctx.Err())
				}
			}
			leaders, err := p.leaders(ctx, topic)
			if err != nil {
				for _, i := range pending {
					errs[i] = err
				}
				if !retryable(err) {
					break
				}
				continue
			}
			if !assigned {
				ps := make([]int, len(leaders)) // the balancer takes the partitions as a list
				for i := range ps {
					ps[i] = i
				}
				for _, i := range pending {
					part[i] = int32(p.bal.Balance(msgs[i], ps...))
				}
				assigned = true
			}
			pending = p.produceOnce(ctx, topic, msgs, sizes, part, leaders, pending, errs, s)
			if ctx.Err() != nil {
				return fmt.Errorf("produce to %s: %w", topic, ctx.Err())
			}
		}
	}
	for _, e := range errs {
		if e != nil {
			return kafka.WriteErrors(slices.Clone(errs)) // errs goes back to the pool
		}
	}
	return nil
}

// writeScratch is the memory of one write, kept in a pool between writes:
// per message its error, partition and size, and its indexes by topic and
// by partition. Each write made them anew: a fifth of the plugin's
// allocated bytes, and garbage the collector's heap goal had to leave room
// for.
type writeScratch struct {
	errs   []error
	part   []int32
	sizes  []int64
	idx    []int32 // one topic's messages
	byPart []int32 // one attempt's, by partition (produceOnce)
	first  []int32 // where each partition's run in byPart starts
}

var writes = sync.Pool{New: func() any { return new(writeScratch) }}

// perMessage returns the per-message slices for n messages, zeroed.
func (s *writeScratch) perMessage(n int) (errs []error, part []int32, sizes []int64) {
	s.errs = grow(s.errs, n)
	s.part = grow(s.part, n)
	s.sizes = grow(s.sizes, n)
	return s.errs, s.part, s.sizes
}

// release clears the errors (they would keep their causes alive) and puts
// s back in the pool.
func (s *writeScratch) release() {
	clear(s.errs)
	writes.Put(s)
}

// grow returns s with length n, zeroed, reusing its memory when it has room.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// Send produces msgs (each with its Topic set: the caller, usually
// publish, chooses it; a message without one is a permanent error) and
// waits for the acknowledgements. On a partial failure the error is a
// kafka.WriteErrors aligned with msgs, so callers can retry or dead-letter
// exactly the failed ones.
func (p *Producer) Send(ctx context.Context, msgs []kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	for i := range msgs {
		if msgs[i].Topic == "" {
			p.m.Errors.WithLabelValues("rejected").Inc()
			return fmt.Errorf("produce: message %d of %d has no topic: %w", i, len(msgs), kafka.InvalidTopic)
		}
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("produce: waiting for an in-flight slot: %w", ctx.Err())
	}
	defer func() { <-p.sem }()
	p.m.InFlight.Inc()
	defer p.m.InFlight.Dec()
	start := time.Now()
	err := p.write(ctx, msgs)
	p.m.Duration.Observe(time.Since(start).Seconds())
	p.m.Batch.Observe(float64(len(msgs)))
	var werrs kafka.WriteErrors
	partial := errors.As(err, &werrs) && len(werrs) == len(msgs)
	if err != nil && !partial {
		reason, _ := Classify(err)
		p.m.Errors.WithLabelValues(reason).Inc()
	}
	var ok, failed, okBytes int
	for i := range msgs {
		var e error
		switch {
		case partial:
			e = werrs[i]
			if e != nil {
				reason, _ := Classify(e)
				p.m.Errors.WithLabelValues(reason).Inc()
			}
		case err != nil:
			e = err
		}
		outcome := "ok"
		if e != nil {
			outcome = "error"
		}
		if kind := Header(msgs[i], HeaderControl); kind == ControlMark || kind == ControlCanary {
			p.m.Control.WithLabelValues(kind, outcome).Inc()
			continue
		}
		if e != nil {
			failed++
			continue
		}
		ok++
		okBytes += len(msgs[i].Value)
	}
	p.m.Records.WithLabelValues("ok").Add(float64(ok))
	p.m.Records.WithLabelValues("error").Add(float64(failed))
	p.m.Bytes.Add(float64(okBytes))
	if err != nil {
		if errors.As(err, &werrs) {
			return newSendError(len(msgs), werrs)
		}
		return fmt.Errorf("produce %d records: %w", len(msgs), err)
	}
	return nil
}

// Close closes the producer's idle connections. Every Send has returned
// by then (Sends are synchronous: nothing is buffered here).
func (p *Producer) Close() error {
	p.tr.CloseIdleConnections()
	return nil
}

// SendError is a partial or total failure of one Send. Its message names
// the count and the first cause only: kafka.WriteErrors prints every
// message's error, which turned one failed batch into a log line of
// hundreds of kilobytes. errors.As still finds the kafka.WriteErrors
// (aligned with the messages) and errors.Is the first cause.
type SendError struct {
	Records, Failed int
	First           error
	Errs            kafka.WriteErrors
}

func newSendError(n int, werrs kafka.WriteErrors) *SendError {
	e := &SendError{Records: n, Errs: werrs}
	for _, x := range werrs {
		if x != nil {
			e.Failed++
			if e.First == nil {
				e.First = x
			}
		}
	}
	return e
}

func (e *SendError) Error() string {
	return fmt.Sprintf("produce %d records: %d failed, first: %v", e.Records, e.Failed, e.First)
}

// Unwrap exposes the per-message errors and the first cause.
func (e *SendError) Unwrap() []error { return []error{e.Errs, e.First} }
