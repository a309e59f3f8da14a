package app

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Forward jumps: the other half of the position guard (source.go guards
// against going back). kafka-go starts a partition at the start offset
// when the coordinator answers without a committed offset, and at the log
// start when the committed offset is out of range (older than retention
// kept), both without telling anyone. With -kafka.start-offset latest the
// first would skip every record between the committed offset and the end;
// either way records are gone from the index unnoticed.
//
// The rule: the start offset is for a group that never committed on the
// partition. So when a partition's messages start (first message in this
// process, or not following the previous one) above the committed position
// the source knows, it asks the broker for the group's committed offset
// and the partition's log start:
//   - committed offset unreadable (coordinator loading): the message is
//     not used and the member rejoins, until the offsets can be read;
//   - the known position is below the log start: the records in between
//     were deleted before they were indexed. That cannot be undone, so it
//     is loud: agentobs_indexer_records_skipped_total{reason="out_of_range"}
//     counts them, an error is logged, AgentobsIndexerRecordsSkipped fires;
//     reading goes on from the log start;
//   - else the records still exist: the source commits the known position
//     again and rejoins, so the next generation reads from there; nothing
//     is skipped (agentobs_indexer_position_repairs_total counts it).
type jumpGuard struct {
	client  *kafka.Client
	skipped prometheus.Counter // records_skipped_total{reason="out_of_range"} of the topic
	repairs prometheus.Counter
	// last fetched offset and the position a repair waits for, per
	// partition (guarded by groupSource.mu).
	last   map[int]int64
	repair map[int]repair
}

// repair is a partition being put back at target: its messages above
// target are not used until the new generation starts there, or until the
// repair expires (the partition may have moved to another member that
// read from target and committed past it; then it is checked afresh).
type repair struct {
	target int64
	until  time.Time
}

// repairFor is how long a repair holds a partition's messages back.
const repairFor = 30 * time.Second

// jumpGuard builds a source's forward-jump guard on the indexer's Kafka
// connection, counting in the metrics of its topic's monitor.
func (a *App) jumpGuard(m consumerMetrics) (*jumpGuard, error) {
	cl, err := a.cfg.Kafka.Client()
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return newJumpGuard(cl, m), nil
}

// newJumpGuard builds a forward-jump guard asking cl and counting in m.
func newJumpGuard(cl *kafka.Client, m consumerMetrics) *jumpGuard {
	return &jumpGuard{client: cl, skipped: m.outOfRange, repairs: m.repairs, last: map[int]int64{}, repair: map[int]repair{}}
}

// Reasons of records_skipped_total.
const skippedOutOfRange = "out_of_range"

// jumped reports whether m must not be used: it starts a stretch above the
// committed position (repaired or waiting for the offsets), or it comes
// after such a start while the repair is under way. Called with m at or
// above the floor (belowFloor first).
func (g *groupSource) jumped(ctx context.Context, m kafka.Message) bool {
	j := g.jump
	if j == nil {
		return false
	}
	p := m.Partition
	g.mu.Lock()
	prev, seen := j.last[p]
	floor := g.floor[p]
	rp, repairing := j.repair[p]
	if repairing && time.Now().After(rp.until) {
		delete(j.repair, p)
		repairing, seen = false, false // check this message afresh
	}
	if repairing && m.Offset > rp.target {
		g.mu.Unlock()
		// The reader that jumped is still delivering, or the rejoin
		// started high again (offsets still unreadable): rejoin again.
		g.rejoinLimited()
		return true
	}
	delete(j.repair, p)
	j.last[p] = m.Offset
	g.mu.Unlock()
	if (seen && m.Offset == prev+1) || (floor > 0 && m.Offset == floor) || repairing {
		return false
	}
	committed, start, err := j.positions(ctx, m.Topic, p, g.group())
	if err != nil {
		// Not known whether records would be skipped: do not use the
		// message, rejoin and look again.
		g.log.Warn("messages start above the known position and the group's committed offset cannot be read; rejoining",
			"topic", m.Topic, "partition", p, "offset", m.Offset, "known", floor, "err", err)
		g.forget(p)
		g.rejoinLimited()
		return true
	}
	known := max(floor, committed)
	if known <= 0 || m.Offset <= known {
		if committed > 0 {
			g.raiseFloor(p, committed)
		}
		return false // never committed (the start offset applies), or where it should be
	}
	from := known
	if known < start {
		lost := start - known
		j.skipped.Add(float64(lost))
		g.log.Error("records deleted from Kafka before they were indexed (committed offset out of range: retention passed them); they are lost",
			"topic", m.Topic, "partition", p, "committed", known, "log_start", start, "records", lost)
		g.raiseFloor(p, start)
		if m.Offset <= start {
			return false
		}
		from = start
	}
	// The records from `from` on are still in Kafka: position the group
	// there again and rejoin.
	j.repairs.Inc()
	g.raiseFloor(p, from)
	g.log.Warn("partition started above the group's committed offset (start offset applied to a group that had committed); committing it again and rejoining",
		"topic", m.Topic, "partition", p, "offset", m.Offset, "committed", from, "would_skip", m.Offset-from)
	g.mu.Lock()
	j.repair[p] = repair{target: from, until: time.Now().Add(repairFor)}
	delete(j.last, p)
	r := g.r
	g.mu.Unlock()
	if r != nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := r.CommitMessages(cctx, kafka.Message{Topic: m.Topic, Partition: p, Offset: from - 1}); err != nil {
			g.log.Warn("committing the position again failed; the rejoin reads the offsets afresh", "partition", p, "err", err)
		}
		cancel()
	}
	g.rejoinLimited()
	return true
}

// forget drops what is known of p's stretch, so its next message is
// checked again.
func (g *groupSource) forget(p int) {
	g.mu.Lock()
	delete(g.jump.last, p)
	g.mu.Unlock()
}

// rejoinLimited rejoins at most once per rewindRejoin.
func (g *groupSource) rejoinLimited() {
	g.mu.Lock()
	ok := time.Since(g.lastRejoin) >= g.rewindRejoin
	if ok {
		g.lastRejoin = time.Now()
	}
	g.mu.Unlock()
	if ok {
		go g.rejoin()
	}
}

func (g *groupSource) group() string { return g.rc.GroupID }

// positions reads the group's committed offset (-1: none) and the log
// start of topic/partition from the brokers.
func (j *jumpGuard) positions(ctx context.Context, topic string, partition int, group string) (committed, start int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	of, err := j.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {partition}}})
	if err == nil && of.Error != nil {
		err = of.Error
	}
	if err != nil {
		return 0, 0, fmt.Errorf("committed offset of %s/%d: %w", topic, partition, err)
	}
	committed = -1
	for _, po := range of.Topics[topic] {
		if po.Partition == partition {
			if po.Error != nil {
				return 0, 0, fmt.Errorf("committed offset of %s/%d: %w", topic, partition, po.Error)
			}
			committed = po.CommittedOffset
		}
	}
	lo, err := j.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {kafka.FirstOffsetOf(partition)}}})
	if err != nil {
		return 0, 0, fmt.Errorf("log start of %s/%d: %w", topic, partition, err)
	}
	for _, po := range lo.Topics[topic] {
		if po.Partition == partition {
			if po.Error != nil {
				return 0, 0, fmt.Errorf("log start of %s/%d: %w", topic, partition, po.Error)
			}
			start = po.FirstOffset
		}
	}
	return committed, start, nil
}
