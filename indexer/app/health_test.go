package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
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
