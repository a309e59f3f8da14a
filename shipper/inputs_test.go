package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/telemetry"
	"github.com/agentobs/agentobs/shipper/app"
	"github.com/agentobs/agentobs/test/harness"
)

// POST /v1/logs answers 200 only after Kafka acknowledged; a retry with the
// same Idempotency-Key lands under the same event.ids.
func TestHTTPIngestToKafka(t *testing.T) {
	brokers := harness.RequireKafka(t).Brokers
	topic := harness.Topic(t, 1)
	cfg := testConfig(t, brokers, topic)
	cfg.HTTP.Ingest = true
	cfg.HTTP.Token = "tok"
	a, _, stop := startApp(t, cfg)
	body := "{\"msg\":\"one\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}\n{\"msg\":\"two\"}\n"
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr()+"/v1/logs", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Idempotency-Key", "batch-42")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	msgs := consume(t, brokers, topic, 4, 30*time.Second)
	ids := map[string]int{}
	for _, m := range msgs {
		ids[kafkaclient.Header(m, publish.HeaderEventID)]++
	}
	if len(msgs) != 4 || len(ids) != 2 {
		t.Fatalf("want 4 messages with 2 ids, got %d with %v", len(msgs), ids)
	}
	if err := telemetry.HealthCheck("http://" + a.Addr() + "/readyz"); err != nil {
		t.Errorf("readyz: %v", err)
	}
	// The readiness gauge runs the same checks (Kafka reachable) per scrape.
	if res, err := http.Get("http://" + a.Addr() + "/metrics"); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(b), "\nagentobs_shipper_ready 1\n") {
			t.Error("/metrics lacks agentobs_shipper_ready 1 while /readyz answers 200")
		}
	}
	stop()
}

// some-agent | shipper -stdin: every line is delivered, then the run ends
// by itself.
func TestStdinToKafka(t *testing.T) {
	brokers := harness.RequireKafka(t).Brokers
	topic := harness.Topic(t, 1)
	cfg := testConfig(t, brokers, topic)
	cfg.Stdin, cfg.Service, cfg.HTTPAddr = true, "piped-agent", ""
	a, err := app.New(cfg, app.Settings{Stdin: strings.NewReader("l1\nl2\n\nl3")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := consume(t, brokers, topic, 3, 20*time.Second)
	if len(msgs) != 3 || kafkaclient.Header(msgs[0], publish.HeaderService) != "piped-agent" {
		t.Fatalf("got %d messages", len(msgs))
	}
}

// Found-5 of issue 18 on the shipper itself: a client trickling a body
// into POST /v1/logs (a byte every 50 ms) gets 408 once http.body-timeout
// passes, and both counters say so; it does not hold the connection.
func TestHTTPIngestSlowClientGets408(t *testing.T) {
	brokers := harness.RequireKafka(t).Brokers
	cfg := testConfig(t, brokers, harness.Topic(t, 1))
	cfg.HTTP.Ingest = true
	cfg.HTTPLimits.BodyTimeout = 500 * time.Millisecond
	a, reg, stop := startApp(t, cfg)
	defer stop()
	c, err := net.Dial("tcp", a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := c.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 408") {
		t.Fatalf("slow client got %q, %v; want 408", line, err)
	}
	if n := value(t, reg, "agentobs_shipper_http_requests_total", "code", "408"); n != 1 {
		t.Errorf("http_requests_total{code=408} = %v, want 1", n)
	}
	if n := value(t, reg, "agentobs_shipper_http_rejected_requests_total", "reason", "body_timeout"); n != 1 {
		t.Errorf("http_rejected_requests_total{reason=body_timeout} = %v, want 1", n)
	}
}
