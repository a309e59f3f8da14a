package esclient

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Watch is an http.RoundTripper that sees every request a client sends to
// Elasticsearch, so health can come from what requests really do rather
// than from a flag set after some retries: how long the oldest request has
// been waiting (a frozen or hung node answers nothing, and no timeout fires
// for a long time), and whether the last request that finished reached the
// cluster. Wrap a client's transport with it through NewClientWith.
type Watch struct {
	next http.RoundTripper

	mu       sync.Mutex
	seq      uint64
	inFlight map[uint64]time.Time

	lastOK  atomic.Bool
	lastErr atomic.Pointer[string]
}

// NewWatch wraps next (nil: http.DefaultTransport).
func NewWatch(next http.RoundTripper) *Watch {
	if next == nil {
		next = http.DefaultTransport
	}
	w := &Watch{next: next, inFlight: map[uint64]time.Time{}}
	w.lastOK.Store(true)
	return w
}

// RoundTrip sends req through the wrapped transport and records its
// outcome: any answer below 500 (and 429) reached a working cluster; a
// transport error, a timeout or a 5xx did not.
func (w *Watch) RoundTrip(req *http.Request) (*http.Response, error) {
	w.mu.Lock()
	w.seq++
	id := w.seq
	w.inFlight[id] = time.Now()
	w.mu.Unlock()
	res, err := w.next.RoundTrip(req)
	w.mu.Lock()
	delete(w.inFlight, id)
	w.mu.Unlock()
	switch {
	case err != nil && errors.Is(err, req.Context().Err()):
		// Cancelled by its caller (shutdown, a bounded probe): says
		// nothing about the cluster.
	case err != nil:
		w.fail(fmt.Sprintf("%s %s: %v", req.Method, req.URL.Path, err))
	case res.StatusCode >= 500:
		w.fail(fmt.Sprintf("%s %s: %s", req.Method, req.URL.Path, res.Status))
	default:
		w.lastOK.Store(true)
	}
	return res, err
}

func (w *Watch) fail(msg string) {
	w.lastErr.Store(&msg)
	w.lastOK.Store(false)
}

// Oldest is how long the oldest request still in flight has waited (0: none).
func (w *Watch) Oldest() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var oldest time.Time
	for _, t := range w.inFlight {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return time.Since(oldest)
}

// InFlight is the number of requests waiting for an answer.
func (w *Watch) InFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.inFlight)
}

// Check is nil when the last finished request reached the cluster and no
// request has waited longer than hang; otherwise it says which is wrong.
func (w *Watch) Check(hang time.Duration) error {
	if d := w.Oldest(); hang > 0 && d > hang {
		return fmt.Errorf("a request has waited %s for an answer (bound %s): elasticsearch hangs", d.Truncate(time.Second), hang)
	}
	if !w.lastOK.Load() {
		msg := "unknown error"
		if p := w.lastErr.Load(); p != nil {
			msg = *p
		}
		return fmt.Errorf("last request failed: %s", msg)
	}
	return nil
}

// CloseIdleConnections passes the call on to the wrapped transport.
func (w *Watch) CloseIdleConnections() {
	if c, ok := w.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
