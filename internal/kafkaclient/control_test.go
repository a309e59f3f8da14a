package kafkaclient_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

// A front door's high-water marks and canaries go through the same
// producer as its records but are counted apart: records_produced_total is
// what dashboards and alerts read as records/s, so it must hold user
// records only (before, every mark and canary was counted there too).
func TestControlMessagesCountedApart(t *testing.T) {
	conn := harness.RequireKafka(t)
	topic, marks := harness.Topic(t, 1), harness.Topic(t, 1)
	reg := prometheus.NewRegistry()
	m := kafkaclient.NewProducerMetrics(reg, "itest")
	p, err := kafkaclient.NewProducer(conn, kafkaclient.DefaultProducerConfig(), m)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cfg := publish.DefaultConfig()
	cfg.Topic = topic
	base, err := publish.New(cfg, "itest", "itest/src", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := base.WithProducer("itest/p", 0)
	marker, err := publish.NewMarker(publish.MarksConfig{Topic: marks}, "itest", p, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	marker.Track(e)
	const records = 5
	var msgs []kafka.Message
	for range records {
		msg, _, _ := e.Message(&record.Record{Message: "user record", EventID: publish.EventID("itest", uint64(len(msgs)), nil)}, nil)
		msgs = append(msgs, msg)
	}
	if err := p.Send(ctx, msgs); err != nil {
		t.Fatalf("send records: %v", err)
	}
	if err := marker.Flush(ctx, true); err != nil {
		t.Fatalf("marks: %v", err)
	}
	deliver := func(ctx context.Context, msg kafka.Message) error { return p.Send(ctx, []kafka.Message{msg}) }
	c, err := publish.NewCanary(publish.DefaultCanaryConfig(), base, "itest/h", "ep", deliver, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, final := range []bool{false, true} {
		if err := c.Emit(ctx, final); err != nil {
			t.Fatalf("canary: %v", err)
		}
	}
	f := func(c prometheus.Counter, want float64, what string) {
		t.Helper()
		if got := testutil.ToFloat64(c); got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	f(m.Records.WithLabelValues("ok"), records, `records_produced_total{outcome="ok"}`)
	f(m.Records.WithLabelValues("error"), 0, `records_produced_total{outcome="error"}`)
	f(m.Control.WithLabelValues(kafkaclient.ControlMark, "ok"), 1, `control_records_produced_total{kind="mark",outcome="ok"}`)
	f(m.Control.WithLabelValues(kafkaclient.ControlCanary, "ok"), 2, `control_records_produced_total{kind="canary",outcome="ok"}`)
}
