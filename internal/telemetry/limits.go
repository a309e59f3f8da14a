package telemetry

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits bound what one HTTP client can hold on a component's server: a
// client sending a byte per second must not keep a connection and a
// goroutine forever (issue 18, found-5), and a crowd of them must not take
// every goroutine the process has.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers; a slower client
	// is disconnected. Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// BodyTimeout bounds reading a request's body, from the end of its
	// headers to its last byte; a slower client gets 408. The time a handler
	// spends after reading the body (e.g. waiting for Kafka) is not counted.
	// Default 30s.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// IdleTimeout closes keep-alive connections idle that long. Default 2m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxRequests bounds the requests served at once on the component's own
	// routes (not /metrics, /healthz, /readyz, which stay answerable); more
	// get 503 with Retry-After. Default 256.
	MaxRequests int `yaml:"max_requests"`
}

// DefaultLimits returns the defaults documented on Limits.
func DefaultLimits() Limits {
	return Limits{ReadHeaderTimeout: 10 * time.Second, BodyTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxRequests: 256}
}

// RegisterFlags binds l to http.read-header-timeout, http.body-timeout,
// http.idle-timeout and http.max-requests (prefix "http.").
func (l *Limits) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&l.ReadHeaderTimeout, prefix+"read-header-timeout", l.ReadHeaderTimeout, "how long a client may take to send a request's headers before it is disconnected")
	fs.DurationVar(&l.BodyTimeout, prefix+"body-timeout", l.BodyTimeout, "how long a client may take to send a request's body before it gets 408")
	fs.DurationVar(&l.IdleTimeout, prefix+"idle-timeout", l.IdleTimeout, "keep-alive connections idle this long are closed")
	fs.IntVar(&l.MaxRequests, prefix+"max-requests", l.MaxRequests, "requests served at once on the API routes; more get 503 (metrics and health routes are exempt)")
}

// Validate reports every problem, naming the flag under prefix.
func (l Limits) Validate(prefix string) error {
	var errs []error
	for name, d := range map[string]time.Duration{"read-header-timeout": l.ReadHeaderTimeout, "body-timeout": l.BodyTimeout, "idle-timeout": l.IdleTimeout} {
		if d < 10*time.Millisecond {
			errs = append(errs, fmt.Errorf("%s%s: %s, want >= 10ms", prefix, name, d))
		}
	}
	if l.MaxRequests < 1 {
		errs = append(errs, fmt.Errorf("%smax-requests: %d, want >= 1", prefix, l.MaxRequests))
	}
	return errors.Join(errs...)
}

// Reasons of agentobs_<component>_http_rejected_requests_total.
const (
	RejectBodyTimeout = "body_timeout"
	RejectOverload    = "overload"
)

// SetLimits applies l to the server (call before Run) and registers
// agentobs_<component>_http_rejected_requests_total{reason} on reg.
func (s *Server) SetLimits(l Limits, reg prometheus.Registerer, component string) error {
	if err := l.Validate("http."); err != nil {
		return err
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentobs_" + component + "_http_rejected_requests_total",
		Help: "HTTP requests refused to protect the server, by reason (body_timeout: the body did not arrive within http.body-timeout, answered 408; overload: http.max-requests were in flight, answered 503)."},
		[]string{"reason"})
	for _, r := range []string{RejectBodyTimeout, RejectOverload} {
		c.WithLabelValues(r)
	}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("http rejected metric: %w", err)
	}
	s.limits, s.rejected = l, c
	s.slots = make(chan struct{}, l.MaxRequests)
	return nil
}

// IsBodyTimeout reports whether err (from reading a request body) means the
// client did not send it within http.body-timeout: answer 408.
func IsBodyTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// limit wraps a component route: at most MaxRequests at once, and the body
// must arrive within BodyTimeout. A handler that fails on the timed-out
// body answers 408 whatever status it chose.
func (s *Server) limit(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		default:
			s.rejected.WithLabelValues(RejectOverload).Inc()
			w.Header().Set("Retry-After", "1")
			http.Error(w, fmt.Sprintf("too many requests in flight (http.max-requests %d); retry later", s.limits.MaxRequests), http.StatusServiceUnavailable)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(s.limits.BodyTimeout)); err != nil {
			h.ServeHTTP(w, r) // not a net.Conn (tests with a recorder): no deadline to set
			return
		}
		b := &deadlineBody{ReadCloser: r.Body, rc: rc}
		r.Body = b
		tw := &timeoutWriter{ResponseWriter: w, body: b}
		h.ServeHTTP(tw, r)
		if b.timedOut.Load() {
			s.rejected.WithLabelValues(RejectBodyTimeout).Inc()
			if !tw.wrote {
				http.Error(w, "request body not received within http.body-timeout", http.StatusRequestTimeout)
			}
		}
	})
}

// deadlineBody notes a read that hit the deadline, and lifts the deadline
// once the body is read to its end: the server's background read that
// follows must not time out (and cancel the request's context) while the
// handler still works, e.g. waits for Kafka's acknowledgement.
type deadlineBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	timedOut atomic.Bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil && IsBodyTimeout(err):
		b.timedOut.Store(true)
	}
	return n, err
}

// timeoutWriter turns the status of an answer written after a body timeout
// into 408, so a client learns why whichever handler served it.
type timeoutWriter struct {
	http.ResponseWriter
	body  *deadlineBody
	wrote bool
}

func (w *timeoutWriter) WriteHeader(code int) {
	if !w.wrote && w.body.timedOut.Load() && code >= 400 {
		code = http.StatusRequestTimeout
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *timeoutWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *timeoutWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
