package kafkaclient_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

// Records produced with the shared producer to the real broker come back
// through a consumer group with their key, headers and value intact, all
// records of one trace in one partition and in order.
func TestProduceConsumeGroup(t *testing.T) {
	conn := harness.RequireKafka(t)
	topic := harness.Topic(t, 3)
	p, m := newProducer(t, conn, nil)

	const traces, perTrace = 20, 10
	var msgs []kafka.Message
	want := map[string]record.Record{}
	for tr := 0; tr < traces; tr++ {
		for i := 0; i < perTrace; i++ {
			r := record.Record{
				Timestamp: time.Date(2026, 11, 26, 10, 0, 0, tr*1000+i, time.UTC),
				Message:   fmt.Sprintf("step %d", i), Level: record.LevelInfo, Service: "agent-a",
				TraceID: fmt.Sprintf("%032x", tr+1), SpanID: fmt.Sprintf("%016x", i+1),
			}
			r.EventID = publish.EventID("itest", uint64(tr*perTrace+i), nil)
			want[r.EventID] = r
			msgs = append(msgs, publish.RecordMessage(topic, &r, r.AppendJSON(nil)))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A new topic's partitions may answer "not leader" for a moment (a
	// retry, a second request): warm each up until one request takes them.
	warm := warmUp(t, ctx, p, m, topic, 3)
	before := testutil.ToFloat64(m.Requests)
	if err := p.Send(ctx, msgs); err != nil {
		t.Fatalf("send: %v", err)
	}
	if got := testutil.ToFloat64(m.Records.WithLabelValues("ok")) - warm; got != traces*perTrace {
		t.Fatalf("records ok metric = %v, want %d", got, traces*perTrace)
	}
	// One broker leads all three partitions: one request carries them all
	// (kafka-go's Writer sent one per partition, and the broker's CPU
	// follows the requests).
	if got := testutil.ToFloat64(m.Requests) - before; got != 1 {
		t.Fatalf("produce requests = %v for one Send of %d records to one leader, want 1", got, len(msgs))
	}

	d, _ := conn.Dialer()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: conn.Brokers, GroupID: harness.Name(t, "g"), Topic: topic,
		Dialer: d, StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	seen := map[string]int{}
	lastSpan := map[string]string{}
	partOf := map[string]int{}
	for len(seen) < len(want) {
		msg, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetch after %d records: %v", len(seen), err)
		}
		if err := r.CommitMessages(ctx, msg); err != nil {
			t.Fatalf("commit: %v", err)
		}
		if string(msg.Value) == "warm-up" {
			continue
		}
		meta, err := record.Peek(msg.Value)
		if err != nil {
			t.Fatalf("peek %s: %v", msg.Value, err)
		}
		w, ok := want[meta.EventID]
		if !ok {
			t.Fatalf("unexpected record %s", msg.Value)
		}
		seen[meta.EventID]++
		if string(msg.Key) != w.TraceID || kafkaclient.Header(msg, publish.HeaderTraceID) != w.TraceID ||
			kafkaclient.Header(msg, publish.HeaderEventID) != w.EventID || kafkaclient.Header(msg, publish.HeaderSchema) != record.SchemaVersion {
			t.Fatalf("key/headers wrong: key=%s headers=%v want trace %s event %s", msg.Key, msg.Headers, w.TraceID, w.EventID)
		}
		if p, ok := partOf[w.TraceID]; ok && p != msg.Partition {
			t.Fatalf("trace %s split over partitions %d and %d", w.TraceID, p, msg.Partition)
		}
		partOf[w.TraceID] = msg.Partition
		if prev := lastSpan[w.TraceID]; prev != "" && prev > w.SpanID {
			t.Fatalf("trace %s out of order: span %s after %s", w.TraceID, w.SpanID, prev)
		}
		lastSpan[w.TraceID] = w.SpanID
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("record %s seen %d times", id, n)
		}
	}
	t.Logf("produced and consumed %d records over %d traces through a consumer group", len(seen), traces)
}

// A record larger than a produce request can hold is a permanent error,
// classified as such, never retried forever.
func TestProduceTooLargeIsPermanent(t *testing.T) {
	conn := harness.RequireKafka(t)
	p, _ := newProducer(t, conn, func(pc *kafkaclient.ProducerConfig) { pc.BatchBytes = 4096 })
	err := p.Send(context.Background(), []kafka.Message{{Topic: harness.Topic(t, 1), Value: make([]byte, 8192)}})
	if reason, retry := kafkaclient.Classify(err); reason != "too_large" || retry {
		t.Fatalf("Classify(%v) = %s, %v; want too_large, permanent", err, reason, retry)
	}
}

// An unreachable broker is a retryable error within the write timeout.
func TestProduceUnreachableIsRetryable(t *testing.T) {
	conn := kafkaclient.DefaultConfig()
	conn.Brokers = []string{"127.0.0.1:1"}
	conn.DialTimeout = time.Second
	p, _ := newProducer(t, conn, func(pc *kafkaclient.ProducerConfig) { pc.WriteTimeout, pc.MaxAttempts = 2*time.Second, 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.Send(ctx, []kafka.Message{{Topic: "agentobs-logs", Value: []byte("{}")}})
	if _, retry := kafkaclient.Classify(err); err == nil || !retry {
		t.Fatalf("Send to a closed port: err=%v retryable=%v, want a retryable error", err, retry)
	}
	// A message without a topic is the caller's bug: refused before any
	// I/O, permanently (publish always sets the topic).
	err = p.Send(ctx, []kafka.Message{{Value: []byte("{}")}})
	if reason, retry := kafkaclient.Classify(err); reason != "rejected" || retry {
		t.Fatalf("Send without a topic: err=%v reason=%s retryable=%v, want rejected, permanent", err, reason, retry)
	}
}

// newProducer is the default producer with tune applied, its metrics
// registered on a registry of its own, closed when the test ends.
func newProducer(t *testing.T, conn kafkaclient.Config, tune func(*kafkaclient.ProducerConfig)) (*kafkaclient.Producer, *kafkaclient.ProducerMetrics) {
	t.Helper()
	pc := kafkaclient.DefaultProducerConfig()
	if tune != nil {
		tune(&pc)
	}
	m := kafkaclient.NewProducerMetrics(prometheus.NewRegistry(), "itest")
	p, err := kafkaclient.NewProducer(conn, pc, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, m
}

// warmUp sends one record to each of topic's partitions until a Send of
// them takes one request, and returns how many records it sent.
func warmUp(t *testing.T, ctx context.Context, p *kafkaclient.Producer, m *kafkaclient.ProducerMetrics, topic string, partitions int) float64 {
	t.Helper()
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	var msgs []kafka.Message
	for k, have := 0, map[int]bool{}; len(have) < partitions; k++ {
		m := kafka.Message{Topic: topic, Key: []byte(fmt.Sprintf("warm-%d", k)), Value: []byte("warm-up")}
		if pt := (&kafka.Murmur2Balancer{}).Balance(m, ps...); !have[pt] {
			have[pt] = true
			msgs = append(msgs, m)
		}
	}
	for i := range 20 {
		before := testutil.ToFloat64(m.Requests)
		if err := p.Send(ctx, msgs); err != nil {
			t.Fatalf("warm-up send: %v", err)
		}
		if testutil.ToFloat64(m.Requests)-before == 1 {
			return float64((i + 1) * len(msgs))
		}
	}
	t.Fatalf("20 warm-up Sends to %s never took a single request", topic)
	return 0
}

// readAll reads n records back from topic through a consumer group.
func readAll(t *testing.T, conn kafkaclient.Config, topic string, n int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, _ := conn.Dialer()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: conn.Brokers, GroupID: harness.Name(t, topic), Topic: topic,
		Dialer: d, StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	var got []kafka.Message
	for len(got) < n {
		msg, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetch after %d of %d records of %s: %v", len(got), n, topic, err)
		}
		got = append(got, msg)
	}
	return got
}

// A Send larger than one request may carry (more than BatchSize records or
// BatchBytes bytes of one partition) goes out as several requests per
// partition leader: every record arrives once, each key in the partition
// Java's murmur2 gives it, each key's records in order; a Send may mix
// topics.
func TestProduceSplitsRequestsAndKeepsOrder(t *testing.T) {
	conn := harness.RequireKafka(t)
	topic, other := harness.Topic(t, 3), harness.Topic(t, 2)
	p, m := newProducer(t, conn, func(pc *kafkaclient.ProducerConfig) { pc.BatchSize, pc.BatchBytes = 7, 4096 })
	const keys, perKey = 12, 25
	var msgs []kafka.Message
	for i := range perKey {
		for k := range keys {
			msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(fmt.Sprintf("key-%02d", k)),
				Value: []byte(fmt.Sprintf("%s-%03d-%0200d", "rec", i, k))})
		}
	}
	msgs = append(msgs, kafka.Message{Topic: other, Value: []byte("to the other topic")})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.Send(ctx, msgs); err != nil {
		t.Fatalf("send: %v", err)
	}
	// 300 records of 3 partitions, 7 a request: at least 100/7 requests for
	// the fullest partition, plus the other topic's.
	if got := testutil.ToFloat64(m.Requests); got < 15 || got > 45 {
		t.Fatalf("produce requests = %v, want 15-45 for 300 records at 7 per partition and request", got)
	}
	got := readAll(t, conn, topic, keys*perKey)
	last := map[string]string{}
	seen := map[string]bool{}
	ps := []int{0, 1, 2}
	for _, m := range got {
		k, v := string(m.Key), string(m.Value)
		if seen[v] {
			t.Fatalf("record %s twice", v)
		}
		seen[v] = true
		if want := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: m.Key}, ps...); m.Partition != want {
			t.Fatalf("key %s in partition %d, murmur2 gives %d", k, m.Partition, want)
		}
		if v <= last[k] {
			t.Fatalf("key %s out of order: %s after %s", k, v, last[k])
		}
		last[k] = v
	}
	if o := readAll(t, conn, other, 1); string(o[0].Value) != "to the other topic" {
		t.Fatalf("other topic holds %q", o[0].Value)
	}
}

// A record over BatchBytes fails alone (too_large, permanent); the records
// beside it in the same Send are produced.
func TestProduceTooLargeFailsOnlyItself(t *testing.T) {
	conn := harness.RequireKafka(t)
	topic := harness.Topic(t, 2)
	p, _ := newProducer(t, conn, func(pc *kafkaclient.ProducerConfig) { pc.BatchBytes = 4096 })
	msgs := []kafka.Message{{Topic: topic, Value: []byte("first")}, {Topic: topic, Value: make([]byte, 8192)}, {Topic: topic, Value: []byte("third")}}
	err := p.Send(context.Background(), msgs)
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != 3 || werrs[0] != nil || werrs[2] != nil {
		t.Fatalf("Send = %v, want a failure of the second record only", err)
	}
	// The errors are the caller's: a later Send (whose memory comes from
	// the same pool) leaves them as they were.
	if err := p.Send(context.Background(), []kafka.Message{{Topic: topic, Value: []byte("later")}}); err != nil {
		t.Fatalf("a later send: %v", err)
	}
	if werrs[0] != nil || werrs[2] != nil || werrs[1] == nil {
		t.Fatalf("after a later Send the first one's errors are %v", werrs)
	}
	if reason, retry := kafkaclient.Classify(werrs[1]); reason != "too_large" || retry {
		t.Fatalf("Classify(%v) = %s, %v; want too_large, permanent", werrs[1], reason, retry)
	}
	got := readAll(t, conn, topic, 3)
	vals := map[string]bool{string(got[0].Value): true, string(got[1].Value): true, string(got[2].Value): true}
	if !vals["first"] || !vals["third"] || !vals["later"] {
		t.Fatalf("topic holds %q, %q and %q, want first, third and later", got[0].Value, got[1].Value, got[2].Value)
	}
}

// TestBatchOverTopicLimitIsSplit: a record batch over the topic's
// max.message.bytes (here 64 KiB; uncompressed, so 200 records of 1 KiB of
// one key make 200 KiB) is sent again in halves until it fits, and every
// record is acknowledged; only a record too large on its own is refused
// (MessageSizeTooLarge, which callers dead-letter). Before, the broker's
// refusal of the batch was each record's: 200 records of 1 KiB refused as
// too large.
func TestBatchOverTopicLimitIsSplit(t *testing.T) {
	conn := harness.RequireKafka(t)
	topic := harness.Name(t, "t")
	cl, err := conn.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "65536"}}}}})
	if err == nil {
		err = errors.Join(func() (errs []error) {
			for _, e := range res.Errors {
				errs = append(errs, e)
			}
			return errs
		}()...)
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	t.Cleanup(func() { harness.DeleteTopics(t, topic) })
	p, m := newProducer(t, conn, func(c *kafkaclient.ProducerConfig) { c.Compression = "none" })
	warmUp(t, ctx, p, m, topic, 1)
	var msgs []kafka.Message
	for i := range 200 {
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte("one trace"), Value: fmt.Appendf(nil, "%04d %01020d", i, 0)})
	}
	if err := p.Send(ctx, msgs); err != nil {
		t.Fatalf("send of 200 records of 1 KiB to a topic of max.message.bytes 64 KiB: %v", err)
	}
	if s := testutil.ToFloat64(m.Splits); s < 2 {
		t.Errorf("batch splits %v, want at least 2 (200 KiB into batches under 64 KiB)", s)
	}
	big := kafka.Message{Topic: topic, Key: []byte("one trace"), Value: make([]byte, 100<<10)}
	err = p.Send(ctx, []kafka.Message{msgs[0], big, msgs[1]})
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || werrs[0] != nil || !errors.Is(werrs[1], kafka.MessageSizeTooLarge) || werrs[2] != nil {
		t.Fatalf("a 100 KiB record between two of 1 KiB: %v, want only it refused as too large", err)
	}
}
