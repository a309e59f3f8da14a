// Package harness is the integration-test harness: it points tests at the
// repo's local stack (scripts/stack.sh), gives each test unique topic and
// index names and removes them afterwards, and waits for conditions with a
// useful failure message.
//
// When the stack is not reachable a test fails if CI=true or
// AGENTOBS_REQUIRE_STACK=1 (as `make test` sets it), and is skipped with the
// command to run otherwise, so `go test ./...` on a laptop stays usable.
package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/esclient"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/segmentio/kafka-go"
)

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Brokers of the local stack (AGENTOBS_KAFKA_BROKERS, default 127.0.0.1:9092).
func Brokers() []string { return strings.Split(env("AGENTOBS_KAFKA_BROKERS", "127.0.0.1:9092"), ",") }

// ESURL of the local stack (AGENTOBS_ES_URL, default http://127.0.0.1:9200).
func ESURL() string { return env("AGENTOBS_ES_URL", "http://127.0.0.1:9200") }

// PrometheusURL of the local stack (AGENTOBS_PROMETHEUS_URL).
func PrometheusURL() string { return env("AGENTOBS_PROMETHEUS_URL", "http://127.0.0.1:9090") }

// AlertmanagerURL of the local stack (AGENTOBS_ALERTMANAGER_URL).
func AlertmanagerURL() string { return env("AGENTOBS_ALERTMANAGER_URL", "http://127.0.0.1:9093") }

// StackDir is the local stack's state directory (Prometheus file_sd targets live there).
func StackDir() string { return env("AGENTOBS_STACK_DIR", "/tmp/agentobs-stack") }

// KafkaConfig is a connection config for the local stack.
func KafkaConfig() kafkaclient.Config {
	c := kafkaclient.DefaultConfig()
	c.Brokers = Brokers()
	c.ClientID = "agentobs-itest"
	return c
}

// ESConfig is a client config for the local stack.
func ESConfig() esclient.Config {
	c := esclient.DefaultConfig()
	c.Addresses = []string{ESURL()}
	return c
}

func required() bool { return os.Getenv("CI") == "true" || os.Getenv("AGENTOBS_REQUIRE_STACK") == "1" }

func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if required() {
		t.Fatalf("%s is not reachable (%v); the local stack must be up: make stack-up", what, err)
	}
	t.Skipf("%s is not reachable (%v); run `make stack-up` to run this integration test", what, err)
}

// RequireKafka fails or skips the test when the local Kafka is down.
func RequireKafka(t testing.TB) kafkaclient.Config {
	t.Helper()
	c := KafkaConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafkaclient.Ping(ctx, c); err != nil {
		unavailable(t, "Kafka at "+strings.Join(c.Brokers, ","), err)
	}
	return c
}

// RequireES fails or skips the test when the local Elasticsearch is down,
// and returns a client for it.
func RequireES(t testing.TB) *elasticsearch.Client {
	t.Helper()
	cl, err := ESConfig().NewClient()
	if err != nil {
		t.Fatalf("es client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := esclient.Ping(ctx, cl); err != nil {
		unavailable(t, "Elasticsearch at "+ESURL(), err)
	}
	return cl
}

// RequireHTTP fails or skips when nothing listens at hostport.
func RequireHTTP(t testing.TB, name, hostport string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", hostport, 3*time.Second)
	if err != nil {
		unavailable(t, name+" at "+hostport, err)
		return
	}
	c.Close()
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// Name returns a lowercase name unique to this test run, valid as a Kafka
// topic and an Elasticsearch index: it-<prefix>-<test>-<random>.
func Name(t testing.TB, prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(n) > 40 {
		n = n[len(n)-40:]
	}
	return fmt.Sprintf("it-%s-%s-%s", prefix, strings.Trim(n, "-"), hex.EncodeToString(b[:]))
}

// Topic creates a unique topic with the given partitions and deletes it
// when the test ends.
func Topic(t testing.TB, partitions int) string {
	t.Helper()
	c := RequireKafka(t)
	name := Name(t, "t")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkaclient.EnsureTopics(ctx, c, kafkaclient.TopicSpec{Name: name, Partitions: partitions}); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	t.Cleanup(func() { DeleteTopics(t, name) })
	return name
}

// DeleteTopics removes topics (errors are logged, not failed: clean-up).
func DeleteTopics(t testing.TB, names ...string) {
	cl, err := KafkaConfig().Client()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: names}); err != nil {
		t.Logf("delete topics %v: %v", names, err)
	}
}

// Index returns a unique index name prefix; every index matching
// prefix* is deleted when the test ends.
func Index(t testing.TB) string {
	t.Helper()
	cl := RequireES(t)
	name := Name(t, "i")
	t.Cleanup(func() {
		res, err := cl.Indices.Delete([]string{name + "*"}, cl.Indices.Delete.WithAllowNoIndices(true), cl.Indices.Delete.WithExpandWildcards("all"))
		if err == nil {
			res.Body.Close()
		}
	})
	return name
}

// Eventually polls cond every 100ms until it returns true or timeout
// passes, then fails with the last message cond gave (say what was seen).
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %s", timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ConsumeAll reads topic of the local stack's Kafka from the beginning on
// every partition until want messages were read or timeout passes, and
// returns what was read.
func ConsumeAll(t testing.TB, topic string, want int, timeout time.Duration) []kafka.Message {
	t.Helper()
	return ConsumeFrom(t, KafkaConfig(), topic, want, timeout)
}

// ConsumeFrom is ConsumeAll against any cluster (a private broker): it reads
// every partition from the beginning until want messages arrived or timeout
// passed, then waits a moment more so callers can count duplicates.
func ConsumeFrom(t testing.TB, conf kafkaclient.Config, topic string, want int, timeout time.Duration) []kafka.Message {
	t.Helper()
	if want <= 0 {
		return ConsumeUntil(t, conf, topic, timeout, nil)
	}
	n := 0
	return ConsumeUntil(t, conf, topic, timeout, func(kafka.Message) bool { n++; return n >= want })
}

// ConsumeUntil is ConsumeFrom with the end decided by the caller: done is
// told each message in turn and returns true once enough arrived (for
// example every distinct record, when re-sent copies are expected and must
// not count towards the total); nil: nothing to wait for but the moment
// after.
func ConsumeUntil(t testing.TB, conf kafkaclient.Config, topic string, timeout time.Duration, done func(kafka.Message) bool) []kafka.Message {
	t.Helper()
	d, err := conf.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", conf.Brokers[0])
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	out := make(chan kafka.Message, 1024)
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: conf.Brokers, Topic: topic, Partition: p.ID, Dialer: d, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 200 * time.Millisecond})
		go func() {
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				select {
				case out <- m:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var msgs []kafka.Message
	for enough := done == nil; !enough; {
		select {
		case m := <-out:
			msgs = append(msgs, m)
			enough = done(m)
		case <-ctx.Done():
			return msgs
		}
	}
	// Give duplicates a moment to show up: callers count them.
	grace := time.After(time.Second)
	for {
		select {
		case m := <-out:
			msgs = append(msgs, m)
		case <-grace:
			return msgs
		case <-ctx.Done():
			return msgs
		}
	}
}

// Stage is a component run in process (shipper/app, indexer/app): Run
// until its context ends, then Close flushes, commits and releases.
type Stage interface {
	Run(ctx context.Context) error
	Close(ctx context.Context) error
}

// RunStage runs s in the background and returns stop, which cancels Run,
// waits for it and closes s within 30 s; a failure of either fails the
// test. stop is idempotent and registered as clean-up, so a test may call
// it early (to restart or to check what a graceful stop flushed).
func RunStage(t testing.TB, s Stage) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
			cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer ccancel()
			if err := s.Close(cctx); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
