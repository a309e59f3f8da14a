package telemetry

import (
	"fmt"
	"log/slog"
	"net"
)

// Bind is a TCP listen address bound once. Binding before serving lets main
// fail fast on a taken port and lets tests use ":0" and read the port back.
// The HTTP Server and the shipper's OTLP/gRPC receiver share it.
type Bind struct {
	addr   string
	logger *slog.Logger
	ln     net.Listener
}

// NewBind prepares addr ("" disables: Listen does nothing).
func NewBind(addr string, logger *slog.Logger) *Bind { return &Bind{addr: addr, logger: logger} }

// Listen binds the address; a second call does nothing.
func (b *Bind) Listen() error {
	if b.addr == "" || b.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", b.addr, err)
	}
	b.ln = ln
	b.logger.Info("listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the bound address (after Listen), or "".
func (b *Bind) Addr() string {
	if b.ln == nil {
		return ""
	}
	return b.ln.Addr().String()
}

// Listener is the bound listener, nil before Listen or when disabled.
func (b *Bind) Listener() net.Listener { return b.ln }
