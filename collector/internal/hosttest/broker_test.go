package hosttest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/test/faultproxy"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/segmentio/kafka-go"
)

// privateBroker is a private single-node broker (harness.StartKafka) that
// clients reach only through a fault proxy it advertises, so cutting the
// proxy is a broker outage as the plugin sees it (connections refused and
// reset) while the broker itself keeps running.
type privateBroker struct {
	*harness.KafkaServer
	proxy *faultproxy.Proxy
}

// startPrivateBroker starts the proxy and the broker behind it; both go
// away when the test ends.
func startPrivateBroker(t *testing.T) *privateBroker {
	t.Helper()
	p, err := faultproxy.New("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	s := harness.StartKafka(t, harness.KafkaServerOptions{AdvertisedAddr: p.Addr()})
	p.SetTarget(s.PlainAddr())
	return &privateBroker{KafkaServer: s, proxy: p}
}

// createTopic creates a topic on the private broker.
func (b *privateBroker) createTopic(t *testing.T, name string, partitions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkaclient.EnsureTopics(ctx, b.PlainConfig(), kafkaclient.TopicSpec{Name: name, Partitions: partitions}); err != nil {
		t.Fatalf("create topic: %v", err)
	}
}

// consume reads topic until at least want messages arrived and one more
// second passed (to catch duplicates beyond want), or timeout.
func (b *privateBroker) consume(t *testing.T, topic string, partitions, want int, timeout time.Duration) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var mu sync.Mutex
	var msgs []kafka.Message
	var wg sync.WaitGroup
	var once sync.Once
	for p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.Addr()}, Topic: topic, Partition: p, MaxWait: 200 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				msgs = append(msgs, m)
				if len(msgs) >= want {
					once.Do(func() { time.AfterFunc(time.Second, cancel) })
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return msgs
}
