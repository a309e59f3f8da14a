// Package tracing sets up a process's OpenTelemetry traces: the tracer
// provider, the W3C propagators and the OTLP/HTTP span export with its
// counters. It is apart from telemetry (logs, metrics, the HTTP server) so
// that what does not trace, such as the collector plugin inside Fluent
// Bit, does not link the OTel SDK, the exporter and gRPC: 5.5 MB of code
// and about 3.5 MiB of resident pages in every Fluent Bit process.
package tracing

import (
	"context"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Service identifies the process on its spans (OTel resource attributes).
type Service struct {
	Name       string               // service.name
	InstanceID string               // service.instance.id
	Version    string               // service.version; omitted when empty
	Attributes []attribute.KeyValue // further resource attributes
	// Component names the metric of exported spans:
	// agentobs_<component>_spans_exported_total. Default "" counts nothing.
	Component string
}

// Setup installs the global tracer provider and the W3C TraceContext
// and Baggage propagators. Spans are exported over OTLP/HTTP to
// exp.Endpoint, else when the standard OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (every other OTEL_* variable is
// honoured by the exporter); without either, spans are still created, so
// trace ids reach the logs, but not exported. Exported and failed spans are
// counted on reg (when svc.Component is set). Extra span processors (tests
// pass an in-memory exporter) may be given.
func Setup(ctx context.Context, svc Service, exp OTLPExport, reg prometheus.Registerer, extra ...sdktrace.SpanProcessor) (func(context.Context) error, error) {
	attrs := []attribute.KeyValue{semconv.ServiceName(svc.Name), semconv.ServiceInstanceID(svc.InstanceID)}
	if svc.Version != "" {
		attrs = append(attrs, semconv.ServiceVersion(svc.Version))
	}
	attrs = append(attrs, svc.Attributes...)
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL, attrs...))
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	var se sdktrace.SpanExporter
	switch {
	case exp.Endpoint != "":
		if se, err = exp.exporter(ctx); err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
	case os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "":
		if se, err = otlptracehttp.New(ctx); err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
	}
	if svc.Component != "" { // registered (at 0) even without an exporter, like every agentobs metric
		ok, failed, err := SpanExportCounters(reg, svc.Component)
		if err != nil {
			return nil, err
		}
		if se != nil {
			se = countingExporter{SpanExporter: se, exported: ok, failed: failed}
		}
	}
	if se != nil {
		opts = append(opts, sdktrace.WithBatcher(se))
	}
	for _, p := range extra {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, nil
}
