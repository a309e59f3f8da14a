package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

// growBound is how soon after a topic grows its new partitions must be
// assigned and their records indexed: kafka-go's partition watcher (every
// health.poll-interval) ends the generation, the group rebalances, and the
// readers of the new partitions start at the earliest offset.
const growBound = 30 * time.Second

// A topic grown while the indexer runs under load: the new partitions are
// assigned and their records indexed within growBound, and /readyz never
// answers 200 while the coordinator (asked by the test itself) leaves a
// partition of the topic without a member for longer than two polls.
func TestTopicGrownUnderLoad(t *testing.T) {
	e := newEnv(t, 3)
	cfg := e.cfg
	cfg.Health = fastHealth()
	a, _ := e.start(cfg)
	e.produce(recs(0, 300, "grow"))
	waitCaughtUp(t, a, 300, 90*time.Second)

	cl, err := e.cfg.Kafka.Client()
	if err != nil {
		t.Fatal(err)
	}
	// The truth, sampled every 200 ms: partitions the coordinator assigns.
	type sample struct {
		at      time.Time
		covered int
		ready   int
	}
	var mu sync.Mutex
	var samples []sample
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			dg, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{cfg.Group}})
			cancel()
			if err != nil || len(dg.Groups) != 1 {
				continue
			}
			covered := map[int]bool{}
			for _, m := range dg.Groups[0].Members {
				for _, tp := range m.MemberAssignments.Topics {
					for _, p := range tp.Partitions {
						covered[p] = true
					}
				}
			}
			code, _ := readyz(t, a)
			mu.Lock()
			samples = append(samples, sample{time.Now(), len(covered), code})
			mu.Unlock()
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	// Load keeps coming on the old partitions while the topic grows.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for i := range 10 {
			e.produce(recs(1000+i*100, 100, "grow"))
			time.Sleep(300 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	grown := time.Now()
	res, err := cl.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{{Name: e.topic, Count: 6}}})
	if err == nil {
		err = errors.Join(slices.Collect(maps.Values(res.Errors))...)
	}
	if err != nil {
		t.Fatalf("grow %s to 6 partitions: %v", e.topic, err)
	}
	d, _ := e.cfg.Kafka.Dialer()
	const extra = 50
	for _, part := range []int{3, 4, 5} {
		var msgs []kafka.Message
		for i := range extra {
			r := rec(5000+part*extra+i, traceID(part*1000+i), "grow", time.Now().UTC(), record.LevelInfo)
			msgs = append(msgs, kafka.Message{Value: r.AppendJSON(nil)})
		}
		harness.Eventually(t, growBound, func() (bool, string) {
			c, err := d.DialLeader(ctx, "tcp", e.cfg.Kafka.Brokers[0], e.topic, part)
			if err != nil {
				return false, err.Error()
			}
			defer c.Close()
			_, err = c.WriteMessages(msgs...)
			return err == nil, fmt.Sprintf("write to partition %d: %v", part, err)
		})
	}
	<-loadDone
	want := 300 + 1000 + 3*extra
	harness.Eventually(t, growBound, func() (bool, string) {
		got := int(testutil.ToFloat64(a.m.Indexed))
		return got == want, fmt.Sprintf("indexed %d of %d within %s of the growth", got, want, growBound)
	})
	took := time.Since(grown)
	waitCaughtUp(t, a, want, growBound)
	if got := testutil.ToFloat64(a.m.AssignedPartitions.WithLabelValues(a.cfg.Topic)); got != 6 {
		t.Errorf("assigned partitions %v after the growth, want 6", got)
	}
	mu.Lock()
	defer mu.Unlock()
	var uncovered time.Time
	lies := 0
	for _, s := range samples {
		switch {
		case s.covered >= 6 || s.at.Before(grown):
			uncovered = time.Time{}
			continue
		case uncovered.IsZero():
			uncovered = s.at
		}
		if s.ready == 200 && s.at.Sub(uncovered) > 2*cfg.Health.PollInterval+200*time.Millisecond {
			lies++
		}
	}
	if lies > 0 {
		t.Errorf("/readyz answered 200 in %d samples while the group left partitions of the grown topic without a member", lies)
	}
	t.Logf("grown 3 → 6 partitions: every record indexed %s after the growth (bound %s); %d samples", took.Round(100*time.Millisecond), growBound, len(samples))
}
