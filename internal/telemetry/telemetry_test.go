package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// A connection that never sent a request (an HTTP client's spare) does not
// make the shutdown fail; a request still running when the grace ends does.
func TestServerShutdownGrace(t *testing.T) {
	start := func(t *testing.T) (*Server, context.CancelFunc, chan error) {
		s := NewServer("127.0.0.1:0", NewRegistry(), MustLogger())
		s.grace = 300 * time.Millisecond
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		s.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		if err := s.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		return s, cancel, done
	}
	t.Run("spare connection", func(t *testing.T) {
		s, cancel, done := start(t)
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		time.Sleep(50 * time.Millisecond) // accepted, no request
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("shutdown with a connection that sent nothing: %v", err)
		}
	})
	t.Run("request running", func(t *testing.T) {
		s, cancel, done := start(t)
		go http.Get("http://" + s.Addr() + "/slow")
		for deadline := time.Now().Add(5 * time.Second); len(s.slots) == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the slow request never reached its handler")
			}
		}
		cancel()
		err := <-done
		if err == nil || !strings.Contains(err.Error(), "1 requests still running") {
			t.Fatalf("shutdown cutting off a running request: got %v", err)
		}
	})
}
