package ingest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
)

// FuzzIngestBody posts arbitrary bodies (NDJSON, JSON arrays, garbage) to
// the real handler with a sink that acknowledges at once. Properties: no
// panic; the status is 200 or a 4xx, never a 5xx (the sink is healthy, so a
// 5xx would blame Kafka for a bad body); a 4xx enqueues nothing; on 200 the
// "accepted" count equals the messages enqueued, never more than the body's
// items, and every message value is a valid JSON record whose event.id
// matches its header. Seeds: testdata/fuzz/FuzzIngestBody.
func FuzzIngestBody(f *testing.F) {
	f.Add([]byte("{\"msg\":\"a\"}\n\n{\"msg\":\"b\"}\nplain\n"))
	f.Add([]byte(`[{"msg":"a"},{"msg":"b"},"text line",1,null,[2]]`))
	f.Add([]byte(`[{"msg":"a"},`))
	f.Add([]byte("  [ ]  "))
	f.Add([]byte("{\"msg\":\"x\\u001b[31mred\\r\\n{\\\"log.level\\\":\\\"fatal\\\"}\"}\r\n\x00\xff\n"))
	f.Add([]byte("2026-11-26T10:00:00Z stdout P part\n2026-11-26T10:00:00Z stdout F end\n2026-11-26T10:00:00Z stderr P dangling\n"))
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 64 << 10 // small enough for the fuzzer to hit 413
	e, err := publish.New(publish.DefaultConfig(), "test", "shipper/h/http/fuzz", 0, publish.NewMetrics(nil, "test", nil))
	if err != nil {
		f.Fatal(err)
	}
	s := &sink{}
	h := New(cfg, Settings{Host: "h", Edge: e, Sink: s, Metrics: shippermetrics.New(nil)})
	f.Fuzz(func(t *testing.T, body []byte) {
		s.batches = s.batches[:0]
		r := httptest.NewRequest(http.MethodPost, "/v1/logs", bytes.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var a answer
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
			t.Fatalf("answer is not JSON: %q", w.Body)
		}
		switch {
		case w.Code == http.StatusOK:
		case w.Code >= 400 && w.Code < 500:
			if len(s.batches) != 0 || a.Error == "" {
				t.Fatalf("%d enqueued %d batches, error %q", w.Code, len(s.batches), a.Error)
			}
			return
		default:
			t.Fatalf("status %d for a bad body (want 200 or 4xx): %s", w.Code, w.Body)
		}
		if _, otlp := looksOTLPJSON(body); otlp {
			// An OTLP/JSON export request: unpacked by the receiver (an
			// empty one stores nothing), answered in OTLP's encoding.
			for _, b := range s.batches {
				checkMessages(t, b.Msgs)
			}
			return
		}
		if len(s.batches) != 1 {
			t.Fatalf("200 with %d batches", len(s.batches))
		}
		msgs := s.batches[0].Msgs
		if a.Accepted != len(msgs) {
			t.Fatalf("accepted %d, enqueued %d", a.Accepted, len(msgs))
		}
		items, err := split(body)
		if err != nil {
			t.Fatalf("200 for a body split rejects: %v", err)
		}
		if len(msgs) > len(items) {
			t.Fatalf("%d records from %d items", len(msgs), len(items))
		}
		checkMessages(t, msgs)
	})
}

// checkMessages: every message is a valid JSON record whose event.id matches
// its header.
func checkMessages(t *testing.T, msgs []kafka.Message) {
	t.Helper()
	for _, m := range msgs {
		if !json.Valid(m.Value) {
			t.Fatalf("invalid JSON record: %s", m.Value)
		}
		meta, err := record.Peek(m.Value)
		if err != nil {
			t.Fatalf("Peek: %v: %s", err, m.Value)
		}
		if meta.EventID == "" || meta.EventID != kafkaclient.Header(m, publish.HeaderEventID) || !meta.HasTimestamp {
			t.Fatalf("event.id %q vs header %q (timestamp %v)", meta.EventID, kafkaclient.Header(m, publish.HeaderEventID), meta.HasTimestamp)
		}
	}
}

// FuzzOTLPBody posts arbitrary protobuf and JSON bodies to the OTLP paths.
// Properties: no panic; 200 or a 4xx (never a 5xx with a healthy sink); a
// 4xx enqueues nothing; on 200 every message is a valid record. Seeds:
// real export requests, their truncations and testdata/fuzz/FuzzOTLPBody.
func FuzzOTLPBody(f *testing.F) {
	logs, _ := proto.Marshal(logsRequest("a", "b"))
	f.Add(byte(0), logs)
	f.Add(byte(0), logs[:len(logs)/2])
	f.Add(byte(1), []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"`+tidHex+`","spanId":"`+sidHex+`","name":"x"}]}]}]}`))
	f.Add(byte(2), []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"kvlistValue":{"values":[{"key":"k","value":{"intValue":"7"}}]}}}]}]}]}`))
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 64 << 10
	h, s, _ := newHandler(f, cfg, "")
	f.Fuzz(func(t *testing.T, mode byte, body []byte) {
		s.batches = s.batches[:0]
		path, ct := PathLogs, "application/x-protobuf"
		if mode&1 == 1 {
			path = PathTraces
		}
		if mode&2 == 2 {
			ct = "application/json"
		}
		w := postTo(h, path, string(body), "Content-Type", ct)
		switch {
		case w.Code == http.StatusOK:
			for _, b := range s.batches {
				checkMessages(t, b.Msgs)
			}
		case w.Code >= 400 && w.Code < 500:
			if len(s.batches) != 0 {
				t.Fatalf("%d enqueued %d batches", w.Code, len(s.batches))
			}
		default:
			t.Fatalf("status %d for a bad body: %s", w.Code, w.Body)
		}
	})
}
