// Package telemetry is the one place where agentobs components set up their
// own observability: the slog JSON logger, the Prometheus registry, the HTTP
// server that exposes /metrics, /healthz and /readyz, OpenTelemetry tracing,
// and the signal context that starts graceful shutdown.
package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.opentelemetry.io/otel/trace"
)

// NewLogger returns a JSON slog logger writing to w at the given level
// ("debug", "info", "warn", "error"). Records logged with a context that
// carries a span get trace_id and span_id (see TraceHandler).
func NewLogger(w io.Writer, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.TrimSpace(level))); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})
	return slog.New(TraceHandler(h)), nil
}

// MustLogger is NewLogger to stderr for main functions that have not parsed
// their configuration yet.
func MustLogger() *slog.Logger {
	l, _ := NewLogger(os.Stderr, "info")
	return l
}

// TraceHandler wraps h so that every record logged with a context holding a
// valid span carries trace_id and span_id. The ids come from the context, so
// application code never passes them by hand and cannot get them wrong.
func TraceHandler(h slog.Handler) slog.Handler { return traceHandler{h} }

type traceHandler struct{ slog.Handler }

func (t traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r = r.Clone()
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
	}
	return t.Handler.Handle(ctx, r)
}

func (t traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{t.Handler.WithAttrs(as)}
}

func (t traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{t.Handler.WithGroup(name)}
}

// SignalContext returns a context cancelled on SIGINT or SIGTERM: the start
// of every component's graceful shutdown.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
