package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/test/harness"
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
