package kafkaclient_test

import (
	"context"
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
	reg := prometheus.NewRegistry()
	m := kafkaclient.NewProducerMetrics(reg, "itest")
	pc := kafkaclient.DefaultProducerConfig()
	p, err := kafkaclient.NewProducer(conn, pc, m)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

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
	if err := p.Send(ctx, msgs); err != nil {
		t.Fatalf("send: %v", err)
	}
	if got := testutil.ToFloat64(m.Records.WithLabelValues("ok")); got != traces*perTrace {
		t.Fatalf("records ok metric = %v, want %d", got, traces*perTrace)
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
	pc := kafkaclient.DefaultProducerConfig()
	pc.BatchBytes = 4096
	p, err := kafkaclient.NewProducer(conn, pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	err = p.Send(context.Background(), []kafka.Message{{Topic: harness.Topic(t, 1), Value: make([]byte, 8192)}})
	if reason, retry := kafkaclient.Classify(err); reason != "too_large" || retry {
		t.Fatalf("Classify(%v) = %s, %v; want too_large, permanent", err, reason, retry)
	}
}

// An unreachable broker is a retryable error within the write timeout.
func TestProduceUnreachableIsRetryable(t *testing.T) {
	conn := kafkaclient.DefaultConfig()
	conn.Brokers = []string{"127.0.0.1:1"}
	conn.DialTimeout = time.Second
	pc := kafkaclient.DefaultProducerConfig()
	pc.WriteTimeout = 2 * time.Second
	pc.MaxAttempts = 1
	p, err := kafkaclient.NewProducer(conn, pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.Send(ctx, []kafka.Message{{Topic: "agentobs-logs", Value: []byte("{}")}})
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
