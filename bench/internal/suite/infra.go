package suite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/internal/esclient"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/segmentio/kafka-go"
)

// Progress prints which step runs and its records/s so far, every 2 s.
type Progress struct {
	mu    sync.Mutex
	step  string
	total float64
	count func() float64
	start time.Time
	began time.Time
	stop  chan struct{}
}

// NewProgress starts the ticker; Close stops it.
func NewProgress() *Progress {
	p := &Progress{began: time.Now(), stop: make(chan struct{})}
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.print()
			}
		}
	}()
	return p
}

// Step announces a step; count (may be nil) reports records done of total.
func (p *Progress) Step(name string, total float64, count func() float64) {
	p.mu.Lock()
	p.step, p.total, p.count, p.start = name, total, count, time.Now()
	p.mu.Unlock()
	fmt.Fprintf(os.Stderr, "[%5.0fs] %s\n", time.Since(p.began).Seconds(), name)
}

// Logf prints a result line.
func (p *Progress) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%5.0fs]   "+format+"\n", append([]any{time.Since(p.began).Seconds()}, args...)...)
}

func (p *Progress) print() {
	p.mu.Lock()
	step, total, count, start := p.step, p.total, p.count, p.start
	p.mu.Unlock()
	if count == nil {
		return
	}
	c := count()
	if c < 0 {
		return
	}
	el := time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "[%5.0fs]   %s: %.0f/%.0f records, %.0f records/s so far\n", time.Since(p.began).Seconds(), step, c, total, c/el)
}

// Close stops the ticker.
func (p *Progress) Close() { close(p.stop) }

// Elapsed is the time since the suite began.
func (p *Progress) Elapsed() time.Duration { return time.Since(p.began) }

// measureRate polls count until it reaches total and returns total divided
// by the time from the first record taken in (started() > 0: a line read, a
// message fetched; or count() > 0, if that probe answers late) to the last
// one done. Process start, connection set-up,
// template installation and group join are excluded; the first batch's fill
// and round trip are not, as for the in-process references (first Add to
// Close).
func measureRate(ctx context.Context, total float64, count, started func() float64, alive func() error, timeout time.Duration) (float64, error) {
	var t0 time.Time
	deadline := time.Now().Add(timeout)
	for {
		now := time.Now()
		c := count()
		// Started when started says so, or when the far end has counted
		// something already: a probe of the start can answer late (Fluent
		// Bit's HTTP server came up after native out_kafka had sent a small
		// corpus), and the run would end before a rate could be observed.
		if t0.IsZero() && (started() > 0 || c > 0) {
			t0 = now
		}
		if c >= total {
			if t0.IsZero() || !now.After(t0) {
				return 0, errors.New("finished before a rate could be observed")
			}
			return total / now.Sub(t0).Seconds(), nil
		}
		if alive != nil {
			if err := alive(); err != nil {
				return 0, err
			}
		}
		if now.After(deadline) {
			return 0, fmt.Errorf("timeout after %s: %.0f of %.0f", timeout, c, total)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// fromFirst wraps started (measureRate's progress probe) so that the CPU
// of pid is read the first time it reports progress: *cpu0 is that reading
// (or the one at the call, if progress never came).
func fromFirst(started func() float64, pid int) (func() float64, *time.Duration) {
	cpu0 := TreeCPU(pid)
	seen := false
	return func() float64 {
		v := started()
		if v > 0 && !seen {
			seen, cpu0 = true, TreeCPU(pid)
		}
		return v
	}, &cpu0
}

// kconf is the Kafka connection of the local stack.
func (e *Env) kconf() kafkaclient.Config {
	c := kafkaclient.DefaultConfig()
	c.Brokers = e.Brokers
	return c
}

// CreateTopic creates a topic with n partitions.
func (e *Env) CreateTopic(ctx context.Context, name string, n int) error {
	return kafkaclient.EnsureTopics(ctx, e.kconf(), kafkaclient.TopicSpec{Name: name, Partitions: n})
}

// DeleteTopics deletes topics, ignoring those that do not exist.
func (e *Env) DeleteTopics(names ...string) {
	if len(names) == 0 {
		return
	}
	cl := &kafka.Client{Addr: kafka.TCP(e.Brokers...), Timeout: 30 * time.Second}
	_, _ = cl.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: names})
}

// ReadTopic reads every message of every partition of topic.
func (e *Env) ReadTopic(ctx context.Context, topic string) ([]kafka.Message, error) {
	var all []kafka.Message
	err := e.EachMessage(ctx, topic, func(m kafka.Message) { all = append(all, m) })
	return all, err
}

// EachMessage calls f with every message of every partition of topic.
func (e *Env) EachMessage(ctx context.Context, topic string, f func(kafka.Message)) error {
	conn, err := kafka.DialContext(ctx, "tcp", e.Brokers[0])
	if err != nil {
		return err
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return err
	}
	for _, p := range parts {
		lc, err := kafka.DialLeader(ctx, "tcp", e.Brokers[0], topic, p.ID)
		if err != nil {
			return err
		}
		last, err := lc.ReadLastOffset()
		lc.Close()
		if err != nil {
			return err
		}
		if last == 0 {
			continue
		}
		// A short MaxWait: Close waits for the reader's pending fetch.
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.Brokers, Topic: topic, Partition: p.ID, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return err
			}
			f(m)
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}
	return nil
}

// Produce writes msgs (key, value and headers kept) to topic, acks=all, lz4.
func (e *Env) Produce(ctx context.Context, topic string, msgs []kafka.Message) error {
	w := &kafka.Writer{Addr: kafka.TCP(e.Brokers...), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		Compression: kafka.Lz4, BatchSize: 1000, BatchBytes: 1 << 20, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	out := make([]kafka.Message, 0, 5000)
	for i := 0; i < len(msgs); i += 5000 {
		out = out[:0]
		for _, m := range msgs[i:min(i+5000, len(msgs))] {
			out = append(out, kafka.Message{Key: m.Key, Value: m.Value, Headers: m.Headers})
		}
		// A topic just created may not be known to the partition leader yet.
		for try := 0; ; try++ {
			err := w.WriteMessages(ctx, out...)
			if err == nil {
				break
			}
			if try == 20 || !errors.Is(err, kafka.UnknownTopicOrPartition) && !errors.Is(err, kafka.LeaderNotAvailable) {
				return err
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	return nil
}

// ES is a client of the stack's Elasticsearch.
func (e *Env) ES() (*elasticsearch.Client, error) {
	c := esclient.DefaultConfig()
	c.Addresses = []string{e.ESURL}
	return c.NewClient()
}

// DropIndices removes the indices (named one by one: wildcard deletes are
// refused by default) and the templates of n.
func (e *Env) DropIndices(es *elasticsearch.Client, n schema.Names) {
	prefix, _, _ := strings.Cut(n.Alias, "-logs")
	e.dropPrefix(es, prefix)
	schema.Uninstall(context.Background(), es, n)
}

// dropPrefix deletes every index whose name starts with prefix.
func (e *Env) dropPrefix(es *elasticsearch.Client, prefix string) {
	res, err := es.Cat.Indices(es.Cat.Indices.WithIndex(prefix+"*"), es.Cat.Indices.WithH("index"), es.Cat.Indices.WithExpandWildcards("all"))
	if err != nil {
		return
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	names := strings.Fields(string(b))
	for i := 0; i < len(names); i += 50 {
		r, err := es.Indices.Delete(names[i:min(i+50, len(names))])
		if err == nil {
			r.Body.Close()
		}
	}
}

// Names are the indices of one load, under this run's prefix.
func (e *Env) Names(parts ...string) schema.Names { return schema.WithPrefix(e.Name(parts...)) }

// waitPort waits until addr accepts connections.
func waitPort(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not listening after %s", addr, timeout)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
