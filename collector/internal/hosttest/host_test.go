package hosttest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/collector/internal/flbchunk"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/segmentio/kafka-go"
)

// checkRecords asserts that msgs are exactly the records of recs (by
// message text), each with key = trace id, the correlation headers, and
// event.id equal in header and value; it returns the messages by event.id.
func checkRecords(t *testing.T, msgs []kafka.Message, tag string) map[string][]kafka.Message {
	t.Helper()
	byID := map[string][]kafka.Message{}
	for _, m := range msgs {
		var doc map[string]any
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatalf("value is not JSON: %v: %s", err, m.Value)
		}
		id := kafkaclient.Header(m, publish.HeaderEventID)
		if id == "" || doc[record.FieldEventID] != id {
			t.Errorf("event.id header %q, value %v", id, doc[record.FieldEventID])
		}
		trace := kafkaclient.Header(m, publish.HeaderTraceID)
		if len(trace) != 32 || doc[record.FieldTraceID] != trace || string(m.Key) != trace {
			t.Errorf("trace: header %q value %v key %q", trace, doc[record.FieldTraceID], m.Key)
		}
		if span := kafkaclient.Header(m, publish.HeaderSpanID); len(span) != 16 || doc[record.FieldSpanID] != span {
			t.Errorf("span: header %q value %v", span, doc[record.FieldSpanID])
		}
		if kafkaclient.Header(m, publish.HeaderService) != "planner" || kafkaclient.Header(m, publish.HeaderSchema) != record.SchemaVersion ||
			kafkaclient.Header(m, publish.HeaderContentType) != record.ContentType {
			t.Errorf("headers: %v", m.Headers)
		}
		if doc[record.FieldSource] != tag {
			t.Errorf("tag not kept: %v", doc[record.FieldSource])
		}
		if msg, _ := doc[record.FieldMessage].(string); !strings.Contains(msg, " step ") {
			t.Errorf("message %q", msg)
		}
		byID[id] = append(byID[id], m)
	}
	return byID
}

// TestHostDeliversBothEventFormats flushes a v1 chunk (integer timestamps),
// a v2 chunk (EventTime) and the v1 chunk again (what Fluent Bit does after
// FLB_RETRY): every record arrives with key, headers and trace context, and
// the re-sent chunk repeats exactly the same event.ids.
func TestHostDeliversBothEventFormats(t *testing.T) {
	topic, dlq := harness.Topic(t, 3), harness.Topic(t, 1)
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	v1 := writeChunk(t, flbchunk.V1, flbchunk.Int, agentRecords("v1", 60), base)
	v2 := writeChunk(t, flbchunk.V2, flbchunk.EventTime, agentRecords("v2", 60), base)
	args := append([]string{"-i", "main"}, commonProps(topic, dlq)...)
	args = append(args, "-chunk", v1, "-chunk", v2, "-tag", "kube.agents.planner", "-repeat", "3")
	r := runHost(t, args...)
	if r.code != 0 || r.count("rc=1 ms=") != 3 {
		t.Fatalf("host: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	msgs := harness.ConsumeAll(t, topic, 180, 30*time.Second)
	if len(msgs) != 180 {
		t.Fatalf("got %d messages, want 180", len(msgs))
	}
	byID := checkRecords(t, msgs, "kube.agents.planner")
	if len(byID) != 120 {
		t.Fatalf("%d distinct event.ids, want 120 (60 + 60, the re-sent chunk repeating its ids)", len(byID))
	}
	twice := 0
	for _, ms := range byID {
		if len(ms) == 2 {
			twice++
			if string(ms[0].Key) != string(ms[1].Key) || ms[0].Partition != ms[1].Partition {
				t.Errorf("re-sent record changed key or partition")
			}
		}
	}
	if twice != 60 {
		t.Errorf("%d event.ids seen twice, want the 60 of the re-sent chunk", twice)
	}
}

// TestHostTwoInstances runs two [OUTPUT] sections with different topics in
// one process, each with its own context and producer, flushing at once.
func TestHostTwoInstances(t *testing.T) {
	topicA, topicB, dlq := harness.Topic(t, 2), harness.Topic(t, 2), harness.Topic(t, 1)
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	a := writeChunk(t, flbchunk.V2, flbchunk.EventTime, agentRecords("a", 50), base)
	b := writeChunk(t, flbchunk.V2, flbchunk.EventTime, agentRecords("bb", 70), base)
	args := append([]string{"-i", "a", "-p", "Instance=out-a"}, commonProps(topicA, dlq)...)
	args = append(args, "-chunk", a, "-tag", "tag.a", "-workers", "2")
	args = append(args, "-i", "b", "-p", "Instance=out-b")
	args = append(args, commonProps(topicB, dlq)...)
	args = append(args, "-chunk", b, "-tag", "tag.b")
	r := runHost(t, args...)
	if r.code != 0 || r.count("init instance=") != 2 {
		t.Fatalf("host: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// Instance a flushed its chunk from two workers: 100 messages, 50 ids.
	ma := harness.ConsumeAll(t, topicA, 100, 30*time.Second)
	mb := harness.ConsumeAll(t, topicB, 70, 30*time.Second)
	if len(ma) != 100 || len(mb) != 70 {
		t.Fatalf("got %d and %d messages, want 100 and 70", len(ma), len(mb))
	}
	if n := len(checkRecords(t, ma, "tag.a")); n != 50 {
		t.Errorf("topic a: %d distinct ids, want 50", n)
	}
	if n := len(checkRecords(t, mb, "tag.b")); n != 70 {
		t.Errorf("topic b: %d distinct ids, want 70", n)
	}
	for _, m := range ma {
		var doc map[string]any
		_ = json.Unmarshal(m.Value, &doc)
		if id, _ := doc[record.FieldProducerID].(string); !strings.HasPrefix(id, "collector/testhost/out-a/") {
			t.Fatalf("producer id %q", id)
		}
	}
}

// TestHostConcurrentFlushes flushes 8 distinct chunks from 4 worker threads
// of one instance at once (Fluent Bit's "workers 4"): all records arrive
// once, none mixed up between chunks.
func TestHostConcurrentFlushes(t *testing.T) {
	topic, dlq := harness.Topic(t, 6), harness.Topic(t, 1)
	args := append([]string{"-i", "w"}, commonProps(topic, dlq)...)
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for c := range 8 {
		args = append(args, "-chunk", writeChunk(t, flbchunk.V2, flbchunk.EventTime,
			agentRecords(strings.Repeat("c", c+1), 100), base.Add(time.Duration(c)*time.Second)))
	}
	args = append(args, "-tag", "conc", "-workers", "4", "-repeat", "2")
	r := runHost(t, args...)
	if r.code != 0 || r.count("rc=1 ms=") != 8 {
		t.Fatalf("host: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	msgs := harness.ConsumeAll(t, topic, 800, 60*time.Second)
	if len(msgs) != 800 {
		t.Fatalf("got %d messages, want 800", len(msgs))
	}
	byID := checkRecords(t, msgs, "conc")
	if len(byID) != 800 {
		t.Errorf("%d distinct event.ids, want 800", len(byID))
	}
	texts := map[string]bool{}
	for _, m := range msgs {
		var doc map[string]any
		_ = json.Unmarshal(m.Value, &doc)
		texts[doc[record.FieldMessage].(string)] = true
	}
	if len(texts) != 800 {
		t.Errorf("%d distinct messages, want 800", len(texts))
	}
}

// TestHostDeadLetters: undecodable bytes after good events make the flush
// FLB_ERROR after the good records were delivered and the garbage went to
// the dead-letter topic; an oversize record with Oversize=dlq goes to the
// DLQ, with Oversize=truncate it arrives cut and flagged.
func TestHostDeadLetters(t *testing.T) {
	topic, dlq := harness.Topic(t, 1), harness.Topic(t, 1)
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	good := agentRecords("g", 10)
	b := flbchunk.New(flbchunk.V2)
	for i, r := range good {
		b.Add(base.Add(time.Duration(i)), r, nil)
	}
	garbage := writeFile(t, append(b.Bytes(), 0x92, 0xc1, 0xc1, 0xc1))
	big := agentRecords("big", 2)
	big[0]["payload"] = strings.Repeat("x", 8000)
	big[1]["payload"] = strings.Repeat("y", 8000)
	oversize := writeChunk(t, flbchunk.V2, flbchunk.EventTime, big[:1], base)
	oversize2 := writeChunk(t, flbchunk.V2, flbchunk.EventTime, big[1:], base)

	args := append([]string{"-i", "garbage"}, commonProps(topic, dlq)...)
	args = append(args, "-chunk", garbage, "-tag", "g")
	args = append(args, "-i", "dlq", "-p", "Instance=dlq", "-p", "Max_Record_Bytes=4K", "-p", "Oversize=dlq")
	args = append(args, commonProps(topic, dlq)...)
	args = append(args, "-chunk", oversize, "-tag", "big")
	args = append(args, "-i", "trunc", "-p", "Instance=trunc", "-p", "Max_Record_Bytes=4K", "-p", "Oversize=truncate")
	args = append(args, commonProps(topic, dlq)...)
	args = append(args, "-chunk", oversize2, "-tag", "big")
	r := runHost(t, args...)
	if !strings.Contains(r.stdout, "instance=garbage worker=0 iter=0 attempt=0 rc=0") ||
		!strings.Contains(r.stdout, "instance=dlq worker=0 iter=0 attempt=0 rc=1") ||
		!strings.Contains(r.stdout, "instance=trunc worker=0 iter=0 attempt=0 rc=1") {
		t.Fatalf("unexpected results:\n%s\n%s", r.stdout, r.stderr)
	}
	msgs := harness.ConsumeAll(t, topic, 11, 30*time.Second)
	dead := harness.ConsumeAll(t, dlq, 2, 30*time.Second)
	if len(msgs) != 11 || len(dead) != 2 {
		t.Fatalf("got %d records and %d dead letters, want 11 and 2", len(msgs), len(dead))
	}
	reasons := map[string]int{}
	for _, m := range dead {
		reasons[kafkaclient.Header(m, kafkaclient.HeaderDLQReason)]++
		if kafkaclient.Header(m, kafkaclient.HeaderDLQComponent) != "collector" {
			t.Errorf("dlq component %q", kafkaclient.Header(m, kafkaclient.HeaderDLQComponent))
		}
	}
	if reasons["invalid"] != 1 || reasons["too_large"] != 1 {
		t.Errorf("dead-letter reasons %v, want one invalid and one too_large", reasons)
	}
	truncated := 0
	for _, m := range msgs {
		if len(m.Value) > 4096 {
			t.Errorf("record of %d bytes over Max_Record_Bytes", len(m.Value))
		}
		var doc map[string]any
		_ = json.Unmarshal(m.Value, &doc)
		if flags, _ := doc[record.FieldFlags].([]any); len(flags) > 0 && flags[0] == record.FlagTruncated {
			truncated++
		}
	}
	if truncated != 1 {
		t.Errorf("%d truncated records, want 1", truncated)
	}
}

// TestHostInvalidConfig: bad values fail FLBPluginInit with a message that
// names every bad key; the host (like Fluent Bit) stops without a crash.
func TestHostInvalidConfig(t *testing.T) {
	r := runHost(t, "-i", "bad", "-p", "Key_Strategy=random", "-p", "Required_Acks=two", "-p", "Batch_Size=x",
		"-p", "Kafka_TLS_Verify=maybe", "-p", "SASL_Mechanism=GSSAPI", "-p", "Brokers=nohostport")
	if r.code != 3 || !strings.Contains(r.stdout, "init instance=bad rc=0") {
		t.Fatalf("want init failure, got exit %d\n%s", r.code, r.stdout)
	}
	for _, key := range []string{"Key_Strategy", "Required_Acks", "Batch_Size", "Kafka_TLS_Verify", "SASL_Mechanism", "Brokers"} {
		if !strings.Contains(r.stderr, key) {
			t.Errorf("error output does not name %s:\n%s", key, r.stderr)
		}
	}
}
