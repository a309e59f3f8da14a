package telemetry

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// startLimited runs a server with limits l and one route, POST /echo,
// which reads the whole body, then waits for hold (if not nil) and answers
// 200 with the byte count, or 400 when the body could not be read.
func startLimited(t *testing.T, l Limits, hold <-chan struct{}) (*Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s := NewServer("127.0.0.1:0", reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.SetLimits(l, reg, "test"); err != nil {
		t.Fatal(err)
	}
	s.Handle("POST /echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if hold != nil {
			<-hold
		}
		if err := r.Context().Err(); err != nil {
			http.Error(w, "cancelled: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%d", len(b))
	}))
	s.SetReady(true)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, reg
}

// slowClient opens a real TCP connection, sends the headers of a POST with
// a 100-byte body, then one body byte every `every` until the connection
// breaks or stop closes; it returns the conn and the status line channel.
func slowClient(t *testing.T, addr string, every time.Duration, stop <-chan struct{}) <-chan string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(every):
			}
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	status := make(chan string, 1)
	go func() {
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			line = "error: " + err.Error()
		}
		status <- strings.TrimSpace(line)
	}()
	return status
}

// Found-5 of issue 18: a client trickling its body (a byte every 50 ms,
// 100 bytes announced) is answered 408 once http.body-timeout passes, and
// counted; it no longer holds the connection and a goroutine forever.
func TestSlowBodyGets408(t *testing.T) {
	l := DefaultLimits()
	l.BodyTimeout = 500 * time.Millisecond
	s, _ := startLimited(t, l, nil)
	stop := make(chan struct{})
	defer close(stop)
	select {
	case got := <-slowClient(t, s.Addr(), 50*time.Millisecond, stop):
		if !strings.HasPrefix(got, "HTTP/1.1 408") {
			t.Fatalf("slow client got %q, want 408", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("slow client still connected after 30s (body timeout 500ms)")
	}
	if n := rejected(s, RejectBodyTimeout); n != 1 {
		t.Fatalf("rejected{reason=body_timeout} = %v, want 1", n)
	}
}

// The body deadline ends with the body: a handler that works longer than
// http.body-timeout after reading it (the shipper waits for Kafka) is not
// cancelled, and a normal request is not counted.
func TestBodyTimeoutDoesNotCutSlowHandlers(t *testing.T) {
	l := DefaultLimits()
	l.BodyTimeout = 200 * time.Millisecond
	hold := make(chan struct{})
	s, _ := startLimited(t, l, hold)
	go func() { time.Sleep(4 * l.BodyTimeout); close(hold) }()
	resp, err := http.Post("http://"+s.Addr()+"/echo", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "5" {
		t.Fatalf("got %d %q, want 200 5", resp.StatusCode, b)
	}
	if n := rejected(s, RejectBodyTimeout); n != 0 {
		t.Fatalf("rejected{reason=body_timeout} = %v, want 0", n)
	}
}

// http.max-requests bounds the requests in flight on component routes:
// with one slot held by a slow client the next request gets 503 and is
// counted, while /healthz still answers.
func TestMaxRequestsSheds(t *testing.T) {
	l := DefaultLimits()
	l.MaxRequests = 1
	s, _ := startLimited(t, l, nil)
	stop := make(chan struct{})
	defer close(stop)
	status := slowClient(t, s.Addr(), 100*time.Millisecond, stop)
	// The slow request must hold the slot before the others come: on a busy
	// machine a fast request could otherwise take the slot first, get its
	// 200, and leave the slow one refused.
	for deadline := time.Now().Add(10 * time.Second); len(s.slots) == 0; time.Sleep(10 * time.Millisecond) {
		select {
		case st := <-status:
			t.Fatalf("the slow request was answered before it held the slot: %s", st)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow request never held the slot")
		}
	}
	var code int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Post("http://"+s.Addr()+"/echo", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if code = resp.StatusCode; code == http.StatusServiceUnavailable {
			break
		}
	}
	if code != http.StatusServiceUnavailable {
		t.Fatalf("second request got %d, want 503 while the slot is held", code)
	}
	if n := rejected(s, RejectOverload); n < 1 {
		t.Fatalf("rejected{reason=overload} = %v, want >= 1", n)
	}
	resp, err := http.Get("http://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz under overload: %d", resp.StatusCode)
	}
}

func rejected(s *Server, reason string) float64 {
	return testutil.ToFloat64(s.rejected.WithLabelValues(reason))
}
