package publish

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

func newRec(msg string, extra map[string]any) *record.Record {
	r := &record.Record{Timestamp: time.Unix(1700000000, 5).UTC(), Message: msg, Level: record.LevelError, Service: "svc",
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", EventID: EventID("t", 1, nil), Fields: extra}
	return r
}

func TestMessageShapeAndStamp(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "test", record.DefaultContentFields)
	cfg := DefaultConfig()
	e, err := New(cfg, "test", "test/host/files", 41, m)
	if err != nil {
		t.Fatal(err)
	}
	msg, _, dead := e.Message(newRec("login with Authorization: Bearer abcdefghijklmnop1234", nil), nil)
	if dead || msg.Topic != kafkaclient.DefaultTopic || string(msg.Key) != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("dead=%v topic=%s key=%s", dead, msg.Topic, msg.Key)
	}
	var doc map[string]any
	if err := json.Unmarshal(msg.Value, &doc); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(msg.Value), "abcdefghijklmnop1234") {
		t.Fatalf("secret left in %s", msg.Value)
	}
	if doc[record.FieldProducerID] != "test/host/files" || doc[record.FieldProducerSeq] != float64(42) {
		t.Fatalf("producer stamp wrong: %v %v", doc[record.FieldProducerID], doc[record.FieldProducerSeq])
	}
	if got := testutil.ToFloat64(m.Flagged.WithLabelValues(record.FlagRedacted)); got != 1 {
		t.Fatalf("redacted flag counter = %v", got)
	}
}

func TestOversize(t *testing.T) {
	f := func(action string, extra map[string]any, msg string, wantDead bool) {
		t.Helper()
		cfg := DefaultConfig()
		cfg.MaxRecordBytes = 4096
		cfg.Oversize = action
		e, err := New(cfg, "test", "p", 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, _, dead := e.Message(newRec(msg, extra), nil)
		if dead != wantDead {
			t.Fatalf("%s: dead=%v want %v", action, dead, wantDead)
		}
		if wantDead {
			if out.Topic != kafkaclient.DefaultDLQTopic || kafkaclient.Header(out, kafkaclient.HeaderDLQReason) != "too_large" {
				t.Fatalf("dlq message wrong: topic %s headers %v", out.Topic, out.Headers)
			}
			return
		}
		if len(out.Value) > 4096 || !json.Valid(out.Value) {
			t.Fatalf("%s: %d bytes, valid=%v", action, len(out.Value), json.Valid(out.Value))
		}
		meta, err := record.Peek(out.Value)
		if err != nil || meta.TraceID == "" || meta.EventID == "" {
			t.Fatalf("correlation lost after shrinking: %+v %v", meta, err)
		}
	}
	big := strings.Repeat("x", 10000)
	f(OversizeTruncate, map[string]any{"blob": big, "small": "keep"}, "hello", false)
	f(OversizeTruncate, nil, big, false)
	f(OversizeTruncate, map[string]any{"a": big, "b": big}, big, false)
	f(OversizeDLQ, nil, big, true)
}

func TestTopicField(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TopicField = "route"
	e, _ := New(cfg, "test", "p", 0, nil)
	msg, _, _ := e.Message(newRec("x", map[string]any{"route": "tenant-a-logs"}), nil)
	if msg.Topic != "tenant-a-logs" {
		t.Fatalf("topic %s", msg.Topic)
	}
	msg, _, _ = e.Message(newRec("x", nil), nil)
	if msg.Topic != kafkaclient.DefaultTopic {
		t.Fatalf("topic %s", msg.Topic)
	}
}

func TestValidate(t *testing.T) {
	c := DefaultConfig()
	c.Topic, c.Oversize, c.MaxRecordBytes = "", "explode", 10
	err := c.Validate()
	for _, w := range []string{"kafka.topic", "record.oversize", "record.max-bytes"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v, want %s", err, w)
		}
	}
}

func TestWithProducerKeepsOwnSequence(t *testing.T) {
	base, err := New(DefaultConfig(), "test", "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := base.WithProducer("p/a", 10), base.WithProducer("p/b", 0)
	a.Message(newRec("x", nil), nil)
	msg, _, _ := b.Message(newRec("token=supersecretvalue123", nil), nil)
	if a.Seq() != 11 || b.Seq() != 1 || base.Seq() != 0 {
		t.Fatalf("sequences a=%d b=%d base=%d, want 11 1 0", a.Seq(), b.Seq(), base.Seq())
	}
	if strings.Contains(string(msg.Value), "supersecretvalue123") || !strings.Contains(string(msg.Value), `"agentobs.producer.id":"p/b"`) {
		t.Fatalf("shared policy or producer id wrong: %s", msg.Value)
	}
}

// A front door whose batches outlive the next one (the shipper) detaches
// the scratch with each batch: the messages of a detached batch keep their
// values (Keep), keys and headers while later batches are built, and the next batch
// starts with one block the size of the last batch's instead of a series
// of doubling ones.
func TestScratchDetachKeepsBatchesApart(t *testing.T) {
	var s Scratch
	build := func(batch int) []kafka.Message {
		var msgs []kafka.Message
		for i := range 300 {
			r := &record.Record{Service: fmt.Sprintf("svc-%d", batch), EventID: fmt.Sprintf("e-%d-%d", batch, i)}
			msgs = append(msgs, recordMessage("t", r, s.Keep(fmt.Appendf(nil, `{"n":"%d-%d"}`, batch, i)), KeyTraceID, &s))
		}
		return msgs
	}
	check := func(batch int, msgs []kafka.Message) {
		t.Helper()
		for i, m := range msgs {
			if want := fmt.Sprintf("e-%d-%d", batch, i); string(m.Key) != want {
				t.Fatalf("batch %d message %d: key %q, want %q", batch, i, m.Key, want)
			}
			if want := fmt.Sprintf(`{"n":"%d-%d"}`, batch, i); string(m.Value) != want {
				t.Fatalf("batch %d message %d: value %s, want %s", batch, i, m.Value, want)
			}
			for _, h := range m.Headers {
				if h.Key == HeaderService && string(h.Value) != fmt.Sprintf("svc-%d", batch) {
					t.Fatalf("batch %d message %d: service header %q", batch, i, h.Value)
				}
			}
		}
	}
	first := build(1)
	used := s.nBytes
	s.Detach()
	second := build(2)
	check(1, first)
	check(2, second)
	if got := cap(s.bytes); got < used {
		t.Errorf("after Detach the first block holds %d bytes, want at least the last batch's %d", got, used)
	}
}
