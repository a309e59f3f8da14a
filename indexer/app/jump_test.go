package app

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
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
	if got := testutil.ToFloat64(a.m.RecordsSkipped.WithLabelValues(cfg.Topic, skippedOutOfRange)); got != logStart-300 {
		t.Errorf("records_skipped_total{reason=out_of_range} = %v, want %d (the records deleted unindexed)", got, logStart-300)
	}
	if n := e.count(map[string]any{"match_all": map[string]any{}}); n != 600-(logStart-300) {
		t.Errorf("%d documents, want %d: everything but the deleted records", n, 600-(logStart-300))
	}
	// Nothing else was skipped and nothing needed repairing.
	if got := testutil.ToFloat64(a.m.PositionRepairs.WithLabelValues(cfg.Topic)); got != 0 {
		t.Errorf("position_repairs_total = %v, want 0", got)
	}
}

// The repair arm of the forward-jump guard: messages of a partition start
// above the group's committed offset while the records in between are
// still in Kafka (kafka-go applied -kafka.start-offset latest to a group
// that had committed, as it does when the coordinator answers without
// offsets). The guard must not use them: it counts a repair, holds the
// partition's messages above the committed position back, and rejoins so
// that the next generation reads from the committed position, where
// nothing is skipped. The jump itself cannot be provoked on demand on a
// real broker, so the test hands the guard the message a jumped reader
// delivers; the group, the offsets, the rejoin and the re-read are real.
func TestForwardJumpIsRepairedNotSkipped(t *testing.T) {
	kc := harness.RequireKafka(t)
	topic := harness.Topic(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := kafkaclient.NewProducer(kc, kafkaclient.DefaultProducerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	msgs := make([]kafka.Message, 100)
	for i := range msgs {
		msgs[i] = kafka.Message{Topic: topic, Value: fmt.Appendf(nil, "%d", i)}
	}
	if err := p.Send(ctx, msgs); err != nil {
		t.Fatal(err)
	}

	// The group committed 40: records 40..99 are not indexed yet.
	cfg := DefaultConfig()
	cfg.Kafka, cfg.Topic, cfg.Group = kc, topic, harness.Name(t, "g")
	cfg.StartOffset = "latest"
	cfg.SessionTimeout = 6 * time.Second
	cfg.Health = fastHealth()
	cl, err := kc.Client()
	if err != nil {
		t.Fatal(err)
	}
	const committed = 40
	// A new group's coordinator answers "not coordinator" until it has
	// loaded the group: retry the commit until it is taken.
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		res, err := cl.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: cfg.Group, GenerationID: -1,
			Topics: map[string][]kafka.OffsetCommit{topic: {{Partition: 0, Offset: committed}}}})
		if err == nil {
			for _, pr := range res.Topics[topic] {
				err = errors.Join(err, pr.Error)
			}
		}
		return err == nil, fmt.Sprintf("commit offset %d: %v", committed, err)
	})

	m := NewMetrics(prometheus.NewRegistry())
	g, err := newGroupSource(cfg, memberClientID("jump-test"), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.jump = newJumpGuard(cl, m.consumer(topic))

	// latest applies only to a group that never committed: reading starts
	// at the committed offset, and that is no jump.
	first, err := g.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Offset != committed {
		t.Fatalf("first message at offset %d, want the committed %d", first.Offset, committed)
	}

	// A reader that jumped delivers offset 90 as the start of its stretch.
	jumped := kafka.Message{Topic: topic, Partition: 0, Offset: 90}
	if !g.jumped(ctx, jumped) {
		t.Fatal("a stretch starting at 90 above the committed 40 was used: records 40..89 would be skipped")
	}
	if got := testutil.ToFloat64(m.PositionRepairs.WithLabelValues(topic)); got != 1 {
		t.Errorf("position_repairs_total = %v, want 1", got)
	}
	// While the repair is under way the jumped reader's next messages are
	// held back too.
	if !g.jumped(ctx, kafka.Message{Topic: topic, Partition: 0, Offset: 91}) {
		t.Error("offset 91 was used while the partition is being put back at 40")
	}

	// The next generation reads from the committed position again.
	next, err := g.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next.Offset != committed {
		t.Errorf("after the repair reading went on at offset %d, want %d", next.Offset, committed)
	}
	// The stretch is normal again: the message after it is used.
	if g.jumped(ctx, kafka.Message{Topic: topic, Partition: 0, Offset: committed + 1}) {
		t.Error("offset 41 following 40 was held back after the repair ended")
	}
	if got := testutil.ToFloat64(m.RecordsSkipped.WithLabelValues(topic, skippedOutOfRange)); got != 0 {
		t.Errorf("records_skipped_total{reason=out_of_range} = %v, want 0: every record was still in Kafka", got)
	}
	if got := testutil.ToFloat64(m.PositionRepairs.WithLabelValues(topic)); got != 1 {
		t.Errorf("position_repairs_total = %v after the repair, want 1", got)
	}
	c, _, err := g.jump.positions(ctx, topic, 0, cfg.Group)
	if err != nil {
		t.Fatal(err)
	}
	if c != committed {
		t.Errorf("the group's committed offset is %d after the repair, want %d", c, committed)
	}
}
