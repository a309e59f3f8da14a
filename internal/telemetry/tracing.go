package telemetry

import (
	"context"
	"fmt"
	"os"

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
}

// SetupTracing installs the global tracer provider and the W3C TraceContext
// and Baggage propagators. Spans are exported over OTLP/HTTP when the
// standard OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// is set (every other OTEL_* variable is honoured by the exporter); without
// it spans are still created, so trace ids reach the logs, but not exported.
// Extra span processors (tests pass an in-memory exporter) may be given.
func SetupTracing(ctx context.Context, svc Service, extra ...sdktrace.SpanProcessor) (func(context.Context) error, error) {
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
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	for _, p := range extra {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, nil
}
