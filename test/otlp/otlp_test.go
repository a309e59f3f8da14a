// Package otlp is the OTLP system test: the OpenTelemetry Go SDK's own
// exporters (logs and traces, HTTP and gRPC) → a running shipper → real
// Kafka → a running indexer → real Elasticsearch, counted in the indices.
package otlp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/app"
	"github.com/agentobs/agentobs/indexer/schema"
	indexertrace "github.com/agentobs/agentobs/indexer/trace"
	"github.com/agentobs/agentobs/internal/esclient"
	shipper "github.com/agentobs/agentobs/shipper/app"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestOTLPToElasticsearch(t *testing.T) {
	kc := harness.RequireKafka(t)
	es := harness.RequireES(t)
	logs, spans, dlq := harness.Topic(t, 3), harness.Topic(t, 3), harness.Topic(t, 1)
	names := schema.WithPrefix(harness.Index(t))

	sc := shipper.DefaultConfig()
	sc.Host, sc.Kafka = "otlp-e2e", kc
	sc.Edge.Topic, sc.Edge.DLQTopic, sc.OTLP.SpansTopic = logs, dlq, spans
	sc.Files.CheckpointDir = filepath.Join(t.TempDir(), "cp")
	sc.HTTPAddr, sc.HTTP.Ingest, sc.HTTP.Token, sc.OTLP.GRPCAddr = "127.0.0.1:0", true, "tok", "127.0.0.1:0"
	sh, err := shipper.New(sc, shipper.Settings{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Listen(); err != nil {
		t.Fatal(err)
	}
	harness.RunStage(t, sh)

	ic := app.DefaultConfig()
	ic.Kafka, ic.ES = kc, harness.ESConfig()
	ic.Topic, ic.SpansTopic, ic.DLQTopic, ic.Group, ic.Names = logs, spans, dlq, harness.Name(t, "g"), names
	ic.Index.Replicas, ic.HTTPAddr = 0, "127.0.0.1:0"
	ireg := prometheus.NewRegistry()
	ix, err := app.New(ic, app.Settings{Logger: quiet, Registry: ireg, ShutdownTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Listen(); err != nil {
		t.Fatal(err)
	}
	harness.RunStage(t, ix)

	ctx := context.Background()
	hdr := map[string]string{"Authorization": "Bearer tok"}
	res := resource.NewSchemaless(attribute.String("service.name", "otlp-e2e"), attribute.String("k8s.pod.name", "agent-0"))
	const n = 200

	// Logs over HTTP (gzip) and gRPC.
	lh, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(sh.Addr()), otlploghttp.WithInsecure(), otlploghttp.WithHeaders(hdr),
		otlploghttp.WithCompression(otlploghttp.GzipCompression))
	if err != nil {
		t.Fatal(err)
	}
	logBatch(t, lh, res, "http", n)
	lg, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(sh.GRPCAddr()), otlploggrpc.WithInsecure(), otlploggrpc.WithHeaders(hdr))
	if err != nil {
		t.Fatal(err)
	}
	logBatch(t, lg, res, "grpc", n)

	// An export whose answer is lost after the shipper delivered it: the
	// SDK retries the same body, and the index still holds each record once.
	target, _ := url.Parse("http://" + sh.Addr())
	rp := httputil.NewSingleHostReverseProxy(target)
	var answers atomic.Int32
	rp.ModifyResponse = func(r *http.Response) error {
		if answers.Add(1) == 1 && r.StatusCode == 200 {
			r.Body.Close()
			r.StatusCode, r.Status = 503, "503 Service Unavailable"
			r.Header.Set("Retry-After", "0")
			r.Header.Del("Content-Length")
			r.ContentLength = 0
			r.Body = io.NopCloser(strings.NewReader(""))
		}
		return nil
	}
	proxy := httptest.NewServer(rp)
	defer proxy.Close()
	lr, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(strings.TrimPrefix(proxy.URL, "http://")), otlploghttp.WithInsecure(),
		otlploghttp.WithHeaders(hdr), otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: true, InitialInterval: 50 * time.Millisecond,
			MaxInterval: 200 * time.Millisecond, MaxElapsedTime: 20 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	logBatch(t, lr, res, "retried", 50)
	if answers.Load() < 2 {
		t.Fatalf("the export was not retried (%d answers)", answers.Load())
	}

	// Bodies that are not understood: 4xx with a reason, nothing stored.
	for _, c := range []struct{ ct, enc, body string }{
		{"application/x-protobuf", "", "\xff\xff\xff\x07garbage"},
		{"application/json", "", `{"resourceLogs":[{"scopeLogs":7}]}`},
		{"application/x-protobuf", "gzip", "not gzip"},
		{"application/x-www-form-urlencoded", "", `{"msg":"form"}`},
		{"application/x-ndjson", "br", `{"msg":"brotli?"}`},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+sh.Addr()+"/v1/logs", strings.NewReader(c.body))
		req.Header.Set("Content-Type", c.ct)
		req.Header.Set("Authorization", "Bearer tok")
		if c.enc != "" {
			req.Header.Set("Content-Encoding", c.enc)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode < 400 || r.StatusCode >= 500 || len(b) == 0 {
			t.Errorf("%s %s %q: %d %q, want a 4xx with a reason", c.ct, c.enc, c.body, r.StatusCode, b)
		}
	}

	// Spans over HTTP and gRPC: a root and a child per trace.
	th, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(sh.Addr()), otlptracehttp.WithInsecure(), otlptracehttp.WithHeaders(hdr))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(sh.GRPCAddr()), otlptracegrpc.WithInsecure(), otlptracegrpc.WithHeaders(hdr))
	if err != nil {
		t.Fatal(err)
	}
	const traces = 30
	var failing trace.SpanContext
	// A log line written inside the failing span, through the logs SDK.
	le, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(sh.Addr()), otlploghttp.WithInsecure(), otlploghttp.WithHeaders(hdr))
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(le)), sdklog.WithResource(res))
	for _, exp := range []sdktrace.SpanExporter{th, tg} {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		tr := tp.Tracer("otlp-e2e")
		for i := 0; i < traces; i++ {
			c, root := tr.Start(ctx, "invoke_agent", trace.WithSpanKind(trace.SpanKindServer))
			cc, child := tr.Start(c, "execute_tool", trace.WithAttributes(attribute.String("gen_ai.tool.name", "search")))
			if i == 0 && failing.SpanID() == (trace.SpanID{}) {
				child.SetStatus(codes.Error, "tool failed")
				failing = child.SpanContext()
				var r otellog.Record
				r.SetTimestamp(time.Now())
				r.SetSeverity(otellog.SeverityError)
				r.SetBody(attribute.StringValue("search tool returned 500"))
				lp.Logger("otlp-e2e").Emit(cc, r)
			}
			child.End()
			root.End()
		}
		if err := tp.Shutdown(ctx); err != nil {
			t.Fatalf("span export: %v", err)
		}
	}

	if err := lp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	wantLogs, wantSpans := 2*n+50+1, 2*traces*2
	harness.Eventually(t, 90*time.Second, func() (bool, string) {
		l, s := count(t, es, names.Alias, nil), count(t, es, names.SpanNames().Alias, nil)
		return l >= wantLogs && s >= wantSpans, fmt.Sprintf("%d of %d log documents, %d of %d span documents", l, wantLogs, s, wantSpans)
	})
	time.Sleep(2 * time.Second) // anything extra (a duplicate, a garbage body) would land by now
	if l := count(t, es, names.Alias, nil); l != wantLogs {
		t.Errorf("%d log documents, want %d", l, wantLogs)
	}
	if s := count(t, es, names.SpanNames().Alias, nil); s != wantSpans {
		t.Errorf("%d span documents, want %d", s, wantSpans)
	}
	if c := count(t, es, names.Alias, map[string]any{"term": map[string]any{"source": "retried"}}); c != 50 {
		t.Errorf("retried export: %d documents, want 50", c)
	}
	if c := count(t, es, names.Alias, map[string]any{"term": map[string]any{"k8s.pod.name": "agent-0"}}); c != wantLogs {
		t.Errorf("resource attribute k8s.pod.name on %d of %d documents", c, wantLogs)
	}
	// The span pipeline counts spans by service and status (the error-span
	// alerts' input), and not as log records.
	spanCount := func(status string) float64 {
		return testutil.ToFloat64(ix.Metrics().Span.Spans.WithLabelValues("otlp-e2e", status))
	}
	if e, u := spanCount("error"), spanCount("unset"); e != 1 || u != float64(wantSpans-1) {
		t.Errorf("agentobs_indexer_spans_total{service=otlp-e2e}: error %v, unset %v, want 1 and %d", e, u, wantSpans-1)
	}
	// The ingestion latency SLI observes each log record created, never a
	// span (a span's @timestamp is its start: in the demo the agents'
	// spans, 2 % of the documents, were its whole p99).
	var lat dto.Metric
	if err := ix.Metrics().E2ELatency.(prometheus.Metric).Write(&lat); err != nil {
		t.Fatal(err)
	}
	if got := lat.GetHistogram().GetSampleCount(); got != uint64(wantLogs) {
		t.Errorf("agentobs_indexer_e2e_latency_seconds observed %d times, want the %d log records created (no span)", got, wantLogs)
	}
	// records_total counts consumed records, the retried export's copies
	// too, but no span: fewer than logs + spans.
	if r := testutil.ToFloat64(ix.Metrics().Records.WithLabelValues("otlp-e2e")); r < float64(wantLogs) || r >= float64(wantLogs+wantSpans) {
		t.Errorf("agentobs_indexer_records_total{service=otlp-e2e} %v, want the %d log records (and retried copies) only", r, wantLogs)
	}
	sp := fetchOne(t, es, names.SpanNames().Alias, "span.id", failing.SpanID().String())
	if sp["trace.id"] != failing.TraceID().String() || sp["span.status.code"] != "error" || sp["span.name"] != "execute_tool" ||
		sp["parent.id"] == nil || sp["gen_ai.tool.name"] != "search" || sp["service.name"] != "otlp-e2e" {
		t.Errorf("failing span document: %v", sp)
	}

	// The trace lookup: the span tree with the log line under its span,
	// the error and the critical path.
	v, err := ix.Store().Trace(ctx, failing.TraceID().String(), indexertrace.Page{})
	if err != nil {
		t.Fatal(err)
	}
	tree := v.Spans
	if tree == nil || tree.SpanCount != 2 || len(tree.Roots) != 1 || tree.Root != "otlp-e2e: invoke_agent" || tree.Unplaced != 0 {
		t.Fatalf("span tree: %+v", tree)
	}
	root := tree.Roots[0]
	if len(root.Children) != 1 || root.Children[0].SpanID != failing.SpanID().String() || !root.Children[0].Error ||
		len(root.Children[0].Records) != 1 || len(tree.Errors) != 1 || len(tree.Critical) != 2 || !root.Critical {
		t.Fatalf("span tree: root %+v, child %+v, errors %v, critical %v", root, root.Children, tree.Errors, tree.Critical)
	}
	// The per-trace summaries count spans: the failing trace (one log line,
	// two spans, one failed) and a trace with spans only, which gets a
	// summary of its own and is listed as failing by its error span.
	var other string
	for _, id := range spanTraceIDs(t, es, names.SpanNames().Alias) {
		if id != failing.TraceID().String() {
			other = id
			break
		}
	}
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		a, errA := ix.Store().Trace(ctx, failing.TraceID().String(), indexertrace.Page{})
		b, errB := ix.Store().Trace(ctx, other, indexertrace.Page{})
		if errA != nil || errB != nil || a.Summary == nil || b.Summary == nil {
			return false, fmt.Sprintf("summaries not written yet (%v, %v)", errA, errB)
		}
		sa, sb := a.Summary, b.Summary
		ok := sa.SpanCount == 2 && sa.ErrorSpanCount == 1 && sa.RootSpan == "otlp-e2e: invoke_agent" && sa.RecordCount == 1 &&
			sb.SpanCount == 2 && sb.ErrorSpanCount == 0 && sb.RecordCount == 0 && sb.RootSpan == "otlp-e2e: invoke_agent" &&
			slices.Equal(sb.Services, []string{"otlp-e2e"}) && sb.DurationMS > 0
		return ok, fmt.Sprintf("failing trace summary %+v, span-only trace summary %+v", *sa, *sb)
	})
	// The list is a search: the summary read above by id becomes
	// searchable at the next refresh.
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		failingList, err := ix.Store().List(ctx, indexertrace.ListQuery{Errors: true, Limit: 100})
		if err != nil {
			return false, err.Error()
		}
		found := slices.ContainsFunc(failingList, func(s indexertrace.Summary) bool { return s.TraceID == failing.TraceID().String() })
		return found, fmt.Sprintf("the failing trace is not in the error trace list (%d traces)", len(failingList))
	})
	v, err = ix.Store().Trace(ctx, failing.TraceID().String(), indexertrace.Page{})
	if err != nil {
		t.Fatal(err)
	}

	var tl strings.Builder
	indexertrace.WriteTimeline(&tl, v)
	if !strings.Contains(tl.String(), "search tool returned 500") || !strings.Contains(tl.String(), "execute_tool") ||
		!strings.Contains(tl.String(), "spans=2 error_spans=1") {
		t.Errorf("timeline:\n%s", tl.String())
	}
	t.Logf("timeline:\n%s", tl.String())
}

// logBatch emits n records with seq and source attributes through exp and
// shuts the provider down (which exports everything).
func logBatch(t *testing.T, exp sdklog.Exporter, res *resource.Resource, source string, n int) {
	t.Helper()
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)), sdklog.WithResource(res))
	l := lp.Logger("otlp-e2e")
	for i := 1; i <= n; i++ {
		var r otellog.Record
		r.SetTimestamp(time.Now())
		r.SetSeverity(otellog.SeverityInfo)
		r.SetBody(attribute.StringValue(fmt.Sprintf("%s record %d", source, i)))
		r.AddAttributes(attribute.Int("seq", i), attribute.String("source", source))
		l.Emit(context.Background(), r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatalf("%s: export: %v", source, err)
	}
}

// spanTraceIDs are the trace ids of the stored spans.
func spanTraceIDs(t *testing.T, es *elasticsearch.Client, alias string) []string {
	t.Helper()
	var out struct {
		Aggregations struct {
			T struct{ Buckets []struct{ Key string } }
		}
	}
	search(t, es, "/"+alias+"/_search", map[string]any{"size": 0, "aggs": map[string]any{"t": map[string]any{"terms": map[string]any{"field": "trace.id", "size": 100}}}}, &out)
	var ids []string
	for _, b := range out.Aggregations.T.Buckets {
		ids = append(ids, b.Key)
	}
	return ids
}

func count(t *testing.T, es *elasticsearch.Client, alias string, q any) int {
	t.Helper()
	if r, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(alias), es.Indices.Refresh.WithAllowNoIndices(true)); err == nil {
		r.Body.Close()
	}
	if q == nil {
		q = map[string]any{"match_all": map[string]any{}}
	}
	var out struct{ Count int }
	// A daily index the indexer has just created answers 503
	// no_shard_available until its shard started: retried, not fatal.
	var err error
	for try := 0; try < 20; try++ {
		if err = esclient.Do(context.Background(), es, http.MethodPost, "/"+alias+"/_count?ignore_unavailable=true&allow_no_indices=true", map[string]any{"query": q}, &out); err == nil {
			return out.Count
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("count %s: %v", alias, err)
	return 0
}

func fetchOne(t *testing.T, es *elasticsearch.Client, alias, field, value string) map[string]any {
	t.Helper()
	var out struct {
		Hits struct {
			Hits []struct {
				Source map[string]any `json:"_source"`
			}
		}
	}
	search(t, es, "/"+alias+"/_search", map[string]any{"query": map[string]any{"term": map[string]any{field: value}}}, &out)
	if len(out.Hits.Hits) != 1 {
		t.Fatalf("%s=%s: %d documents, want 1", field, value, len(out.Hits.Hits))
	}
	return out.Hits.Hits[0].Source
}

func search(t *testing.T, es *elasticsearch.Client, path string, q, out any) {
	t.Helper()
	if err := esclient.Do(context.Background(), es, http.MethodPost, path, q, out); err != nil {
		t.Fatal(err)
	}
}
