package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/test/harness"
)

// queue.max-bytes bounds what the shipper holds for Kafka in bytes: with
// Kafka refusing every record (the topic does not exist yet) and a file far
// larger than the bound, the bytes held stay under it and reading stops;
// once the topic exists every line arrives once. Before the byte bound,
// only the batch count was bounded (queue.size), so how much a stuck
// shipper held depended on the record sizes.
func TestQueueByteBoundPausesReading(t *testing.T) {
	conn := harness.RequireKafka(t)
	topic := harness.Name(t, "t")
	t.Cleanup(func() { harness.DeleteTopics(t, topic, topic+"-marks") })
	dir := t.TempDir()
	const n = 40_000 // about 16 MiB of lines
	<-runLoadgen(t, filepath.Join(dir, "agent.log"), n, 0, 0)

	cfg := testConfig(t, conn.Brokers, topic, filepath.Join(dir, "*.log"))
	const bound = 2 << 20
	cfg.QueueMaxBytes = bound
	cfg.Canary.Interval = 0
	_, reg, stop := startApp(t, cfg)
	defer stop()

	read := func() float64 { return value(t, reg, "agentobs_shipper_lines_read_total", "input", "file") }
	var peak, lastRead float64
	deadline := time.Now().Add(30 * time.Second)
	for steady := 0; steady < 4; {
		if time.Now().After(deadline) {
			t.Fatalf("reading never paused: %v of %d lines read", read(), n)
		}
		time.Sleep(250 * time.Millisecond)
		held := value(t, reg, "agentobs_shipper_queue_bytes")
		peak = max(peak, held)
		// Paused: nothing read for a second, and the next batch would not
		// fit (a reader only starved of CPU has room left).
		if r := read(); r == lastRead && r > 0 && held > bound/2 {
			steady++
		} else {
			steady, lastRead = 0, r
		}
	}
	if peak > bound || peak == 0 {
		t.Fatalf("queue held %v bytes at most, want (0, %d]", peak, bound)
	}
	if lastRead >= n {
		t.Fatalf("all %v lines were read while Kafka refused them: nothing paused the reader", lastRead)
	}
	t.Logf("Kafka refusing: reading paused at %v of %d lines, %v bytes held (bound %d)", lastRead, n, peak, bound)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkaclient.EnsureTopics(ctx, conn, kafkaclient.TopicSpec{Name: topic, Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	msgs := consume(t, conn.Brokers, topic, n, 90*time.Second)
	if ta := check(t, msgs, n); len(ta.missing) != 0 || len(ta.conflicts) != 0 || len(ta.ids) != n || ta.duplicates != 0 {
		t.Fatalf("after the topic appeared: %s", ta)
	}
	if held := value(t, reg, "agentobs_shipper_queue_bytes"); held != 0 {
		t.Errorf("%v bytes still held after every record was acknowledged", held)
	}
}
