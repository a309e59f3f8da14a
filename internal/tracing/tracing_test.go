package tracing

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The service's name, instance and release travel on every span as
// resource attributes.
func TestSetupStampsTheService(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	shutdown, err := Setup(context.Background(), Service{Name: "svc", InstanceID: "i-1", Version: "1.2.3"}, OTLPExport{}, nil, sdktrace.NewSimpleSpanProcessor(exp))
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	defer shutdown(context.Background())
	_, span := otel.Tracer("t").Start(context.Background(), "op")
	span.End()
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans exported, want 1", len(spans))
	}
	got := map[string]string{}
	for _, kv := range spans[0].Resource.Attributes() {
		got[string(kv.Key)] = kv.Value.Emit()
	}
	if got["service.name"] != "svc" || got["service.instance.id"] != "i-1" || got["service.version"] != "1.2.3" {
		t.Fatalf("span resource %v lacks service.name, service.instance.id and service.version", got)
	}
}
