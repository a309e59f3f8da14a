package ingest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"
)

// The cost of one record through the HTTP ingest up to the queue (decode,
// map, policy, encode; the sink acknowledges at once, so Kafka is not in
// the figure): OTLP protobuf beside NDJSON of the same records.
// go test -run '^$' -bench Ingest ./shipper/internal/ingest
const benchRecords = 500

func benchBody(otlp bool) (string, string) {
	if !otlp {
		var b strings.Builder
		for i := 0; i < benchRecords; i++ {
			fmt.Fprintf(&b, `{"@timestamp":"2026-11-30T10:00:00.%09dZ","level":"info","service.name":"planner","trace_id":"%s","span_id":"%s","message":"tool call %d finished","gen_ai.request.model":"m1","seq":%d}`+"\n",
				i, tidHex, sidHex, i, i)
		}
		return b.String(), "application/x-ndjson"
	}
	req := logsRequest()
	lrs := &req.ResourceLogs[0].ScopeLogs[0].LogRecords
	for i := 0; i < benchRecords; i++ {
		*lrs = append(*lrs, &logspb.LogRecord{TimeUnixNano: 1764496800000000000 + uint64(i), SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO,
			Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf("tool call %d finished", i)}}, TraceId: tid, SpanId: sid,
			Attributes: []*commonpb.KeyValue{
				{Key: "gen_ai.request.model", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "m1"}}},
				{Key: "seq", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(i)}}}}})
	}
	b, _ := proto.Marshal(req)
	return string(b), "application/x-protobuf"
}

func benchIngest(b *testing.B, otlp bool) {
	h, s, _ := newHandler(b, DefaultConfig(), "")
	body, ct := benchBody(otlp)
	path := PathNDJSON
	if otlp {
		path = PathLogs
	}
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.batches = s.batches[:0]
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 || len(s.batches[0].Msgs) != benchRecords {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N*benchRecords)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords)/1000, "µs/record")
}

func BenchmarkIngestNDJSON(b *testing.B) { benchIngest(b, false) }
func BenchmarkIngestOTLP(b *testing.B)   { benchIngest(b, true) }
