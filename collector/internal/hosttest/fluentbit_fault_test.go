package hosttest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/test/harness"
)

// TestFluentBitMissingTopic: a Topic that does not exist used to mean
// endless "Unknown Topic Or Partition" retries, and a chunk still retrying
// at shutdown was dropped with memory storage. Now init fails at once with
// an error naming the topic and the fixes, and with Create_Topics On the
// plugin creates the topics, the marks topic with them, and delivers.
func TestFluentBitMissingTopic(t *testing.T) {
	brokers := strings.Join(harness.Brokers(), ",")
	topic, dlq := harness.Name(t, "t"), harness.Name(t, "dlq")
	marks := publish.MarksTopicFor(topic)
	t.Cleanup(func() { harness.DeleteTopics(t, topic, dlq, marks) })

	t.Run("fails-init", func(t *testing.T) {
		dir := t.TempDir()
		logPath := filepath.Join(dir, "agent.log")
		appendLines(t, logPath, "m", 0, 10, nil)
		fb := newFluentBit(t, dir, "fluent-bit.conf", classicConf(dir, logPath, "agents", httpPort(t),
			outputProps("agents", brokers, topic, dlq)), true)
		if err := fb.proc.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-fb.proc.Exited():
		case <-time.After(30 * time.Second):
			t.Fatal("Fluent Bit still runs with an output whose topic does not exist")
		}
		log := fb.log()
		for _, want := range []string{topic + ", " + dlq + " does not exist", "Create_Topics On", "output initialization failed"} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %q", want)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if missing, err := kafkaclient.MissingTopics(ctx, harness.KafkaConfig(), topic, dlq, marks); err != nil || len(missing) != 3 {
			t.Fatalf("the failed init created topics: missing %v, %v", missing, err)
		}
	})

	t.Run("create-topics", func(t *testing.T) {
		dir := t.TempDir()
		logPath := filepath.Join(dir, "agent.log")
		const n = 500
		appendLines(t, logPath, "m", 0, n, nil)
		fb := newFluentBit(t, dir, "fluent-bit.conf", classicConf(dir, logPath, "agents", httpPort(t),
			outputProps("agents", brokers, topic, dlq, "Create_Topics On", "Marks_Interval 0")), true)
		fb.start(1)
		if !strings.Contains(fb.log(), "created missing topics") {
			t.Error("no log line for the created topics")
		}
		delivered(t, harness.KafkaConfig(), topic, "m", n, 60*time.Second, "").exactlyOnce(t, n)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Checked before stop: the final mark written at shutdown must not
		// be what created the topic (a broker with auto-create would).
		if missing, err := kafkaclient.MissingTopics(ctx, harness.KafkaConfig(), marks); err != nil || len(missing) != 0 {
			t.Errorf("Create_Topics On left the marks topic %s missing: %v, %v", marks, missing, err)
		}
		fb.stop()
	})
}

// TestFluentBitTwoOutputs: two [OUTPUT] sections in one process (two
// tails, two topics, default names, one shared metrics listener): each
// gets exactly its own lines, and the metrics tell them apart.
func TestFluentBitTwoOutputs(t *testing.T) {
	brokers := strings.Join(harness.Brokers(), ",")
	topicA, topicB, dlq := harness.Topic(t, 3), harness.Topic(t, 3), harness.Topic(t, 1)
	dir := t.TempDir()
	logA, logB := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	const n = 2000
	appendLines(t, logA, "a", 0, n, nil)
	appendLines(t, logB, "b", 0, n/2, nil)
	metrics := harness.FreeAddr(t)
	conf := classicConf(dir, logA, "a", httpPort(t),
		outputProps("a", brokers, topicA, dlq, "Workers 2", "Metrics_Addr "+metrics),
		outputProps("b", brokers, topicB, dlq, "Workers 1", "Metrics_Addr "+metrics))
	conf += fmt.Sprintf("\n[INPUT]\n    Name tail\n    Tag b\n    Path %s\n    DB %s/tail-b.db\n    Read_from_Head On\n    Refresh_Interval 1\n", logB, dir)
	fb := newFluentBit(t, dir, "fluent-bit.conf", conf, true)
	fb.start(2)
	delivered(t, harness.KafkaConfig(), topicA, "a", n, 60*time.Second, "").exactlyOnce(t, n)
	delivered(t, harness.KafkaConfig(), topicB, "b", n/2, 60*time.Second, "").exactlyOnce(t, n/2)
	m := scrape(t, metrics)
	for _, want := range []string{
		fmt.Sprintf(`agentobs_collector_records_in_total{output="agentobs.0"} %d`, n),
		fmt.Sprintf(`agentobs_collector_records_in_total{output="agentobs.1"} %d`, n/2),
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "records_in"))
		}
	}
	fb.stop()
}

// TestFluentBitDeadLetters: records the plugin refuses (over
// Max_Record_Bytes with Oversize dlq) go to the dead-letter topic with
// their reason, exactly once each, and the rest to the topic; nothing is
// dropped and the counters agree.
func TestFluentBitDeadLetters(t *testing.T) {
	brokers, topic, dlq, dir, logPath := tailSetup(t)
	const n, big = 1000, 50
	appendLines(t, logPath, "d", 0, n, nil)
	// Lines "big line 0..49" carry 4 KiB of payload: over Max_Record_Bytes.
	appendLines(t, logPath, "big", 0, big, func(l string) string {
		return strings.Replace(l, `"pad":"`, `"pad":"`+strings.Repeat("y", 4096), 1)
	})
	metrics := harness.FreeAddr(t)
	fb := newFluentBit(t, dir, "fluent-bit.conf", classicConf(dir, logPath, "agents", httpPort(t),
		outputProps("agents", brokers, topic, dlq, "Max_Record_Bytes 2048", "Oversize dlq", "Metrics_Addr "+metrics)), true)
	fb.start(1)
	delivered(t, harness.KafkaConfig(), topic, "d", n, 60*time.Second, "").exactlyOnce(t, n)
	deadLettered(t, dlq, big, "too_large", metrics)
	fb.stop()
}

// TestFluentBitKillRestart: Fluent Bit is killed with SIGKILL mid-stream
// (tail DB and filesystem storage), then restarted on the same state:
// every line arrives, and every copy Kafka holds of a line carries the
// same event.id (re-sent chunks are byte-identical), so Elasticsearch
// holds each line once.
//
// The lines are Docker json-file lines read with the docker parser, as in
// the shipped configurations: the event time comes from the line. Fluent
// Bit may also read a line a second time after the kill (its tail database
// lags the chunks already in storage); such a line is a new event whose
// time, without a parser, is the time of the second read, and the plugin's
// event.id includes the event time, so it would be stored twice (seen once
// in 42 runs with plain lines; README, open bugs).
func TestFluentBitKillRestart(t *testing.T) {
	brokers, topic, dlq, dir, logPath := tailSetup(t)
	const n = 40000
	conf := classicConf(dir, logPath, "agents", httpPort(t), outputProps("agents", brokers, topic, dlq, "Workers 2"))
	const storage = "    storage.type      filesystem\n"
	if !strings.Contains(conf, storage) {
		t.Fatal("classicConf no longer sets the input's storage.type: update this test")
	}
	conf = strings.Replace(conf, storage, storage+"    multiline.parser  docker\n", 1)
	fb := newFluentBit(t, dir, "fluent-bit.conf", conf, true)
	appendLines(t, logPath, "k", 0, 1000, dockerLine)
	fb.start(1)
	// The agent keeps writing (1000 lines every 100 ms) while Fluent Bit is
	// killed in the middle of it: lines are delivered, in flight, buffered
	// in storage and not read yet at that moment.
	written := make(chan struct{})
	go func() {
		defer close(written)
		for i := 1000; i < n; i += 1000 {
			time.Sleep(100 * time.Millisecond)
			appendLines(t, logPath, "k", i, i+1000, dockerLine)
		}
	}()
	// The writer uses t: if the test stops early (a failed wait below), it
	// must not outlive the test.
	defer func() { <-written }()
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		return len(harness.ConsumeAll(t, topic, 1, time.Second)) > 0, "nothing in Kafka yet"
	})
	fb.proc.Kill()
	<-written
	before := len(harness.ConsumeAll(t, topic, n, 3*time.Second))
	t.Logf("killed with %d of %d lines in Kafka", before, n)
	if before == 0 || before >= n {
		t.Fatalf("the kill did not land mid-stream (%d of %d in Kafka)", before, n)
	}
	fb.start(2)
	d := delivered(t, harness.KafkaConfig(), topic, "k", n, 120*time.Second, "")
	t.Logf("after restart: %d lines, %d messages (%d re-sent copies, same event.id)", len(d.byText), d.messages, d.messages-n)
	fb.stop()
}

// TestFluentBitBrokerOutage: the broker becomes unreachable while Fluent
// Bit tails (a private broker behind a cuttable proxy; filesystem
// storage): flushes return FLB_RETRY, Fluent Bit keeps the chunks and
// retries them, and once the broker is back every line arrives, copies
// only with the same event.id.
func TestFluentBitBrokerOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("real Fluent Bit end to end with a private broker: runs in make test, not with -short")
	}
	b := startPrivateBroker(t)
	topic, dlq := harness.Name(t, "t"), harness.Name(t, "dlq")
	b.createTopic(t, topic, 3)
	b.createTopic(t, dlq, 1)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "agent.log")
	const n = 3000
	appendLines(t, logPath, "o", 0, n/3, nil)
	fb := newFluentBit(t, dir, "fluent-bit.conf", classicConf(dir, logPath, "agents", httpPort(t),
		outputProps("agents", b.Addr(), topic, dlq, "Workers 2", "Timeout 2s")), true)
	fb.start(1)
	delivered(t, b.PlainConfig(), topic, "o", n/3, 60*time.Second, "")
	b.proxy.Cut()
	appendLines(t, logPath, "o", n/3, n, nil)
	fb.waitLog("Fluent Bit will retry", 2, 60*time.Second)
	retries := strings.Count(fb.log(), "Fluent Bit will retry")
	if err := b.proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	d := delivered(t, b.PlainConfig(), topic, "o", n, 120*time.Second, "")
	t.Logf("outage: %d retried flushes; %d lines, %d messages", retries, len(d.byText), d.messages)
	fb.stop()
}

// TestFluentBitRefusesOutKafkaKeys: an out_kafka section whose Name was
// changed to agentobs, keys and all. Fluent Bit hands a Go plugin every
// key without checking it, so the plugin must refuse the ones it does not
// read (here the topic list and the security protocol, which would
// otherwise send to the default topic over plaintext); Fluent Bit then
// stops at start-up with the plugin's message naming each key.
func TestFluentBitRefusesOutKafkaKeys(t *testing.T) {
	dir := t.TempDir()
	conf := classicConf(dir, filepath.Join(dir, "agent.log"), "agents.x", httpPort(t),
		"Match *\nBrokers 127.0.0.1:1\nTopics agent-logs\nrdkafka.security.protocol SASL_SSL\nFormat json")
	fb := newFluentBit(t, dir, "fluent-bit.conf", conf, true)
	if err := fb.proc.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fb.proc.Exited():
	case <-time.After(30 * time.Second):
		t.Fatalf("Fluent Bit still runs with out_kafka keys in the agentobs section:\n%s", fb.proc.Tail(20))
	}
	log := fb.log()
	for _, want := range []string{"Topics: a key of Fluent Bit's out_kafka", "use Topic (",
		"rdkafka.security.protocol: a key of Fluent Bit's out_kafka", "use Kafka_TLS On"} {
		if !strings.Contains(log, want) {
			t.Errorf("Fluent Bit's log lacks %q:\n%s", want, fb.proc.Tail(30))
		}
	}
	if strings.Contains(log, "Format: ") {
		t.Errorf("Format json is what the plugin does anyway, yet it was refused:\n%s", fb.proc.Tail(30))
	}
}

// TestFluentBitTopicKeyNamesAMissingTopic: records whose Topic_Key value
// names a topic Kafka does not have. Kafka calls that retryable, so the
// chunk retried forever and every record in it waited; now those records
// (and only those) are dead letters with the reason unknown_topic, and
// the rest of the chunk is delivered once. The plugin never creates a
// topic from record data.
func TestFluentBitTopicKeyNamesAMissingTopic(t *testing.T) {
	brokers, topic, dlq, dir, logPath := tailSetup(t)
	gone := harness.Name(t, "gone")
	const n, routed = 300, 40
	appendLines(t, logPath, "k", 0, n, nil)
	appendLines(t, logPath, "r", 0, routed, func(l string) string {
		return strings.Replace(l, `{`, `{"route":"`+gone+`",`, 1)
	})
	metrics := harness.FreeAddr(t)
	fb := newFluentBit(t, dir, "fluent-bit.conf", classicConf(dir, logPath, "agents", httpPort(t),
		outputProps("agents", brokers, topic, dlq, "Topic_Key route", "Metrics_Addr "+metrics)), true)
	fb.start(1)
	delivered(t, harness.KafkaConfig(), topic, "k", n, 60*time.Second, "").exactlyOnce(t, n)
	deadLettered(t, dlq, routed, publish.ReasonUnknownTopic, metrics)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if missing, err := kafkaclient.MissingTopics(ctx, harness.KafkaConfig(), gone); err != nil || len(missing) != 1 {
		t.Errorf("the record-chosen topic %s was created: missing %v, %v", gone, missing, err)
	}
	fb.stop()
}

// deadLettered asserts the dead-letter topic holds exactly n dead letters,
// each with reason, and the plugin at metrics counted n of that reason.
func deadLettered(t *testing.T, dlq string, n int, reason, metrics string) {
	t.Helper()
	msgs := harness.ConsumeAll(t, dlq, n, 60*time.Second)
	if len(msgs) != n {
		t.Fatalf("%d dead letters, want %d", len(msgs), n)
	}
	for _, m := range msgs {
		if r := kafkaclient.Header(m, kafkaclient.HeaderDLQReason); r != reason {
			t.Fatalf("dead letter reason %q, want %s", r, reason)
		}
	}
	if m := scrape(t, metrics); !strings.Contains(m, fmt.Sprintf(`agentobs_collector_dead_letters_total{reason=%q} %d`, reason, n)) {
		t.Errorf("dead_letters_total:\n%s", grepLines(m, "dead_letters"))
	}
}
