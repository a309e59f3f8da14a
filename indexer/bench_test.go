package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"github.com/segmentio/kafka-go"
)

// BenchmarkIndexerVsBulkIndexer loads the same 1 KiB records into the same
// cluster twice: directly with esutil.BulkIndexer, and from Kafka through the
// indexer binary (exactly-once create, per-item handling, summaries, commits).
// It reports both rates, their ratio and the indexer's peak RSS.
//
//	go test -run X -bench IndexerVsBulkIndexer -benchtime 1x ./indexer
func BenchmarkIndexerVsBulkIndexer(b *testing.B) {
	kc := harness.RequireKafka(b)
	es := harness.RequireES(b)
	n := 60000
	if s := os.Getenv("INDEXER_BENCH_DOCS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	topic, dlq := harness.Topic(b, 6), harness.Topic(b, 1)
	direct, viaKafka := schema.WithPrefix(harness.Index(b)), schema.WithPrefix(harness.Index(b))
	b.Cleanup(func() {
		schema.Uninstall(context.Background(), es, direct)
		schema.Uninstall(context.Background(), es, viaKafka)
	})
	set := schema.DefaultSettings()
	set.Replicas = 0
	if err := schema.Install(context.Background(), es, direct, set, schema.Features{}, schema.Options{}, slog.Default()); err != nil {
		b.Fatal(err)
	}
	base := time.Now().Add(-time.Hour).UTC()
	docs := make([]*record.Record, n)
	values := make([][]byte, n)
	for i := range n {
		r := &record.Record{Timestamp: base.Add(time.Duration(i) * time.Microsecond), Level: record.LevelInfo,
			Service: fmt.Sprintf("agent-%d", i%8), TraceID: fmt.Sprintf("%032x", 1+i/20), SpanID: fmt.Sprintf("%016x", 1+i),
			EventID: publish.EventID("bench", uint64(i), nil), Message: "tool call finished",
			Fields: map[string]any{"gen_ai.operation.name": "chat", "tool.output": strings.Repeat("y", 700)}}
		docs[i], values[i] = r, r.AppendJSON(nil)
	}
	b.Logf("record size %d bytes", len(values[0]))
	pc := kafkaclient.DefaultProducerConfig()
	prod, err := kafkaclient.NewProducer(kc, pc, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i += 5000 {
		msgs := make([]kafka.Message, 0, 5000)
		for j := i; j < min(i+5000, n); j++ {
			msgs = append(msgs, publish.RecordMessage(topic, docs[j], values[j]))
		}
		if err := prod.Send(context.Background(), msgs); err != nil {
			b.Fatal(err)
		}
	}
	prod.Close()
	b.ResetTimer()

	// 1. esutil.BulkIndexer, same documents, same template.
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: es, NumWorkers: 2, FlushBytes: 5 << 20, FlushInterval: 200 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	idx := schema.NewIndexer(direct)
	t0 := time.Now()
	for i := range n {
		_ = bi.Add(context.Background(), esutil.BulkIndexerItem{Action: "create", Index: idx.Index(docs[i].Timestamp),
			DocumentID: docs[i].EventID, Body: bytes.NewReader(values[i])})
	}
	if err := bi.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	directRate := float64(n) / time.Since(t0).Seconds()
	if st := bi.Stats(); st.NumFailed != 0 {
		b.Fatalf("bulk indexer failures: %+v", st)
	}

	// 2. The indexer binary from Kafka.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(binary, "run")
	cmd.Env = append(os.Environ(),
		"INDEXER_KAFKA_BROKERS="+strings.Join(kc.Brokers, ","), "INDEXER_ES_ADDRESSES="+harness.ESURL(),
		"INDEXER_KAFKA_TOPIC="+topic, "INDEXER_KAFKA_DLQ_TOPIC="+dlq, "INDEXER_KAFKA_GROUP="+harness.Name(b, "g"),
		"INDEXER_KAFKA_SESSION_TIMEOUT=6s", "INDEXER_INDEX_PATTERN="+viaKafka.IndexPattern, "INDEXER_INDEX_ALIAS="+viaKafka.Alias,
		"INDEXER_INDEX_TRACES="+viaKafka.Traces, "INDEXER_INDEX_ALERTS="+viaKafka.Alerts, "INDEXER_INDEX_REPLICAS=0",
		"INDEXER_HTTP_ADDR="+addr, "INDEXER_LOG_LEVEL=warn", "INDEXER_KAFKA_SPANS_TOPIC=")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	var started time.Time
	deadline := time.Now().Add(5 * time.Minute)
	for {
		// Poll the indexer's own counter: a refresh-and-count loop would
		// load the cluster the direct run did not have to share.
		c := indexedTotal(addr)
		if c > 0 && started.IsZero() {
			started = time.Now() // exclude process start, template install and group join
			continue
		}
		if c >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	kafkaRate := float64(n) / time.Since(started).Seconds()
	rss := peakRSS(cmd.Process.Pid)
	b.ReportMetric(directRate, "bulkindexer_docs/s")
	b.ReportMetric(kafkaRate, "indexer_docs/s")
	b.ReportMetric(kafkaRate/directRate, "ratio")
	b.ReportMetric(float64(rss)/(1<<20), "indexer_peak_rss_MiB")
}

// indexedTotal reads documents_indexed_total + duplicates_total from /metrics.
func indexedTotal(addr string) int {
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	total := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		for _, name := range []string{"agentobs_indexer_documents_indexed_total ", "agentobs_indexer_duplicates_total "} {
			if strings.HasPrefix(line, name) {
				v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
				total += v
			}
		}
	}
	return int(total)
}

// peakRSS is VmHWM of a process in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
