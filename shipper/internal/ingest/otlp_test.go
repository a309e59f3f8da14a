package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
)

var (
	tid = []byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	sid = []byte{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
)

const tidHex, sidHex = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

func logsRequest(bodies ...string) *collogspb.ExportLogsServiceRequest {
	var lrs []*logspb.LogRecord
	for _, b := range bodies {
		lrs = append(lrs, &logspb.LogRecord{TimeUnixNano: 1764151200123456789, SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_ERROR,
			Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: b}}, TraceId: tid, SpanId: sid})
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name",
			Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "planner"}}}}},
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: lrs}}}}}
}

func gz(t *testing.T, b []byte) string {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.String()
}

func marshal(t *testing.T, m proto.Message) string {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOTLPLogsProtobufAndJSON(t *testing.T) {
	h, s, m := newHandler(t, DefaultConfig(), "")
	body := marshal(t, logsRequest("a", "b", "a"))
	w := post(h, body, "Content-Type", "application/x-protobuf")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/x-protobuf" {
		t.Fatalf("protobuf: %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	var resp collogspb.ExportLogsServiceResponse
	if err := proto.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.PartialSuccess != nil {
		t.Fatalf("response %v %v", err, resp.PartialSuccess)
	}
	msgs := s.batches[0].Msgs
	if len(msgs) != 3 {
		t.Fatalf("%d messages", len(msgs))
	}
	first := ids(s.batches[0])
	if first[0] == first[2] {
		t.Errorf("two identical records of one export share an id")
	}
	for _, msg := range msgs {
		rec, err := record.Decode(msg.Value)
		if err != nil {
			t.Fatal(err)
		}
		if rec.TraceID != tidHex || rec.SpanID != sidHex || rec.Service != "planner" || rec.Level != record.LevelError || msg.Topic != "agentobs-logs" {
			t.Errorf("record %+v topic %s", rec, msg.Topic)
		}
	}
	// The same export, gzip'd (an SDK retry): the same ids.
	w = post(h, gz(t, []byte(body)), "Content-Type", "application/x-protobuf", "Content-Encoding", "gzip")
	if w.Code != 200 || strings.Join(ids(s.batches[1]), ",") != strings.Join(first, ",") {
		t.Fatalf("gzip retry: %d, ids %v vs %v", w.Code, ids(s.batches[1]), first)
	}
	// OTLP/JSON with hex ids, as the spec writes it.
	js := `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"planner"}}]},
	  "scopeLogs":[{"logRecords":[{"timeUnixNano":"1764151200123456789","severityNumber":17,"body":{"stringValue":"a"},
	  "traceId":"` + tidHex + `","spanId":"` + sidHex + `"}]}]}]}`
	w = post(h, js, "Content-Type", "application/json")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" || len(s.batches[2].Msgs) != 1 {
		t.Fatalf("json: %d %s", w.Code, w.Body)
	}
	if ids(s.batches[2])[0] != first[0] {
		t.Errorf("the same record as OTLP/JSON and protobuf got different ids")
	}
	if v := testutil.ToFloat64(m.OTLPReceived.WithLabelValues(shippermetrics.SignalLogs)); v != 7 {
		t.Errorf("otlp_received{logs} = %v", v)
	}
}

// Every body the shipper does not understand gets a 4xx with a reason and
// nothing is stored (issue: 200 for gzip bytes and OTLP bodies stored as
// garbage).
func TestBodiesNotUnderstoodAreRefused(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 64 << 10
	h, s, m := newHandler(t, cfg, "")
	ndjson := "{\"msg\":\"one\"}\n{\"msg\":\"two\"}\n"
	bomb := gz(t, bytes.Repeat([]byte("{\"msg\":\"x\"}\n"), 1<<20)) // 12 MB decompressed, ~25 KB on the wire
	otlpJSON := `{"resourceLogs":[]}`
	cases := []struct {
		name, path, body string
		hdr              []string
		code             int
		reason           string
	}{
		{"unknown encoding", PathLogs, ndjson, []string{"Content-Encoding", "br"}, 415, shippermetrics.RefusedUnsupportedEncoding},
		{"gzip header, plain body", PathLogs, ndjson, []string{"Content-Encoding", "gzip"}, 400, shippermetrics.RefusedBadEncoding},
		{"gzip bomb", PathNDJSON, bomb, []string{"Content-Encoding", "gzip"}, 413, shippermetrics.RefusedTooLarge},
		{"form content type", PathLogs, ndjson, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, shippermetrics.RefusedUnsupportedMedia},
		{"protobuf to ndjson", PathNDJSON, marshal(t, logsRequest("a")), []string{"Content-Type", "application/x-protobuf"}, 415, shippermetrics.RefusedUnsupportedMedia},
		{"otlp json to ndjson", PathNDJSON, otlpJSON, []string{"Content-Type", "application/json"}, 415, shippermetrics.RefusedUnsupportedMedia},
		{"garbage protobuf", PathLogs, "\xff\xff\xff\x07garbage", []string{"Content-Type", "application/x-protobuf"}, 400, shippermetrics.RefusedBadBody},
		{"bad otlp json", PathLogs, `{"resourceLogs":[{"scopeLogs":7}]}`, []string{"Content-Type", "application/json"}, 400, shippermetrics.RefusedBadBody},
		{"traces json at logs", PathLogs, `{"resourceSpans":[]}`, []string{"Content-Type", "application/json"}, 400, shippermetrics.RefusedBadBody},
		{"ndjson at traces", PathTraces, ndjson, []string{"Content-Type", "application/x-ndjson"}, 415, shippermetrics.RefusedUnsupportedMedia},
		{"text to traces", PathTraces, ndjson, nil, 415, shippermetrics.RefusedUnsupportedMedia},
	}
	for _, c := range cases {
		before := testutil.ToFloat64(m.IngestRefused.WithLabelValues(c.reason))
		w := postTo(h, c.path, c.body, c.hdr...)
		if w.Code != c.code || len(s.batches) != 0 {
			t.Errorf("%s: %d (want %d), %d batches stored: %s", c.name, w.Code, c.code, len(s.batches), w.Body)
		}
		if testutil.ToFloat64(m.IngestRefused.WithLabelValues(c.reason)) != before+1 {
			t.Errorf("%s: refused{%s} not counted", c.name, c.reason)
		}
		// The reason is in the answer: {"error":…} for NDJSON, a
		// google.rpc.Status (JSON or protobuf) for OTLP.
		var st statuspb.Status
		var a answer
		msg := ""
		if proto.Unmarshal(w.Body.Bytes(), &st) == nil && st.Message != "" {
			msg = st.Message
		} else if json.Unmarshal(w.Body.Bytes(), &a) == nil && a.Error != "" {
			msg = a.Error
		} else if json.Unmarshal(w.Body.Bytes(), &map[string]any{}) == nil {
			var js map[string]any
			_ = json.Unmarshal(w.Body.Bytes(), &js)
			msg, _ = js["message"].(string)
		}
		if msg == "" {
			t.Errorf("%s: no reason in %q", c.name, w.Body)
		}
	}
	// A gzip'd NDJSON body within bounds is decoded, not stored as bytes.
	w := postTo(h, PathNDJSON, gz(t, []byte(ndjson)), "Content-Encoding", "gzip")
	if w.Code != 200 || len(s.batches) != 1 || len(s.batches[0].Msgs) != 2 {
		t.Fatalf("gzip ndjson: %d %s", w.Code, w.Body)
	}
	rec, _ := record.Decode(s.batches[0].Msgs[0].Value)
	if rec.Message != "one" {
		t.Errorf("gzip ndjson record: %+v", rec)
	}
}

func TestOTLPTracesToSpansTopic(t *testing.T) {
	h, s, _ := newHandler(t, DefaultConfig(), "")
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name",
			Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "planner"}}}}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{
			{TraceId: tid, SpanId: sid, Name: "invoke_agent", Kind: tracepb.Span_SPAN_KIND_SERVER,
				StartTimeUnixNano: 1764151200000000000, EndTimeUnixNano: 1764151200250000000,
				Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "tool failed"}},
			{TraceId: tid, SpanId: []byte{1, 2, 3}, Name: "bad id"},
		}}}}}}
	w := postTo(h, PathTraces, marshal(t, req), "Content-Type", "application/x-protobuf")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var resp coltracepb.ExportTraceServiceResponse
	if err := proto.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.GetPartialSuccess().GetRejectedSpans() != 1 || resp.GetPartialSuccess().GetErrorMessage() == "" {
		t.Fatalf("partial success: %v %v", err, resp.PartialSuccess)
	}
	msgs := s.batches[0].Msgs
	if len(msgs) != 1 || msgs[0].Topic != "spans" || string(msgs[0].Key) != tidHex ||
		kafkaclient.Header(msgs[0], publish.HeaderEventID) != tidHex+sidHex {
		t.Fatalf("span message: %d, %+v", len(msgs), msgs)
	}
	var doc map[string]any
	_ = json.Unmarshal(msgs[0].Value, &doc)
	for k, v := range map[string]any{"span.name": "invoke_agent", "span.kind": "server", "event.duration": 250000000.0,
		"span.status.code": "error", "event.outcome": "failure", "service.name": "planner", "event.kind": "span"} {
		if doc[k] != v {
			t.Errorf("%s = %#v, want %#v (%s)", k, doc[k], v, msgs[0].Value)
		}
	}
}

func TestOTLPBackpressure(t *testing.T) {
	h, s, _ := newHandler(t, DefaultConfig(), "")
	s.full = true
	w := post(h, marshal(t, logsRequest("a")), "Content-Type", "application/x-protobuf")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("full queue: %d retry-after %q", w.Code, w.Header().Get("Retry-After"))
	}
}
