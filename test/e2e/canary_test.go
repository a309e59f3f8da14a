package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	indexer "github.com/agentobs/agentobs/indexer/app"
	"github.com/agentobs/agentobs/indexer/canary"
	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/indexer/trace"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/internal/telemetry"
	shipper "github.com/agentobs/agentobs/shipper/app"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"
)

// TestCanaryEndToEnd runs the real shipper and indexer in-process on the
// local stack: the shipper's canaries reach Elasticsearch through its own
// path and the indexer's canary age stays small; the loss audit, the
// search and the correlation coverage see only the user records; when
// the indexer stops, the age (read from the exported gauge) grows past a
// stale threshold and comes back after a restart; a clean stop of the
// shipper removes its source instead of leaving it to alert.
func TestCanaryEndToEnd(t *testing.T) {
	kc := harness.RequireKafka(t)
	es := harness.RequireES(t)
	topic := harness.Topic(t, 2)
	names := schema.WithPrefix(harness.Index(t))
	t.Cleanup(func() { schema.Uninstall(context.Background(), es, names) })
	const lines = 400
	logs := filepath.Join(t.TempDir(), "app.log")
	var sb strings.Builder
	for i := range lines {
		fmt.Fprintf(&sb, `{"message":"user line %d","level":"info","service":"canary-e2e","trace_id":"%032x"}`+"\n", i, i+1)
	}
	if err := os.WriteFile(logs, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	icfg := indexer.DefaultConfig()
	icfg.Kafka, icfg.ES = kc, harness.ESConfig()
	icfg.Topic, icfg.DLQTopic, icfg.Group = topic, topic+"-dlq", harness.Name(t, "g")
	icfg.SpansTopic = ""
	icfg.Names = names
	icfg.Index.Replicas = 0
	icfg.HTTPAddr = "127.0.0.1:0"
	icfg.CommitInterval, icfg.SummaryInterval = 200*time.Millisecond, 300*time.Millisecond
	icfg.SessionTimeout = 6 * time.Second
	icfg.Audit.Interval = 0
	icfg.Canary.Interval = 200 * time.Millisecond
	t.Cleanup(func() { harness.DeleteTopics(t, topic+"-dlq", topic+"-marks") })
	ireg := telemetry.NewRegistry()
	startIndexer := func(reg *prometheus.Registry) (*indexer.App, func()) {
		a, err := indexer.New(icfg, indexer.Settings{Logger: quiet(), Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		return a, harness.RunStage(t, a)
	}
	ix, stopIndexer := startIndexer(ireg)

	scfg := shipper.DefaultConfig()
	scfg.Host = harness.Name(t, "h")
	scfg.Kafka.Brokers = kc.Brokers
	scfg.Edge.Topic = topic
	scfg.Files.Include = []string{logs}
	scfg.Files.CheckpointDir = filepath.Join(t.TempDir(), "checkpoints")
	scfg.Files.PollInterval = 50 * time.Millisecond
	scfg.HTTPAddr = "127.0.0.1:0"
	scfg.Marks.Interval = 200 * time.Millisecond
	scfg.Canary.Interval = 300 * time.Millisecond
	sh, err := shipper.New(scfg, shipper.Settings{Logger: quiet(), Registry: telemetry.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	stopShipper := harness.RunStage(t, sh)
	source := "shipper/" + scfg.Host

	// 1. Canaries flow: the indexer's own prober exports a small age.
	harness.Eventually(t, 90*time.Second, func() (bool, string) {
		age, ok := gauge(t, ireg, "agentobs_indexer_canary_age_seconds", source)
		return ok && age < 3, fmt.Sprintf("canary age of %s: %v (exported %v)", source, age, ok)
	})
	// A quiet machine gets there with the first canary: wait for a second
	// one (every 300 ms), whose id must differ.
	var docs []map[string]any
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		docs = canaryDocs(t, es, names.Alias)
		return len(docs) >= 2, fmt.Sprintf("want at least 2 canary documents, got %d", len(docs))
	})
	ids := map[string]bool{}
	for _, d := range docs {
		if d[record.FieldCanary] != source || d[record.FieldMessage] != "agentobs end-to-end canary" ||
			!strings.HasPrefix(fmt.Sprint(d[record.FieldProducerID]), source+"/canary/") || ids[fmt.Sprint(d[record.FieldEventID])] {
			t.Fatalf("canary document %v", d)
		}
		ids[fmt.Sprint(d[record.FieldEventID])] = true
	}

	// 2. Canaries are not user data: the audit, the search and the
	// coverage see exactly the user lines.
	ctx := context.Background()
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		r, err := ix.Auditor().Run(ctx, 10*time.Minute, 0)
		if err != nil {
			return false, err.Error()
		}
		var surplus int64
		for _, p := range r.Producers {
			surplus += p.Surplus
			if strings.Contains(p.ID, "/canary/") {
				return false, "canary producer in the audit: " + p.ID
			}
		}
		return r.Indexed == lines && r.Missing == 0 && surplus == 0, fmt.Sprintf("audit: indexed %d missing %d surplus %d producers %d", r.Indexed, r.Missing, surplus, len(r.Producers))
	})
	res, err := ix.Store().Search(ctx, trace.SearchQuery{From: time.Now().Add(-time.Hour), Size: 500})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != lines {
		t.Fatalf("search found %d records, want the %d user lines and no canary", res.Total, lines)
	}
	if res, err = ix.Store().Search(ctx, trace.SearchQuery{From: time.Now().Add(-time.Hour), Text: "canary"}); err != nil || res.Total != 0 {
		t.Fatalf("search for the canary text: %v, %v hits", err, res)
	}
	cov, err := ix.Store().Coverage(ctx, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(cov) != 1 || cov[0].Service != "canary-e2e" || cov[0].Records != lines || cov[0].WithoutTrace != 0 {
		t.Fatalf("coverage %+v, want only service canary-e2e with %d traced records", cov, lines)
	}

	// 3. The path breaks (no indexer): a prober of its own keeps asking
	// Elasticsearch and the exported age grows past a stale threshold;
	// after a restart it is small again.
	preg := prometheus.NewRegistry()
	pcfg := canary.DefaultConfig()
	pcfg.Interval = 200 * time.Millisecond
	pr, err := canary.New(pcfg, es, names.Alias, canary.NewMetrics(preg), quiet())
	if err != nil {
		t.Fatal(err)
	}
	pctx, pstop := context.WithCancel(ctx)
	defer pstop()
	go pr.Run(pctx)
	stopIndexer()
	const stale = 5.0 // 16 canary intervals
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		age, ok := gauge(t, preg, "agentobs_indexer_canary_age_seconds", source)
		return ok && age > stale, fmt.Sprintf("indexer stopped, canary age %v (exported %v), want > %v", age, ok, stale)
	})
	ireg2 := telemetry.NewRegistry()
	_, _ = startIndexer(ireg2)
	harness.Eventually(t, 90*time.Second, func() (bool, string) {
		age, ok := gauge(t, preg, "agentobs_indexer_canary_age_seconds", source)
		return ok && age < 3, fmt.Sprintf("indexer restarted, canary age %v (exported %v)", age, ok)
	})

	// 4. A clean stop sends a final canary: the source is dropped, so a
	// shipper scaled down does not alert.
	stopShipper()
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		age, ok := gauge(t, preg, "agentobs_indexer_canary_age_seconds", source)
		return !ok, fmt.Sprintf("shipper stopped cleanly, canary age still exported: %v", age)
	})
	if n, _ := gauge(t, preg, "agentobs_indexer_canary_sources", ""); n != 0 {
		t.Fatalf("sources %v after the clean stop, want 0", n)
	}
	if n, _ := gauge(t, preg, "agentobs_indexer_canary_probe_errors_total", ""); n != 0 {
		t.Fatalf("probe errors %v against a healthy Elasticsearch", n)
	}
}

func quiet() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// gauge reads the series of name from reg (with label source when given).
func gauge(t *testing.T, reg prometheus.Gatherer, name, source string) (float64, bool) {
	t.Helper()
	if source == "" {
		return harness.MetricValue(t, reg, name)
	}
	return harness.MetricValue(t, reg, name, "source", source)
}

func canaryDocs(t *testing.T, es *elasticsearch.Client, alias string) []map[string]any {
	t.Helper()
	body := fmt.Sprintf(`{"size":100,"query":{"exists":{"field":%q}}}`, record.FieldCanary)
	res, err := es.Search(es.Search.WithIndex(alias), es.Search.WithBody(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r struct {
		Hits struct {
			Hits []struct {
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if res.IsError() {
		t.Fatalf("canary search: %s", res.Status())
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]any, 0, len(r.Hits.Hits))
	for _, h := range r.Hits.Hits {
		out = append(out, h.Source)
	}
	return out
}
