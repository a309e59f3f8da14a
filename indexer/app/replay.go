package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agentobs/agentobs/indexer/bulk"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// ReplayOptions select what `indexer replay` re-indexes.
type ReplayOptions struct {
	// FromDLQ re-indexes the dead-letter topic (kafka.dlq-topic) with index
	// (overwrite) operations: the dead-lettered version replaces a
	// quarantined one once the mapping is fixed.
	FromDLQ bool
	// Topic, Since, Until re-index a topic between two times (offsets for
	// times) with create operations: what is already there is a duplicate.
	Topic        string
	Since, Until time.Time
}

// ReplayStats counts what a replay did.
type ReplayStats struct {
	Indexed, Duplicates, Quarantined, Failed int
}

// Replay re-indexes a bounded range and returns when it is done. Ids are
// deterministic, so a replay never duplicates a document. Records that fail
// again are counted and logged, not dead-lettered again.
func (a *App) Replay(ctx context.Context, o ReplayOptions) (ReplayStats, error) {
	if err := a.prepare(ctx); err != nil {
		return ReplayStats{}, err
	}
	topic, op := o.Topic, bulk.OpCreate
	if o.FromDLQ {
		topic, op = a.cfg.DLQTopic, bulk.OpIndex
	}
	if topic == "" {
		return ReplayStats{}, errors.New("replay: give -from-dlq or -topic")
	}
	src, err := newRangeSource(ctx, a.cfg.Kafka, topic, o.Since, o.Until)
	if err != nil {
		return ReplayStats{}, err
	}
	defer src.Close()
	p := a.pipeline(src, op, nil, nil)
	drain, cancel := context.WithTimeout(context.Background(), a.set.ShutdownTimeout)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-drain.Done():
		}
	}()
	err = p.run(ctx, drain)
	st := ReplayStats{
		Indexed:     int(testutil.ToFloat64(a.m.Indexed)),
		Duplicates:  int(testutil.ToFloat64(a.m.Duplicates)),
		Quarantined: int(testutil.ToFloat64(a.m.Quarantined)),
		Failed:      p.deadSeen,
	}
	if err != nil {
		return st, fmt.Errorf("replay %s: %w", topic, err)
	}
	return st, nil
}
