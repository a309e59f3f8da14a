package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/test/harness"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// emitLogs sends seq from..to through a logger provider with exp and
// flushes it: what the exporter was given is everything.
func emitLogs(t *testing.T, exp sdklog.Exporter, from, to int) {
	t.Helper()
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(exp, sdklog.WithExportMaxBatchSize(64))),
		sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", "otlp-test"), attribute.String("host.name", "h1"))))
	l := lp.Logger("agentobs.test")
	for i := from; i <= to; i++ {
		var r otellog.Record
		r.SetTimestamp(time.Now())
		r.SetSeverity(otellog.SeverityInfo)
		r.SetBody(attribute.StringValue(fmt.Sprintf("line %d", i)))
		r.AddAttributes(attribute.Int("seq", i), attribute.String("gen_ai.request.model", "m1"))
		l.Emit(context.Background(), r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatalf("logger provider shutdown (export): %v", err)
	}
}

func emitSpans(t *testing.T, exp sdktrace.SpanExporter, n int) {
	t.Helper()
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "otlp-test"))))
	tr := tp.Tracer("agentobs.test")
	for i := 0; i < n; i++ {
		ctx, root := tr.Start(context.Background(), "invoke_agent")
		_, child := tr.Start(ctx, "execute_tool")
		child.End()
		root.End()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("tracer provider shutdown (export): %v", err)
	}
}

// The OpenTelemetry Go SDK's own OTLP exporters (logs and traces, HTTP and
// gRPC) against a running shipper and real Kafka: N sent → N records with N
// distinct event.ids, spans on the spans topic.
func TestOTLPExportersToKafka(t *testing.T) {
	brokers := harness.RequireKafka(t).Brokers
	topic, spans := harness.Topic(t, 1), harness.Topic(t, 1)
	cfg := testConfig(t, brokers, topic)
	cfg.HTTP.Ingest, cfg.HTTP.Token = true, "tok"
	cfg.OTLP.GRPCAddr, cfg.OTLP.SpansTopic = "127.0.0.1:0", spans
	a, _, stop := startApp(t, cfg)
	defer stop()
	hdr := map[string]string{"Authorization": "Bearer tok"}
	ctx := context.Background()
	const n = 300

	lh, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(a.Addr()), otlploghttp.WithInsecure(), otlploghttp.WithHeaders(hdr),
		otlploghttp.WithCompression(otlploghttp.GzipCompression))
	if err != nil {
		t.Fatal(err)
	}
	emitLogs(t, lh, 1, n)
	lg, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(a.GRPCAddr()), otlploggrpc.WithInsecure(), otlploggrpc.WithHeaders(hdr))
	if err != nil {
		t.Fatal(err)
	}
	emitLogs(t, lg, n+1, 2*n)
	ta := check(t, consume(t, brokers, topic, 2*n, 60*time.Second), 2*n)
	if ta.records != 2*n || len(ta.ids) != 2*n || len(ta.missing) != 0 || ta.duplicates != 0 {
		t.Fatalf("logs: %s", ta)
	}

	th, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(a.Addr()), otlptracehttp.WithInsecure(), otlptracehttp.WithHeaders(hdr))
	if err != nil {
		t.Fatal(err)
	}
	emitSpans(t, th, 50)
	tg, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(a.GRPCAddr()), otlptracegrpc.WithInsecure(), otlptracegrpc.WithHeaders(hdr))
	if err != nil {
		t.Fatal(err)
	}
	emitSpans(t, tg, 50)
	msgs := consume(t, brokers, spans, 200, 60*time.Second)
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[kafkaclient.Header(m, publish.HeaderEventID)] = true
		if !bytes.Contains(m.Value, []byte(`"event.kind":"span"`)) {
			t.Fatalf("not a span record: %s", m.Value)
		}
	}
	if len(msgs) != 200 || len(ids) != 200 {
		t.Fatalf("spans: %d messages, %d ids, want 200", len(msgs), len(ids))
	}

	// A wrong token is refused on both transports, and nothing is stored.
	bad, _ := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(a.GRPCAddr()), otlploggrpc.WithInsecure(),
		otlploggrpc.WithHeaders(map[string]string{"Authorization": "Bearer nope"}), otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false}))
	var r otellog.Record
	r.SetBody(attribute.StringValue("x"))
	if err := bad.Export(ctx, []sdklog.Record{sdkRecord(r)}); err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
		t.Errorf("gRPC with a wrong token: %v", err)
	}
}

// sdkRecord builds an SDK record for a direct Export call.
func sdkRecord(r otellog.Record) sdklog.Record {
	var out sdklog.Record
	exp := &captureExporter{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
	lp.Logger("x").Emit(context.Background(), r)
	if len(exp.recs) > 0 {
		out = exp.recs[0]
	}
	return out
}

type captureExporter struct{ recs []sdklog.Record }

func (c *captureExporter) Export(_ context.Context, recs []sdklog.Record) error {
	for _, r := range recs {
		c.recs = append(c.recs, r.Clone())
	}
	return nil
}
func (c *captureExporter) Shutdown(context.Context) error   { return nil }
func (c *captureExporter) ForceFlush(context.Context) error { return nil }

// An export whose answer is lost (the shipper delivered it, the client saw
// a 503) is retried by the SDK with the same body: the records keep their
// event.ids, so the index holds each once.
func TestOTLPRetriedExportKeepsIDs(t *testing.T) {
	brokers := harness.RequireKafka(t).Brokers
	topic := harness.Topic(t, 1)
	cfg := testConfig(t, brokers, topic)
	cfg.HTTP.Ingest = true
	a, _, stop := startApp(t, cfg)
	defer stop()
	target, _ := url.Parse("http://" + a.Addr())
	rp := httputil.NewSingleHostReverseProxy(target)
	var lost atomic.Int32
	rp.ModifyResponse = func(res *http.Response) error {
		if res.StatusCode == 200 && lost.Add(1) == 1 {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			res.StatusCode, res.Status = 503, "503 Service Unavailable"
			res.Header.Set("Retry-After", "0")
			res.Body = io.NopCloser(strings.NewReader(""))
			res.ContentLength = 0
			res.Header.Del("Content-Length")
		}
		return nil
	}
	proxy := httptest.NewServer(rp)
	defer proxy.Close()
	const n = 40
	exp, err := otlploghttp.New(context.Background(), otlploghttp.WithEndpoint(strings.TrimPrefix(proxy.URL, "http://")), otlploghttp.WithInsecure(),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: true, InitialInterval: 50 * time.Millisecond, MaxInterval: 200 * time.Millisecond, MaxElapsedTime: 20 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	emitLogs(t, exp, 1, n)
	if lost.Load() < 2 {
		t.Fatalf("the SDK did not retry (%d answers)", lost.Load())
	}
	msgs := consume(t, brokers, topic, 2*n, 60*time.Second)
	ta := check(t, msgs, n)
	if ta.records != 2*n || len(ta.ids) != n || len(ta.missing) != 0 || len(ta.conflicts) != 0 {
		t.Fatalf("want %d records (one export twice) under %d event.ids: %s", 2*n, n, ta)
	}
}
