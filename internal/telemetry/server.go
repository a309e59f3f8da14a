package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go runtime and process collectors,
// so every component exports its memory and CPU the same way.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// ReadyCheck reports whether a dependency lets the component do its job.
type ReadyCheck func(ctx context.Context) error

// Server is the operational HTTP endpoint of a component: /metrics,
// /healthz (the process is alive), /readyz (it can do its job now), and
// /debug/pprof when enabled. Components add their own routes with Handle.
type Server struct {
	*Bind  // Listen, Addr
	mux    *http.ServeMux
	logger *slog.Logger
	ready  atomic.Bool

	mu     sync.Mutex
	checks map[string]ReadyCheck

	limits   Limits
	grace    time.Duration // how long Run's shutdown waits for requests in flight
	rejected *prometheus.CounterVec
	slots    chan struct{} // one per request in flight on a component route
}

// NewServer builds the server; nothing listens until Listen or Run.
func NewServer(addr string, reg *prometheus.Registry, logger *slog.Logger) *Server {
	l := logger.With("component", "http")
	s := &Server{Bind: NewBind(addr, l), mux: http.NewServeMux(), logger: l, checks: map[string]ReadyCheck{}, grace: shutdownGrace}
	// Default limits until SetLimits (whose counter is registered).
	s.limits = DefaultLimits()
	s.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unregistered"}, []string{"reason"})
	s.slots = make(chan struct{}, s.limits.MaxRequests)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: reg}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	return s
}

// EnablePprof mounts net/http/pprof under /debug/pprof/.
func (s *Server) EnablePprof() {
	s.mux.HandleFunc("/debug/pprof/", pprof.Index)
	s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// Handle adds a route (Go 1.22 patterns, e.g. "POST /v1/logs"), served
// under the server's Limits (requests at once, body read timeout).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, s.limit(h)) }

// SetReady flips readiness; /readyz answers 503 until it is true and every
// check passes.
func (s *Server) SetReady(v bool) { s.ready.Store(v) }

// AddReadyCheck adds a named dependency check run on every /readyz.
func (s *Server) AddReadyCheck(name string, c ReadyCheck) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// readyTimeout bounds the ready checks of one /readyz request or one
// scrape of the readiness gauge.
const readyTimeout = 2 * time.Second

// Ready runs what /readyz answers: nil when the server was set ready and
// every check passes, else the first problem.
func (s *Server) Ready(ctx context.Context) error {
	if !s.ready.Load() {
		return errors.New("starting or draining")
	}
	s.mu.Lock()
	checks := make(map[string]ReadyCheck, len(s.checks))
	for k, v := range s.checks {
		checks[k] = v
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for name, c := range checks {
		if err := c(ctx); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.Ready(r.Context()); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// ExportReadiness registers the gauge agentobs_<component>_ready on reg: 1
// when /readyz would answer 200, else 0. It is a GaugeFunc, so each scrape
// runs the same checks as /readyz (bounded by the same timeout) and no
// goroutine keeps it up to date; a Prometheus scrape sees exactly what a
// Kubernetes readiness probe would see at that moment. Register it once per
// registry: a second call on the same registry returns the registration
// error.
func (s *Server) ExportReadiness(reg prometheus.Registerer, component string) error {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: ReadinessMetric(component),
		Help: "1 when the component is ready to do its job (/readyz answers 200: started, not draining, every dependency check passes), else 0.",
	}, func() float64 {
		if s.Ready(context.Background()) != nil {
			return 0
		}
		return 1
	})
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("readiness metric: %w", err)
	}
	return nil
}

// ReadinessMetric is the name of the gauge ExportReadiness registers.
func ReadinessMetric(component string) string { return "agentobs_" + component + "_ready" }

// shutdownGrace is how long Run gives requests in flight once its context
// is done.
const shutdownGrace = 5 * time.Second

// Run serves until ctx is done, then shuts down, giving requests in flight
// up to five seconds. A connection that never sent a request (a client's
// spare, dialled but unused) does not hold the shutdown: net/http waits up
// to five seconds for its first request, so when the grace ends Run closes
// whatever is left and fails only if a request was still running.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	if s.Listener() == nil {
		<-ctx.Done()
		return nil
	}
	var conns connStates
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: s.limits.ReadHeaderTimeout, IdleTimeout: s.limits.IdleTimeout, ConnState: conns.track}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.Listener()) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	s.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), s.grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	running := conns.active()
	if cerr := srv.Close(); cerr != nil && !errors.Is(cerr, http.ErrServerClosed) {
		return fmt.Errorf("http shutdown: close: %w", cerr)
	}
	if running > 0 {
		return fmt.Errorf("http shutdown: %d requests still running after %s were cut off: %w", running, s.grace, err)
	}
	s.logger.Debug("closed connections that sent no request during the shutdown grace", "grace", s.grace)
	return nil
}

// connStates counts the connections serving a request, from http.Server's
// ConnState hook.
type connStates struct {
	mu      sync.Mutex
	serving map[net.Conn]bool
}

func (c *connStates) track(conn net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.serving == nil {
		c.serving = map[net.Conn]bool{}
	}
	if st == http.StateActive {
		c.serving[conn] = true
	} else {
		delete(c.serving, conn)
	}
}

func (c *connStates) active() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.serving)
}

// HealthCheck GETs url (a component's own /readyz) and returns an error
// unless it answers 200: the -healthcheck flag of shell-less images.
func HealthCheck(url string) error {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck %s: status %d", url, resp.StatusCode)
	}
	return nil
}
