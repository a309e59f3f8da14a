package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

// An indexer started before its topic exists is not ready, and consumes
// everything once the topic is created (found: it consumed nothing, forever,
// with the group Stable, one member, no partitions and /readyz 200).
func TestTopicCreatedLate(t *testing.T) {
	e := newEnv(t, 1)
	late := harness.Name(t, "late")
	t.Cleanup(func() { harness.DeleteTopics(t, late) })
	cfg := e.cfg
	cfg.Topic = late
	a, _ := e.start(cfg)
	time.Sleep(5 * time.Second)
	if code := e.get(a, "/readyz", nil); code != 503 {
		t.Errorf("/readyz before the topic exists: %d, want 503", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkaclient.EnsureTopics(ctx, e.cfg.Kafka, kafkaclient.TopicSpec{Name: late, Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	e.topic = late
	const n = 300
	base := time.Now().UTC()
	var recs []*record.Record
	for i := range n {
		recs = append(recs, rec(i, traceID(i), "late", base.Add(time.Duration(i)*time.Millisecond), record.LevelInfo))
	}
	e.produce(recs)
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		got := int(testutil.ToFloat64(a.m.Indexed))
		return got == n, fmt.Sprintf("indexed %d of %d", got, n)
	})
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		code := e.get(a, "/readyz", nil)
		return code == 200, fmt.Sprintf("/readyz %d", code)
	})

	// The topic grows: records on the new partitions are consumed too.
	cl, err := e.cfg.Kafka.Client()
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{{Name: late, Count: 5}}})
	if err == nil {
		err = errors.Join(slices.Collect(maps.Values(res.Errors))...)
	}
	if err != nil {
		t.Fatalf("grow %s to 5 partitions: %v", late, err)
	}
	d, _ := e.cfg.Kafka.Dialer()
	const extra = 50
	for _, part := range []int{3, 4} {
		var msgs []kafka.Message
		for i := range extra {
			r := rec(n+part*extra+i, traceID(part*1000+i), "late", base, record.LevelInfo)
			msgs = append(msgs, kafka.Message{Value: r.AppendJSON(nil)})
		}
		harness.Eventually(t, 30*time.Second, func() (bool, string) {
			c, err := d.DialLeader(ctx, "tcp", e.cfg.Kafka.Brokers[0], late, part)
			if err != nil {
				return false, err.Error()
			}
			defer c.Close()
			_, err = c.WriteMessages(msgs...)
			return err == nil, fmt.Sprintf("write to partition %d: %v", part, err)
		})
	}
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		got := int(testutil.ToFloat64(a.m.Indexed))
		return got == n+2*extra, fmt.Sprintf("indexed %d of %d after the topic grew", got, n+2*extra)
	})
}

// fastHealth shrinks the health bounds so a fault shows within seconds.
func fastHealth() HealthConfig {
	return HealthConfig{PollInterval: 500 * time.Millisecond, StallTimeout: 4 * time.Second,
		ESHangTimeout: 3 * time.Second, KafkaTimeout: 3 * time.Second, RejoinAfter: 2 * time.Second}
}

// readyz returns /readyz's status and body.
func readyz(t *testing.T, a *App) (int, string) {
	t.Helper()
	res, err := http.Get("http://" + a.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(b))
}

// lagSum is the record topic's consumer_lag_records summed over partitions.
func lagSum(t testing.TB, a *App) int {
	sum, ok := harness.MetricValue(t, registryOf(a), "agentobs_indexer_consumer_lag_records", "topic", a.cfg.Topic)
	if !ok {
		return -1
	}
	return int(sum)
}

func registryOf(a *App) *prometheus.Registry { return a.set.Registry }

func recs(from, n int, service string) []*record.Record {
	base := time.Now().UTC()
	var out []*record.Record
	for i := from; i < from+n; i++ {
		out = append(out, rec(i, traceID(i), service, base.Add(time.Duration(i)*time.Microsecond), record.LevelInfo))
	}
	return out
}

// waitCaughtUp waits until want documents are indexed, the group's lag is
// 0 and /readyz answers 200.
func waitCaughtUp(t *testing.T, a *App, want int, timeout time.Duration) {
	t.Helper()
	harness.Eventually(t, timeout, func() (bool, string) {
		got, lag := int(testutil.ToFloat64(a.m.Indexed)), int(testutil.ToFloat64(a.m.GroupLag.WithLabelValues(a.cfg.Topic)))
		code, body := readyz(t, a)
		return got == want && lag == 0 && code == 200, fmt.Sprintf("indexed %d of %d, group lag %d, /readyz %d %s", got, want, lag, code, body)
	})
}

// A frozen Elasticsearch node (SIGSTOP: connections accepted, nothing
// answered) makes the indexer not ready and es_up 0 within the hang bound,
// and the lag gauge counts exactly the records produced during the freeze
// (found: /readyz 200, es_up 1 and lag stuck at 56 while 89 000 lines
// piled up). After the thaw everything is indexed and it is ready again.
func TestReadinessDuringElasticsearchFreeze(t *testing.T) {
	e := newEnv(t, 2)
	node := harness.StartES(t, harness.ESServerOptions{PlainHTTP: true})
	cfg := e.cfg
	cfg.ES = node.Config("", "")
	cfg.Health = fastHealth()
	a, _ := e.start(cfg)
	e.produce(recs(0, 300, "freeze-es"))
	waitCaughtUp(t, a, 300, 90*time.Second)

	if err := node.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			if err := node.Thaw(); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(thaw)
	const during = 500
	e.produce(recs(300, during, "freeze-es"))
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		code, body := readyz(t, a)
		up := testutil.ToFloat64(a.m.ESUpGauge)
		return code == 503 && strings.Contains(body, "elasticsearch") && up == 0, fmt.Sprintf("/readyz %d %q, es_up %v", code, body, up)
	})
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		g, s := int(testutil.ToFloat64(a.m.GroupLag.WithLabelValues(a.cfg.Topic))), lagSum(t, a)
		return g == during && s == during, fmt.Sprintf("group lag %d, sum of consumer_lag_records %d, want %d", g, s, during)
	})
	if stall := testutil.ToFloat64(a.m.StallSeconds.WithLabelValues(a.cfg.Topic)); stall <= 0 {
		t.Errorf("commit_stall_seconds %v during the freeze, want > 0", stall)
	}
	thaw()
	waitCaughtUp(t, a, 300+during, 180*time.Second)
	if up := testutil.ToFloat64(a.m.ESUpGauge); up != 1 {
		t.Errorf("es_up %v after the thaw", up)
	}
}

// A frozen broker makes the indexer not ready (its polls fail); after the
// thaw it consumes again and is ready (found: /readyz 200 and lag 0 while
// nothing was consumed for 30 s after a 20 s freeze).
func TestReadinessDuringKafkaFreeze(t *testing.T) {
	b := harness.StartKafka(t, harness.KafkaServerOptions{Partitions: 2})
	es := harness.RequireES(t)
	kc := b.PlainConfig()
	topic, dlq := harness.Name(t, "t"), harness.Name(t, "dlq")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := kafkaclient.EnsureTopics(ctx, kc, kafkaclient.TopicSpec{Name: topic, Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	prefix := harness.Index(t)
	e := &env{t: t, es: es, topic: topic, dlq: dlq, prefix: prefix, names: schema.WithPrefix(prefix)}
	t.Cleanup(func() { schema.Uninstall(context.Background(), es, e.names) })
	p, err := kafkaclient.NewProducer(kc, kafkaclient.DefaultProducerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	e.prod = p
	cfg := newEnvConfig(t, kc, topic, dlq, e.names)
	cfg.Health = fastHealth()
	a, _ := e.start(cfg)
	e.produce(recs(0, 300, "freeze-kafka"))
	waitCaughtUp(t, a, 300, 90*time.Second)

	if err := b.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			if err := b.Thaw(); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(thaw)
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		code, body := readyz(t, a)
		return code == 503 && strings.Contains(body, "kafka"), fmt.Sprintf("/readyz %d %q", code, body)
	})
	if n := testutil.ToFloat64(a.m.LagPolls.WithLabelValues(a.cfg.Topic, "error")); n == 0 {
		t.Error("lag_polls_total{outcome=error} is 0 during the freeze")
	}
	thaw()
	e.produce(recs(300, 300, "freeze-kafka"))
	waitCaughtUp(t, a, 600, 180*time.Second)
}

// Readiness waits for the group: the first /readyz 200 comes only after the
// coordinator assigned every partition (to this, the only member). Found:
// ready at once, while the group was still forming ("[15] Group
// Coordinator Not Available" on a fresh broker) or had no partitions.
func TestReadyOnlyAfterAssignment(t *testing.T) {
	e := newEnv(t, 3)
	cfg := e.cfg
	cfg.Health = fastHealth()
	a, _ := e.start(cfg)
	saw503 := false
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		code, body := readyz(t, a)
		if code != 200 {
			saw503 = true
			return false, fmt.Sprintf("/readyz %d %s", code, body)
		}
		return true, ""
	})
	if !saw503 {
		t.Error("/readyz answered 200 at its first request: before the group could have been joined")
	}
	if got := testutil.ToFloat64(a.m.AssignedPartitions.WithLabelValues(a.cfg.Topic)); got != 3 {
		t.Errorf("ready with %v partitions assigned by the coordinator, want 3", got)
	}
}

// blockSpanWrites sets or lifts a write block on every span index: bulk
// items answer 403 cluster_block_exception, which the writer retries until
// the block lifts (an index outage, never a bad record), while the
// requests themselves succeed, so es_up stays 1.
func (e *env) blockSpanWrites(on bool) {
	e.t.Helper()
	body := fmt.Sprintf(`{"index.blocks.write": %t}`, on)
	res, err := e.es.Indices.PutSettings(strings.NewReader(body), e.es.Indices.PutSettings.WithIndex(e.names.SpansAlias))
	if err != nil {
		e.t.Fatalf("write block %t on %s: %v", on, e.names.SpansAlias, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		b, _ := io.ReadAll(res.Body)
		e.t.Fatalf("write block %t on %s: %s: %s", on, e.names.SpansAlias, res.Status(), b)
	}
}

// The span pipeline is watched like the record pipeline: Elasticsearch
// refusing span writes (a write block on the span indices) while records
// flow shows, within the stall bound, as lag and a commit stall under the
// span topic's label and as /readyz 503 naming the span topic, and all of
// it clears once the spans are indexed. Found: lag, stall and readiness
// came from the record pipeline only, so a stalled span consumer was
// invisible (no metric, no alert, /readyz 200).
func TestSpanStallShowsInHealth(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.cfg
	cfg.SpansTopic = harness.Topic(t, 2)
	cfg.Health = fastHealth()
	spansOf := func(from, n int) []kafka.Message {
		base := time.Now().Add(-time.Minute).UTC()
		var out []kafka.Message
		for i := from; i < from+n; i++ {
			out = append(out, spanOf(cfg.SpansTopic, traceID(900+i%10), "planner", i, false, "ok", base.Add(time.Duration(i)*time.Millisecond), time.Millisecond))
		}
		return out
	}
	gauge := func(a *App, name, topic string) float64 {
		v, _ := harness.MetricValue(t, registryOf(a), name, "topic", topic)
		return v
	}
	indexed := func(a *App) int { return int(testutil.ToFloat64(a.m.Indexed)) }

	a, _ := e.start(cfg)
	e.produce(recs(0, 100, "span-stall"))
	e.produceRaw(spansOf(0, 50))
	harness.Eventually(t, 90*time.Second, func() (bool, string) {
		code, body := readyz(t, a)
		return indexed(a) == 150 && code == 200, fmt.Sprintf("indexed %d of 150, /readyz %d %s", indexed(a), code, body)
	})
	if got := gauge(a, "agentobs_indexer_assigned_partitions", cfg.SpansTopic); got != 2 {
		t.Errorf("assigned_partitions{topic=%q} %v, want 2", cfg.SpansTopic, got)
	}

	e.blockSpanWrites(true)
	blocked := true
	t.Cleanup(func() {
		if blocked {
			e.blockSpanWrites(false)
		}
	})
	const during = 40
	e.produceRaw(spansOf(50, during))
	e.produce(recs(100, 100, "span-stall"))
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		code, body := readyz(t, a)
		stall := gauge(a, "agentobs_indexer_commit_stall_seconds", cfg.SpansTopic)
		lag := gauge(a, "agentobs_indexer_consumer_lag_records", cfg.SpansTopic)
		group := gauge(a, "agentobs_indexer_group_lag_records", cfg.SpansTopic)
		ok := code == 503 && strings.Contains(body, cfg.SpansTopic) && stall > cfg.Health.StallTimeout.Seconds() && lag == during && group == during
		return ok, fmt.Sprintf("/readyz %d %q; span topic: commit_stall_seconds %v, consumer_lag_records %v, group_lag_records %v (want %d)",
			code, body, stall, lag, group, during)
	})
	// The record pipeline goes on, and its series say so.
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		stall, lag := gauge(a, "agentobs_indexer_commit_stall_seconds", cfg.Topic), gauge(a, "agentobs_indexer_group_lag_records", cfg.Topic)
		return indexed(a) == 250 && stall == 0 && lag == 0, fmt.Sprintf("indexed %d of 250 (the spans wait), record topic: stall %v, group lag %v", indexed(a), stall, lag)
	})
	if up := testutil.ToFloat64(a.m.ESUpGauge); up != 1 {
		t.Errorf("es_up %v while only span writes are refused", up)
	}

	e.blockSpanWrites(false)
	blocked = false
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		code, body := readyz(t, a)
		stall := gauge(a, "agentobs_indexer_commit_stall_seconds", cfg.SpansTopic)
		group := gauge(a, "agentobs_indexer_group_lag_records", cfg.SpansTopic)
		return indexed(a) == 290 && code == 200 && stall == 0 && group == 0,
			fmt.Sprintf("indexed %d of 290, /readyz %d %s, span topic: stall %v, group lag %v", indexed(a), code, body, stall, group)
	})
}
