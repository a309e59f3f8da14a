package ingest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/shipper/internal/queue"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Receiver is the OTLP receiver (https://opentelemetry.io/docs/specs/otlp/):
// export requests of logs and traces, decoded with the OpenTelemetry
// project's own protobuf types, become canonical records (logs → the logs
// topic, spans → the spans topic) through the same builder, edge stage,
// queue and producer as every other input. It answers success only after
// Kafka acknowledged every record of the request. The HTTP transport is in
// Handler, the gRPC one in grpc.go.
//
// event.id: a log record's is derived from its resource, scope and own
// protobuf bytes (record.OTLPEventID), a span's from its trace and span id,
// so an export the SDK retries after a timeout lands once in Elasticsearch.
type Receiver struct {
	cfg Config
	set Settings
}

// NewReceiver builds the receiver.
func NewReceiver(cfg Config, set Settings) *Receiver { return &Receiver{cfg: cfg, set: set} }

// exported is the outcome of one export request.
type exported struct {
	accepted int
	rejected int64
	why      string
}

// exportLogs turns the request into one batch for the logs topic and waits
// for Kafka.
func (o *Receiver) exportLogs(ctx context.Context, req *collogspb.ExportLogsServiceRequest) (exported, *refusal) {
	p := record.NewParser(record.ParseOptions{DefaultService: o.set.DefaultService})
	st := o.set.logStamp()
	defer st.done()
	bd := queue.NewBuilder(p, st.edge, "otlp", shippermetrics.InputOTLP, map[string]any{record.FieldSource: "otlp"}, o.set.Metrics, 0)
	var ids publish.OTLPIDs
	n := 0
	for _, rl := range req.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			for _, lr := range sl.GetLogRecords() {
				rec := bd.Record()
				p.FromOTLPLog(rl.GetResource(), sl.GetScope(), lr, rec)
				rec.EventID = ids.Next(rl.GetResource(), sl.GetScope(), lr)
				bd.Emit(int64(n))
				n++
			}
		}
	}
	o.set.Metrics.OTLPReceived.WithLabelValues(shippermetrics.SignalLogs).Add(float64(n))
	return o.send(ctx, st, bd, 0, "")
}

// exportTraces turns the request into one batch for the spans topic; spans
// without a valid trace and span id are rejected (partial success).
func (o *Receiver) exportTraces(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (exported, *refusal) {
	bd := queue.NewBuilder(nil, o.set.SpansEdge, "otlp", shippermetrics.InputOTLP, map[string]any{record.FieldSource: "otlp"}, o.set.Metrics, 0)
	n, bad := 0, int64(0)
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				n++
				rec := bd.Record()
				if err := record.FromOTLPSpan(rs.GetResource(), ss.GetScope(), sp, o.set.DefaultService, rec); err != nil {
					bad++
					continue
				}
				rec.EventID = publish.SpanEventID(rec.TraceID, rec.SpanID)
				bd.Emit(int64(n))
			}
		}
	}
	o.set.Metrics.OTLPReceived.WithLabelValues(shippermetrics.SignalSpans).Add(float64(n))
	why := ""
	if bad > 0 {
		why = fmt.Sprintf("%d spans without a valid trace id and span id (16 and 8 bytes, not all zero) were not stored", bad)
	}
	return o.send(ctx, stamp{edge: o.set.SpansEdge}, bd, bad, why)
}

// send delivers the batch; records the edge addressed to the dead-letter
// topic (over record.max-bytes with record.oversize=dlq) are reported as
// rejected: they are kept, but not where the client sent them.
func (o *Receiver) send(ctx context.Context, st stamp, bd *queue.Builder, rejected int64, why string) (exported, *refusal) {
	var lane uint64
	if o.set.Lane != nil {
		lane = o.set.Lane()
	}
	b := bd.Take()
	b.Lane = lane
	dead := int64(0)
	for _, m := range b.Msgs {
		if kafkaclient.Header(m, kafkaclient.HeaderDLQReason) != "" {
			dead++
		}
	}
	if dead > 0 {
		if why != "" {
			why += "; "
		}
		why += fmt.Sprintf("%d records over record.max-bytes went to the dead-letter topic", dead)
	}
	if len(b.Msgs) > 0 {
		if ref := deliver(ctx, o.set.Sink, st, b, newPending(len(b.Msgs)), o.cfg, http.StatusTooManyRequests); ref != nil {
			return exported{}, ref
		}
	}
	return exported{accepted: len(b.Msgs) - int(dead), rejected: rejected + dead, why: why}, nil
}

// unmarshal decodes an OTLP/HTTP body: binary protobuf or OTLP/JSON (hex
// ids, enum names or numbers; unknown fields are ignored as the spec
// requires of receivers).
func unmarshal(body []byte, isProto bool, m proto.Message) *refusal {
	var err error
	if isProto {
		err = proto.Unmarshal(body, m)
	} else {
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(otlpJSONToProtoJSON(body), m)
	}
	if err != nil {
		return refuse(http.StatusBadRequest, shippermetrics.RefusedBadBody, "not an OTLP %s body: %v", encName(isProto), err)
	}
	return nil
}

func encName(isProto bool) string {
	if isProto {
		return "protobuf"
	}
	return "JSON"
}

func (o *Receiver) logsHTTP(ctx context.Context, body []byte, isProto bool) result {
	var req collogspb.ExportLogsServiceRequest
	if ref := unmarshal(body, isProto, &req); ref != nil {
		return result{refusal: ref}
	}
	ex, ref := o.exportLogs(ctx, &req)
	return result{refusal: ref, accepted: ex.accepted, rejected: ex.rejected, partial: ex.why, signal: shippermetrics.SignalLogs}
}

func (o *Receiver) tracesHTTP(ctx context.Context, body []byte, isProto bool) result {
	var req coltracepb.ExportTraceServiceRequest
	if ref := unmarshal(body, isProto, &req); ref != nil {
		return result{refusal: ref}
	}
	ex, ref := o.exportTraces(ctx, &req)
	return result{refusal: ref, accepted: ex.accepted, rejected: ex.rejected, partial: ex.why, signal: shippermetrics.SignalSpans}
}

// writeHTTP answers in the request's encoding: an Export*ServiceResponse
// (with partial_success when something was rejected) on success, a
// google.rpc.Status otherwise; 429 and 503 carry Retry-After, which OTel
// SDKs honour.
func (o *Receiver) writeHTTP(w http.ResponseWriter, isProto bool, res result) {
	var msg proto.Message
	if res.refusal != nil {
		msg = &statuspb.Status{Code: int32(grpcCode(res.refusal.code)), Message: res.refusal.msg}
	} else if res.signal == shippermetrics.SignalSpans {
		r := &coltracepb.ExportTraceServiceResponse{}
		if res.rejected > 0 {
			r.PartialSuccess = &coltracepb.ExportTracePartialSuccess{RejectedSpans: res.rejected, ErrorMessage: res.partial}
		}
		msg = r
	} else {
		r := &collogspb.ExportLogsServiceResponse{}
		if res.rejected > 0 {
			r.PartialSuccess = &collogspb.ExportLogsPartialSuccess{RejectedLogRecords: res.rejected, ErrorMessage: res.partial}
		}
		msg = r
	}
	var out []byte
	if isProto {
		out, _ = proto.Marshal(msg)
		w.Header().Set("Content-Type", mediaProtobuf)
	} else {
		out, _ = protojson.Marshal(msg)
		w.Header().Set("Content-Type", mediaJSON)
	}
	code := res.code()
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(code)
	_, _ = w.Write(out)
}

// grpcCode maps an HTTP status of a refusal to the gRPC code the OTLP
// specification pairs it with.
func grpcCode(httpCode int) codes.Code {
	switch httpCode {
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusRequestEntityTooLarge:
		return codes.ResourceExhausted
	}
	return codes.InvalidArgument
}

// otlpJSONToProtoJSON adapts an OTLP/JSON body to the protobuf JSON mapping
// protojson reads. OTLP/JSON deviates from it in one documented point
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): trace
// and span ids are hex strings, not base64. Everything else (lowerCamelCase
// or original field names, enums as numbers, 64-bit integers as strings) is
// the protobuf JSON mapping already. A body that is not JSON is returned as
// it is, for protojson to report.
func otlpJSONToProtoJSON(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || !hexIDsToBase64(v, 0) {
		return body
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

// hexIDsToBase64 rewrites every id field it finds; it reports whether it
// changed anything.
func hexIDsToBase64(v any, depth int) bool {
	if depth > 64 {
		return false
	}
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch k {
			case "traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id":
				if s, ok := e.(string); ok && (len(s) == 32 || len(s) == 16) {
					if b, err := hex.DecodeString(s); err == nil {
						x[k] = base64.StdEncoding.EncodeToString(b)
						changed = true
					}
				}
			default:
				changed = hexIDsToBase64(e, depth+1) || changed
			}
		}
	case []any:
		for _, e := range x {
			changed = hexIDsToBase64(e, depth+1) || changed
		}
	}
	return changed
}
