package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/segmentio/kafka-go"
)

// env is one test's topics, indices and config.
type env struct {
	t      *testing.T
	es     *elasticsearch.Client
	topic  string
	dlq    string
	names  schema.Names
	cfg    Config
	prod   *kafkaclient.Producer
	prefix string
}

func newEnv(t *testing.T, partitions int) *env {
	t.Helper()
	kc := harness.RequireKafka(t)
	es := harness.RequireES(t)
	e := &env{t: t, es: es, topic: harness.Topic(t, partitions), dlq: harness.Topic(t, 1), prefix: harness.Index(t)}
	e.names = schema.WithPrefix(e.prefix)
	t.Cleanup(func() { schema.Uninstall(context.Background(), es, e.names) })
	e.cfg = newEnvConfig(t, kc, e.topic, e.dlq, e.names)
	pc := kafkaclient.DefaultProducerConfig()
	p, err := kafkaclient.NewProducer(kc, pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	e.prod = p
	return e
}

// newEnvConfig is a test indexer's config: the local stack's Elasticsearch,
// the given Kafka, topics and names, a unique group, short intervals.
func newEnvConfig(t *testing.T, kc kafkaclient.Config, topic, dlq string, names schema.Names) Config {
	c := DefaultConfig()
	c.Kafka = kc
	c.ES = harness.ESConfig()
	c.Topic, c.DLQTopic, c.Group = topic, dlq, harness.Name(t, "g")
	c.SpansTopic = "" // the span pipeline has its own test (test/otlp)
	c.Names = names
	c.Index.Replicas = 0
	c.SessionTimeout = 6 * time.Second
	c.HTTPAddr = "127.0.0.1:0"
	c.CommitInterval = 200 * time.Millisecond
	c.SummaryInterval = 300 * time.Millisecond
	c.Bulk.MaxBackoff = 2 * time.Second
	return c
}

func testLogger() *slog.Logger {
	if os.Getenv("INDEXER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// start runs an indexer in-process until the test ends (or stop is called).
func (e *env) start(cfg Config) (a *App, stop func()) {
	e.t.Helper()
	a, err := New(cfg, Settings{Logger: testLogger(), ShutdownTimeout: 20 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		e.t.Fatal(err)
	}
	return a, harness.RunStage(e.t, a)
}

// rec builds record i of a trace.
func rec(i int, traceID, service string, ts time.Time, level record.Level) *record.Record {
	r := &record.Record{Timestamp: ts, Message: fmt.Sprintf("step %d of the agent loop", i), Level: level,
		Service: service, TraceID: traceID, EventID: publish.EventID("test", uint64(i), []byte(traceID)),
		Fields: map[string]any{"seq": i}}
	if traceID != "" {
		r.SpanID = fmt.Sprintf("%016x", i+1)
	}
	return r
}

func (e *env) produce(recs []*record.Record) {
	e.t.Helper()
	msgs := make([]kafka.Message, 0, len(recs))
	for _, r := range recs {
		msgs = append(msgs, publish.RecordMessage(e.topic, r, r.AppendJSON(nil)))
	}
	e.produceRaw(msgs)
}

func (e *env) produceRaw(msgs []kafka.Message) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for len(msgs) > 0 {
		n := min(len(msgs), 5000)
		if err := e.prod.Send(ctx, msgs[:n]); err != nil {
			e.t.Fatalf("produce: %v", err)
		}
		msgs = msgs[n:]
	}
}

// search runs a query on path and returns the decoded answer.
func (e *env) search(path string, q any) map[string]any {
	e.t.Helper()
	b, _ := json.Marshal(q)
	res, err := e.es.Perform(mustReq(http.MethodPost, path, b))
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return out
}

func mustReq(method, path string, body []byte) *http.Request {
	r, _ := http.NewRequest(method, path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// count is the number of log documents (after a refresh).
func (e *env) count(q any) int {
	e.t.Helper()
	res, err := e.es.Indices.Refresh(e.es.Indices.Refresh.WithIndex(e.names.Alias))
	if err == nil {
		res.Body.Close()
	}
	if q == nil {
		q = map[string]any{"match_all": map[string]any{}}
	}
	out := e.search("/"+e.names.Alias+"/_count?ignore_unavailable=true&allow_no_indices=true", map[string]any{"query": q})
	n, _ := out["count"].(float64)
	return int(n)
}

func (e *env) get(a *App, path string, out any) int {
	e.t.Helper()
	res, err := http.Get("http://" + a.Addr() + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		b, _ := io.ReadAll(res.Body)
		if err := json.Unmarshal(b, out); err != nil && res.StatusCode == 200 {
			e.t.Fatalf("%s: %v: %s", path, err, b)
		}
	}
	return res.StatusCode
}

func traceID(i int) string { return fmt.Sprintf("%032x", 0x1000+i) }

var _ = strings.Contains
