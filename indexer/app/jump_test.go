package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A group whose committed offset fell out of range (the records after it
// were deleted before they were indexed, as retention does while an
// indexer is down) must not skip them silently: kafka-go moves such a
// partition to the log start without a word. The indexer, started with
// -kafka.start-offset latest, counts exactly the deleted records in
// records_skipped_total{reason="out_of_range"}, indexes everything still
// in Kafka from the log start (latest applies only to a group that never
// committed), and reports it in its lag and readiness as usual.
func TestOutOfRangeIsCountedNotSilent(t *testing.T) {
	b := harness.StartKafka(t, harness.KafkaServerOptions{Partitions: 1})
	es := harness.RequireES(t)
	kc := b.PlainConfig()
	topic, dlq := harness.Name(t, "t"), harness.Name(t, "dlq")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := kafkaclient.EnsureTopics(ctx, kc, kafkaclient.TopicSpec{Name: topic, Partitions: 1}, kafkaclient.TopicSpec{Name: dlq, Partitions: 1}); err != nil {
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
	cfg.StartOffset = "latest"

	// A new group with latest: records produced after it joined are indexed.
	a, stop := e.start(cfg)
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		code, body := readyz(t, a)
		return code == 200, fmt.Sprintf("/readyz %d %s", code, body)
	})
	e.produce(recs(0, 300, "out-of-range"))
	waitCaughtUp(t, a, 300, 90*time.Second)
	stop()

	// While it is down: 300 more, and the first 150 of them deleted.
	e.produce(recs(300, 300, "out-of-range"))
	const logStart = 450
	if err := b.DeleteRecords(ctx, topic, 0, logStart); err != nil {
		t.Fatal(err)
	}

	a, _ = e.start(cfg)
	waitCaughtUp(t, a, 600-logStart, 90*time.Second)
	if got := testutil.ToFloat64(a.m.RecordsSkipped.WithLabelValues(skippedOutOfRange)); got != logStart-300 {
		t.Errorf("records_skipped_total{reason=out_of_range} = %v, want %d (the records deleted unindexed)", got, logStart-300)
	}
	if n := e.count(map[string]any{"match_all": map[string]any{}}); n != 600-(logStart-300) {
		t.Errorf("%d documents, want %d: everything but the deleted records", n, 600-(logStart-300))
	}
	// Nothing else was skipped and nothing needed repairing.
	if got := testutil.ToFloat64(a.m.PositionRepairs); got != 0 {
		t.Errorf("position_repairs_total = %v, want 0", got)
	}
}
