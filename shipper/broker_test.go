package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The broker dies mid-stream (SIGKILL) and comes back on the same data:
// the shipper retries, its queue fills, reading pauses, and nothing is lost.
func TestBrokerStopMidStreamLosesNothing(t *testing.T) {
	b := harness.StartKafka(t, harness.KafkaServerOptions{})
	const topic = "agentobs-logs-broker-test"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkaclient.EnsureTopics(ctx, b.PlainConfig(), kafkaclient.TopicSpec{Name: topic, Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const n = 30_000
	cfg := testConfig(t, []string{b.PlainAddr()}, topic, filepath.Join(dir, "*.log"))
	cfg.QueueSize = 8
	cfg.Producer.WriteTimeout = 2 * time.Second
	cfg.Producer.MaxAttempts = 1
	_, reg, stop := startApp(t, cfg)
	repc := runLoadgen(t, filepath.Join(dir, "agent.log"), n, 10_000, 1<<20)
	time.Sleep(time.Second)
	b.Kill()
	time.Sleep(3 * time.Second)
	depth := value(t, reg, "agentobs_shipper_queue_depth")
	if err := b.Start(); err != nil {
		t.Fatalf("restart broker: %v", err)
	}
	rep := <-repc
	msgs := consumeSeqs(t, []string{b.PlainAddr()}, topic, n, 90*time.Second)
	ta := check(t, msgs, n)
	t.Logf("rotated files %d, queue depth while down %v, produce errors %v: %s", len(rep.Files), depth,
		value(t, reg, "agentobs_shipper_produce_errors_total", "reason", "unreachable"), ta)
	if len(ta.missing) != 0 || len(ta.conflicts) != 0 || len(ta.ids) != n {
		t.Fatalf("after a broker restart: %s", ta)
	}
	if depth > float64(cfg.QueueSize) {
		t.Errorf("queue depth %v over its capacity %d", depth, cfg.QueueSize)
	}
	stop()
}

// TestTopicFieldNamingAMissingTopic: with -kafka.topic-field, lines whose
// field names a topic Kafka does not have become dead letters (reason
// unknown_topic) instead of being retried forever, which filled the queue
// and stopped every reader; the other lines arrive once, and the topic is
// not created from record data.
func TestTopicFieldNamingAMissingTopic(t *testing.T) {
	brokers := harness.RequireKafka(t).Brokers
	topic, dlq := harness.Topic(t, 3), harness.Topic(t, 1)
	gone := harness.Name(t, "gone")
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	const n, routed = 200, 30
	var b strings.Builder
	for i, r := 0, 0; i < n+routed; i++ {
		route := ""
		if i%7 == 3 && r < routed {
			route, r = `,"route":"`+gone+`"`, r+1
		}
		fmt.Fprintf(&b, `{"level":"info","msg":"line %d","service":"svc"%s}`+"\n", i, route)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, brokers, topic, path)
	cfg.Edge.DLQTopic, cfg.Edge.TopicField = dlq, "route"
	_, reg, stop := startApp(t, cfg)
	defer stop()
	if got := len(consume(t, brokers, topic, n, 60*time.Second)); got != n {
		t.Fatalf("%d records in %s, want %d", got, topic, n)
	}
	dead := consume(t, brokers, dlq, routed, 60*time.Second)
	if len(dead) != routed {
		t.Fatalf("%d dead letters, want %d", len(dead), routed)
	}
	for _, m := range dead {
		if r := kafkaclient.Header(m, kafkaclient.HeaderDLQReason); r != publish.ReasonUnknownTopic {
			t.Fatalf("dead letter reason %q, want %s", r, publish.ReasonUnknownTopic)
		}
	}
	if got := testutil.ToFloat64(metric(t, reg, "agentobs_shipper_dead_letters_total", "reason", publish.ReasonUnknownTopic)); got != routed {
		t.Errorf("dead_letters_total{reason=unknown_topic} = %v, want %d", got, routed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if missing, err := kafkaclient.MissingTopics(ctx, cfg.Kafka, gone); err != nil || len(missing) != 1 {
		t.Errorf("the record-chosen topic %s was created: missing %v, %v", gone, missing, err)
	}
}
