package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
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

// TestRefusedRequestsAreNotMissing: HTTP requests answered 503 while the
// broker is down (Kafka did not acknowledge in time, or the queue was
// full and the batch never left the shipper) had their records stamped;
// the clients send them again under new numbers. The shipper's last mark
// names the refused numbers, so every number up to the mark is either in
// Kafka or refused, and the loss audit has nothing to call missing.
func TestRefusedRequestsAreNotMissing(t *testing.T) {
	b := harness.StartKafka(t, harness.KafkaServerOptions{})
	topic, marks := "agentobs-logs-refused-test", "agentobs-logs-refused-test-marks"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkaclient.EnsureTopics(ctx, b.PlainConfig(), kafkaclient.TopicSpec{Name: topic, Partitions: 1},
		kafkaclient.TopicSpec{Name: marks, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	brokers := []string{b.PlainAddr()}
	cfg := testConfig(t, brokers, topic)
	cfg.HTTP.Ingest = true
	cfg.HTTP.AckTimeout = time.Second
	cfg.QueueSize, cfg.Senders = 1, 1
	cfg.Producer.WriteTimeout = time.Second
	cfg.Marks.Topic, cfg.Marks.Interval = marks, 0
	cfg.ShutdownTimeout = 30 * time.Second
	a, _, stop := startApp(t, cfg)
	const perRequest = 5
	refusals := 0 // requests answered 503, retries included
	post := func(key string) (int, string) {
		var body strings.Builder
		for i := range perRequest {
			fmt.Fprintf(&body, "{\"msg\":\"%s line %d\"}\n", key, i)
		}
		req, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr()+"/v1/ndjson", strings.NewReader(body.String()))
		req.Header.Set("Idempotency-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		msg, _ := io.ReadAll(res.Body)
		if res.StatusCode == http.StatusServiceUnavailable {
			refusals++
		}
		return res.StatusCode, string(msg)
	}
	if code, msg := post("before"); code != http.StatusOK {
		t.Fatalf("broker up: %d %s", code, msg)
	}
	b.Kill()
	var refused []string
	queueFull := 0
	for i := range 6 {
		key := fmt.Sprintf("down-%d", i)
		code, msg := post(key)
		if code != http.StatusServiceUnavailable {
			t.Fatalf("broker down, %s: %d %s, want 503", key, code, msg)
		}
		if strings.Contains(msg, "queue full") {
			queueFull++
		}
		refused = append(refused, key)
	}
	if queueFull == 0 {
		t.Fatal("no request met a full queue: the test did not refuse a batch that never left the shipper")
	}
	if err := b.Start(); err != nil {
		t.Fatalf("restart broker: %v", err)
	}
	for _, key := range refused {
		harness.Eventually(t, 60*time.Second, func() (bool, string) {
			code, msg := post(key)
			return code == http.StatusOK, fmt.Sprintf("retry %s: %d %s", key, code, msg)
		})
	}
	stop()

	var mk publish.Mark
	for _, m := range consume(t, brokers, marks, 1, 30*time.Second) {
		if k, err := publish.ParseMark(m.Value); err == nil && strings.Contains(k.ProducerID, "/http/") {
			mk = k
		}
	}
	isRefused := func(seq uint64) bool {
		for _, r := range mk.Refused {
			if seq >= r.First && seq <= r.Last {
				return true
			}
		}
		return false
	}
	var nRefused uint64
	for _, r := range mk.Refused {
		nRefused += r.Last - r.First + 1
	}
	// Each request answered 503 had its numbers refused, except a retry
	// that joined its first attempt's batch still in flight (it stamps
	// nothing); every key's first attempt was refused.
	if lo, hi := uint64(len(refused)*perRequest), uint64(refusals*perRequest); nRefused < lo || nRefused > hi || nRefused%perRequest != 0 {
		t.Fatalf("last mark %+v: %d numbers refused, want whole requests of %d, between %d and %d (%d first attempts, %d answers 503)",
			mk, nRefused, perRequest, lo, hi, len(refused), refusals)
	}
	// Every number up to the mark arrived or was refused; some refused
	// ones never arrived (their batch met the full queue).
	seen := map[uint64]bool{}
	covered := func() bool {
		for s := mk.FirstSeq; s <= mk.LastSeq; s++ {
			if !seen[s] && !isRefused(s) {
				return false
			}
		}
		return true
	}
	conf := kafkaclient.DefaultConfig()
	conf.Brokers = brokers
	harness.ConsumeUntil(t, conf, topic, 30*time.Second, func(m kafka.Message) bool {
		var d struct {
			Seq uint64 `json:"agentobs.producer.seq"`
		}
		if json.Unmarshal(m.Value, &d) == nil {
			seen[d.Seq] = true
		}
		return covered()
	})
	var unrefusedMissing, refusedAbsent []uint64
	for s := mk.FirstSeq; s <= mk.LastSeq; s++ {
		switch {
		case !seen[s] && !isRefused(s):
			unrefusedMissing = append(unrefusedMissing, s)
		case !seen[s]:
			refusedAbsent = append(refusedAbsent, s)
		}
	}
	t.Logf("mark %d..%d, refused %v (%d requests met a full queue), refused and never in Kafka: %d", mk.FirstSeq, mk.LastSeq, mk.Refused, queueFull, len(refusedAbsent))
	if len(unrefusedMissing) > 0 {
		t.Fatalf("numbers neither in Kafka nor refused: %v", unrefusedMissing)
	}
	if len(refusedAbsent) == 0 {
		t.Fatal("every refused record reached Kafka: nothing here needed the refusal notes")
	}
}
