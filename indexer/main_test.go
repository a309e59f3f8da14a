package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "indexer-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "indexer")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build indexer: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func count(t testing.TB, es *elasticsearch.Client, index string) int {
	res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(index))
	if err == nil {
		res.Body.Close()
	}
	res, err = es.Count(es.Count.WithIndex(index))
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	var out struct{ Count int }
	_ = json.NewDecoder(res.Body).Decode(&out)
	return out.Count
}

// TestSIGKILLMidStreamExactlyOnce: 100 000 records (plus producer-retry
// duplicates), the indexer process killed with SIGKILL mid-stream and
// started again: exactly N documents.
func TestSIGKILLMidStreamExactlyOnce(t *testing.T) {
	kc := harness.RequireKafka(t)
	es := harness.RequireES(t)
	topic, dlq, prefix := harness.Topic(t, 6), harness.Topic(t, 1), harness.Index(t)
	names := schema.WithPrefix(prefix)
	t.Cleanup(func() { schema.Uninstall(context.Background(), es, names) })
	const n = 100000
	pc := kafkaclient.DefaultProducerConfig()
	prod, err := kafkaclient.NewProducer(kc, pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	base := time.Now().Add(-time.Hour).UTC()
	produce := func(from, to int) {
		msgs := make([]kafka.Message, 0, 5000)
		flush := func() {
			if err := prod.Send(context.Background(), msgs); err != nil {
				t.Fatal(err)
			}
			msgs = msgs[:0]
		}
		for i := from; i < to; i++ {
			r := record.Record{Timestamp: base.Add(time.Duration(i) * time.Microsecond), Message: "agent step " + strings.Repeat("x", 150),
				Level: record.LevelInfo, Service: fmt.Sprintf("agent-%d", i%5), TraceID: fmt.Sprintf("%032x", 1+i/20),
				EventID: publish.EventID("sigkill", uint64(i), nil)}
			m := publish.RecordMessage(topic, &r, r.AppendJSON(nil))
			msgs = append(msgs, m)
			if i%10 == 0 { // a producer retry
				msgs = append(msgs, m)
			}
			if len(msgs) >= 5000 {
				flush()
			}
		}
		flush()
	}
	env := append(os.Environ(),
		"INDEXER_KAFKA_BROKERS="+strings.Join(kc.Brokers, ","), "INDEXER_ES_ADDRESSES="+harness.ESURL(),
		"INDEXER_KAFKA_TOPIC="+topic, "INDEXER_KAFKA_DLQ_TOPIC="+dlq, "INDEXER_KAFKA_GROUP="+harness.Name(t, "g"),
		"INDEXER_KAFKA_SESSION_TIMEOUT=6s", "INDEXER_INDEX_PATTERN="+names.IndexPattern, "INDEXER_INDEX_ALIAS="+names.Alias,
		"INDEXER_INDEX_TRACES="+names.Traces, "INDEXER_INDEX_ALERTS="+names.Alerts, "INDEXER_INDEX_REPLICAS=0",
		"INDEXER_HTTP_ADDR=127.0.0.1:0", "INDEXER_COMMIT_INTERVAL=200ms", "INDEXER_LOG_LEVEL=warn",
		"INDEXER_KAFKA_SPANS_TOPIC=") // not the shared span topic: its traces would get summaries here
	start := func() *exec.Cmd {
		cmd := exec.Command(binary, "run")
		cmd.Env = env
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	produce(0, n/2)
	cmd := start()
	harness.Eventually(t, 120*time.Second, func() (bool, string) {
		c := count(t, es, names.Alias)
		return c >= n/5, fmt.Sprintf("%d documents before the kill", c)
	})
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	killedAt := count(t, es, names.Alias)
	t.Logf("killed with %d documents indexed", killedAt)
	produce(n/2, n)
	cmd = start()
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	harness.Eventually(t, 150*time.Second, func() (bool, string) {
		c := count(t, es, names.Alias)
		return c == n, fmt.Sprintf("%d documents, want %d", c, n)
	})
	time.Sleep(2 * time.Second) // let late duplicates land, then count again
	if c := count(t, es, names.Alias); c != n {
		t.Fatalf("documents %d, want exactly %d", c, n)
	}
	// Summaries: every trace has exactly 20 records.
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		count(t, es, names.Traces)
		res, err := es.Search(es.Search.WithIndex(names.Traces), es.Search.WithBody(strings.NewReader(
			`{"size":0,"aggs":{"n":{"sum":{"field":"record_count"}},"c":{"value_count":{"field":"trace.id"}}}}`)))
		if err != nil {
			return false, err.Error()
		}
		defer res.Body.Close()
		var agg struct {
			Aggregations struct{ N, C struct{ Value float64 } } `json:"aggregations"`
		}
		_ = json.NewDecoder(res.Body).Decode(&agg)
		return agg.Aggregations.N.Value == n && agg.Aggregations.C.Value == n/20,
			fmt.Sprintf("sum of summary record counts %v over %v traces", agg.Aggregations.N.Value, agg.Aggregations.C.Value)
	})
}
