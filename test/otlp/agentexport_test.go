package otlp

import (
	"context"
	"encoding/pem"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/tracing"
	shipper "github.com/agentobs/agentobs/shipper/app"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
)

// The agents' export path (tracing.Setup with the otlp.* settings:
// endpoint, bearer token, https with a CA file) delivers every span to a
// running shipper and into Kafka, and counts what it exported; a wrong
// token is counted as failed and stores nothing.
func TestAgentSpanExportToShipper(t *testing.T) {
	kc := harness.RequireKafka(t)
	logs, spans, dlq := harness.Topic(t, 1), harness.Topic(t, 1), harness.Topic(t, 1)
	sc := shipper.DefaultConfig()
	sc.Host, sc.Kafka = "otlp-agent", kc
	sc.Edge.Topic, sc.Edge.DLQTopic, sc.OTLP.SpansTopic = logs, dlq, spans
	sc.Files.CheckpointDir = filepath.Join(t.TempDir(), "cp")
	sc.HTTPAddr, sc.HTTP.Ingest, sc.HTTP.Token = "127.0.0.1:0", true, "tok"
	sh, err := shipper.New(sc, shipper.Settings{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Listen(); err != nil {
		t.Fatal(err)
	}
	harness.RunStage(t, sh)

	// TLS in front of the shipper; the agent trusts it through otlp.tls.ca-file.
	target, _ := url.Parse("http://" + sh.Addr())
	front := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	defer front.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	export := func(exp tracing.OTLPExport, n int) (exported, failed float64) {
		t.Helper()
		if err := exp.Validate(); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		shutdown, err := tracing.Setup(context.Background(), tracing.Service{Name: "agent-x", InstanceID: "x-1", Component: "agent"}, exp, reg)
		if err != nil {
			t.Fatal(err)
		}
		tr := otel.Tracer("agentexport")
		for i := 0; i < n; i++ {
			ctx, root := tr.Start(context.Background(), "invoke_agent agent-x")
			_, child := tr.Start(ctx, "execute_tool search")
			child.End()
			root.End()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = shutdown(ctx) // a refused export is an error here; the counters say which
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if len(mfs) != 1 || mfs[0].GetName() != "agentobs_agent_spans_exported_total" {
			t.Fatalf("metrics %v, want agentobs_agent_spans_exported_total", mfs)
		}
		by := map[string]float64{}
		for _, m := range mfs[0].GetMetric() {
			by[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
		return by["exported"], by["failed"]
	}

	const n = 25
	ok, failed := export(tracing.OTLPExport{Endpoint: front.URL, TokenFile: tokenFile, CAFile: ca}, n)
	if ok != 2*n || failed != 0 {
		t.Fatalf("exported %v, failed %v, want %d and 0", ok, failed, 2*n)
	}
	got := harness.ConsumeAll(t, spans, 2*n, 30*time.Second)
	if len(got) != 2*n {
		t.Fatalf("%d span records in Kafka, want %d", len(got), 2*n)
	}

	ok, failed = export(tracing.OTLPExport{Endpoint: "http://" + sh.Addr(), Token: config.Secret("wrong")}, 3)
	if ok != 0 || failed != 6 {
		t.Fatalf("wrong token: exported %v, failed %v, want 0 and 6", ok, failed)
	}
	if more := harness.ConsumeAll(t, spans, 2*n+1, 3*time.Second); len(more) != 2*n {
		t.Fatalf("%d span records after the refused export, want still %d", len(more), 2*n)
	}

	bad := tracing.OTLPExport{Endpoint: "shipper:9401", Token: "x"}
	if bad.Validate() == nil {
		t.Fatal("an endpoint without a scheme was accepted")
	}
	if (tracing.OTLPExport{CAFile: ca}).Validate() == nil {
		t.Fatal("otlp.tls.ca-file without otlp.endpoint was accepted")
	}
}
