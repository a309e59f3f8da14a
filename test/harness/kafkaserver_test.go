package harness_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/test/faultproxy"
	"github.com/segmentio/kafka-go"

	"github.com/agentobs/agentobs/test/harness"
)

// The private plaintext broker survives what outage tests do to it: a
// clean stop and a crash, each followed by a restart on the same ports and
// data, with the records written before still there.
func TestKafkaServerStopKillRestart(t *testing.T) {
	s := harness.StartKafka(t, harness.KafkaServerOptions{})
	if s.Addr() != s.PlainAddr() {
		t.Fatalf("plaintext broker: Addr %s != PlainAddr %s", s.Addr(), s.PlainAddr())
	}
	conn := s.PlainConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const topic = "outage"
	if err := kafkaclient.EnsureTopics(ctx, conn, kafkaclient.TopicSpec{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	send := func(v string) {
		t.Helper()
		pc := kafkaclient.DefaultProducerConfig()
		p, err := kafkaclient.NewProducer(conn, pc, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Send(ctx, []kafka.Message{{Topic: topic, Value: []byte(v)}}); err != nil {
			t.Fatalf("send %s: %v", v, err)
		}
	}
	down := func() {
		t.Helper()
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		defer pcancel()
		if s.Running() || kafkaclient.Ping(pctx, conn) == nil {
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

// With AdvertisedAddr, clients that bootstrap at a fault proxy stay on it
// (metadata names the proxy), so cutting the proxy is an outage for them,
// while the broker itself and DirectConfig clients never pass it.
func TestKafkaServerAdvertisedAddr(t *testing.T) {
	p, err := faultproxy.New("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := harness.StartKafka(t, harness.KafkaServerOptions{AdvertisedAddr: p.Addr()})
	p.SetTarget(s.PlainAddr())
	if s.Addr() != p.Addr() || s.PlainConfig().Brokers[0] != p.Addr() || s.DirectAddr() == s.PlainAddr() {
		t.Fatalf("Addr %s PlainConfig %v DirectAddr %s, proxy %s", s.Addr(), s.PlainConfig().Brokers, s.DirectAddr(), p.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	meta := func(conn kafkaclient.Config) (string, error) {
		c, err := conn.Client()
		if err != nil {
			return "", err
		}
		mctx, mcancel := context.WithTimeout(ctx, 5*time.Second)
		defer mcancel()
		r, err := c.Metadata(mctx, &kafka.MetadataRequest{Topics: []string{}})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s:%d", r.Brokers[0].Host, r.Brokers[0].Port), nil
	}
	if got, err := meta(s.PlainConfig()); err != nil || got != p.Addr() {
		t.Fatalf("through the proxy: metadata names %q (%v), want the proxy %s", got, err, p.Addr())
	}
	if got, err := meta(s.DirectConfig()); err != nil || got != s.DirectAddr() {
		t.Fatalf("direct: metadata names %q (%v), want %s", got, err, s.DirectAddr())
	}
	before, _ := p.Stats()
	if err := kafkaclient.EnsureTopics(ctx, s.PlainConfig(), kafkaclient.TopicSpec{Name: "adv", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if after, _ := p.Stats(); after <= before {
		t.Fatalf("topic admin did not pass the proxy (%d → %d connections)", before, after)
	}
	p.Cut()
	if _, err := meta(s.PlainConfig()); err == nil {
		t.Fatal("metadata through a cut proxy succeeded")
	}
	if _, err := meta(s.DirectConfig()); err != nil {
		t.Fatalf("direct listener while the proxy is cut: %v", err)
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	if _, err := meta(s.PlainConfig()); err != nil {
		t.Fatalf("after Restore: %v", err)
	}
}
