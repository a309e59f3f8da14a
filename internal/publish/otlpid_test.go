package publish

import (
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
)

func TestOTLPIDs(t *testing.T) {
	svc := func(name string) *resourcepb.Resource {
		return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name",
			Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: name}}}}}
	}
	lr := &logspb.LogRecord{TimeUnixNano: 5, Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "x"}}}
	export := func() []string {
		var ids OTLPIDs
		return []string{ids.Next(svc("a"), nil, lr), ids.Next(svc("a"), nil, lr), ids.Next(svc("b"), nil, lr),
			ids.Next((*resourcepb.Resource)(nil), (*commonpb.InstrumentationScope)(nil), lr)}
	}
	first := export()
	seen := map[string]bool{}
	for _, id := range first {
		if seen[id] || len(id) != 32 {
			t.Fatalf("identical records, another resource or no resource share an id: %v", first)
		}
		seen[id] = true
	}
	// The same export again (an SDK retry): the same ids.
	if again := export(); again[0] != first[0] || again[1] != first[1] || again[2] != first[2] || again[3] != first[3] {
		t.Fatalf("retry got other ids: %v vs %v", again, first)
	}
	// Pinned: the scheme must never change silently (records replayed
	// across an upgrade would be duplicated).
	if first[0] != pinnedOTLP {
		t.Fatalf("OTLP event.id scheme changed: %s, pinned %s", first[0], pinnedOTLP)
	}
	if SpanEventID("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7") != "4bf92f3577b34da6a3ce929d0e0e473600f067aa0ba902b7" {
		t.Fatal("span event.id is not trace id + span id")
	}
}

const pinnedOTLP = "7ce4951cfb90ec1d558bd7f1285136d4"
