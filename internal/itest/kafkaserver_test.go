package itest_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/itest"
	"github.com/agentobs/agentobs/internal/kafkax"
	"github.com/segmentio/kafka-go"
)

// The private plaintext broker survives what outage tests do to it: a
// clean stop and a crash, each followed by a restart on the same ports and
// data, with the records written before still there.
func TestKafkaServerStopKillRestart(t *testing.T) {
	s := itest.StartKafka(t, itest.KafkaServerOptions{})
	if s.Addr() != s.PlainAddr() {
		t.Fatalf("plaintext broker: Addr %s != PlainAddr %s", s.Addr(), s.PlainAddr())
	}
	conn := s.PlainConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const topic = "outage"
	if err := kafkax.EnsureTopics(ctx, conn, kafkax.TopicSpec{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	send := func(v string) {
		t.Helper()
		pc := kafkax.DefaultProducerConfig()
		pc.Topic = topic
		p, err := kafkax.NewProducer(conn, pc, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Send(ctx, []kafka.Message{{Value: []byte(v)}}); err != nil {
			t.Fatalf("send %s: %v", v, err)
		}
	}
	down := func() {
		t.Helper()
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		defer pcancel()
		if s.Running() || kafkax.Ping(pctx, conn) == nil {
			t.Fatal("broker still answers after Stop/Kill")
		}
	}
	send("before-stop")
	s.Stop()
	down()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	send("after-stop")
	s.Kill()
	down()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	send("after-kill")

	d, _ := conn.Dialer()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: conn.Brokers, Topic: topic, Dialer: d, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	for _, want := range []string{"before-stop", "after-stop", "after-kill"} {
		m, err := r.ReadMessage(ctx)
		if err != nil || string(m.Value) != want {
			t.Fatalf("read %q: got %q, %v", want, m.Value, err)
		}
	}
}
