package app

import (
	"context"
	"testing"
	"time"

	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The guard itself, deterministically: a group that has never committed
// starts at the earliest offset, as kafka-go does when the coordinator
// answers without committed offsets; with a floor known (as the monitor
// learns it from a poll), everything below it is skipped and counted, the
// first message returned is the one at the floor, and the member rejoins.
func TestGroupSourceSkipsBelowCommittedFloor(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(recs(0, 50, "floor"))
	cfg := e.cfg
	src, err := newGroupSource(cfg, memberClientID("floor"), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	skipped := prometheus.NewCounter(prometheus.CounterOpts{Name: "skipped"})
	src.skipped = skipped
	src.raiseFloors(map[int]int64{0: 30})
	src.raiseFloor(0, 20) // a floor never moves down
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := src.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Offset != 30 {
		t.Errorf("first message returned at offset %d, want 30 (the committed floor)", m.Offset)
	}
	// Each of the 30 below the floor is skipped; some may be fetched and
	// skipped twice, when the rejoin the first skip asked for replaced
	// the reader before it reached the floor (the new generation starts
	// at the earliest offset again).
	if got := testutil.ToFloat64(skipped); got < 30 {
		t.Errorf("skipped %v messages below the floor, want at least 30", got)
	}
	// The rejoin runs beside the fetch loop.
	harness.Eventually(t, 10*time.Second, func() (bool, string) {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.gen > 0, "no rejoin after a rewind: the next generation would not read the committed offsets again"
	})
}
