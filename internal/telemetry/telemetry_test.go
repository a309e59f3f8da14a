package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestLoggerCarriesTraceFromContext(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	var buf bytes.Buffer
	l, err := NewLogger(&buf, "info")
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	l.InfoContext(ctx, "inside")
	span.End()
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["trace_id"] != span.SpanContext().TraceID().String() || line["span_id"] != span.SpanContext().SpanID().String() {
		t.Fatalf("line %v lacks the span's ids", line)
	}
	if _, err := NewLogger(io.Discard, "loud"); err == nil {
		t.Fatal("bad level accepted")
	}
}

func TestServerReadiness(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "agentobs_test_things_total", Help: "x"})
	reg.MustRegister(c)
	s := NewServer("127.0.0.1:0", reg, MustLogger())
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	get := func(path string) int {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if get("/healthz") != 200 || get("/readyz") != 503 || get("/metrics") != 200 {
		t.Fatal("before ready: want healthz 200, readyz 503, metrics 200")
	}
	s.SetReady(true)
	if get("/readyz") != 200 {
		t.Fatal("ready: want 200")
	}
	s.AddReadyCheck("dep", func(context.Context) error { return io.ErrUnexpectedEOF })
	if get("/readyz") != 503 {
		t.Fatal("failing check: want 503")
	}
	if err := HealthCheck("http://" + s.Addr() + "/healthz"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The readiness gauge follows /readyz on every scrape: flag, checks, drain.
func TestServerExportReadiness(t *testing.T) {
	reg := NewRegistry()
	s := NewServer("127.0.0.1:0", reg, MustLogger())
	if err := s.ExportReadiness(reg, "test"); err != nil {
		t.Fatal(err)
	}
	if err := s.ExportReadiness(reg, "test"); err == nil {
		t.Fatal("second registration on one registry accepted")
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	f := func(wantCode int, wantLine string) {
		t.Helper()
		code, _ := get("/readyz")
		_, m := get("/metrics")
		if code != wantCode || !strings.Contains(m, "\n"+wantLine+"\n") {
			t.Errorf("readyz %d (want %d); metrics lack %q", code, wantCode, wantLine)
		}
	}
	f(503, "agentobs_test_ready 0") // starting
	s.SetReady(true)
	f(200, "agentobs_test_ready 1")
	fail := atomic.Bool{}
	s.AddReadyCheck("dep", func(context.Context) error {
		if fail.Load() {
			return io.ErrUnexpectedEOF
		}
		return nil
	})
	f(200, "agentobs_test_ready 1")
	fail.Store(true)
	f(503, "agentobs_test_ready 0")
	fail.Store(false)
	s.SetReady(false) // draining
	f(503, "agentobs_test_ready 0")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
