package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// fetchMaxWait is the readers' MaxWait. kafka-go uses it as the deadline
// for the whole fetch round trip and asks the broker to wait up to
// MaxWait − 1 s for data (it answers at once when there is any: MinBytes 1),
// so only the idle case waits. With the 250 ms used before, a broker slower
// than 250 ms to answer (a loaded machine, a JVM still warming up) failed
// every fetch with "i/o timeout", and the reader redialled and fetched
// nothing: a demo on a busy machine indexed 1 record in 50 s while its lag
// grew to 170 000.
const fetchMaxWait = 2 * time.Second

// queueCapacity is the length of kafka-go's reader queue, set from the
// byte budget (fetch.max-buffered-bytes): messages wait there, fetched but
// not yet charged to the budget, so the queue holds one message per 256 KiB
// of budget (128 with the default 32 MiB; it was 1 000 whatever the budget),
// between 16 and 1 000. With 1 KiB records that is under 1 % of the budget;
// a partition reader holds one more message while the queue is full.
func queueCapacity(budget int) int { return min(1000, max(16, budget/(256<<10))) }

// source is where the pipeline's messages come from: the consumer group
// (run), or a bounded offset range (replay).
type source interface {
	// Fetch returns the next message; io.EOF when a bounded source is done.
	Fetch(ctx context.Context) (kafka.Message, error)
	// Commit stores the positions after msgs (group only).
	Commit(ctx context.Context, msgs []kafka.Message) error
	Close() error
}

// groupSource is a consumer-group member. It fetches with FetchMessage and
// commits explicitly: ReadMessage in a group would commit before the
// documents are acknowledged. kafka-go discards messages of a generation
// that ended (rebalance) and joins, heartbeats and leaves the group itself;
// rejoin replaces the reader (leave, then join as a new member) when the
// monitor sees partitions that no member got.
//
// It also guards the group's position. kafka-go reads the committed offsets
// of a new generation with OffsetFetch v1 and ignores its per-partition
// errors, so a coordinator still loading its offsets (the first seconds
// after a broker restart) looks like a group that never committed: every
// partition starts again at the start offset (earliest: the whole retained
// topic is re-indexed as 409s; latest: the records in between are
// skipped). So the source keeps, per partition, a floor: the highest
// committed offset it knows (its own commits, the monitor's polls). A
// message below it was acknowledged by Elasticsearch before its offset was
// committed: it is skipped and counted, and the member rejoins (at most once
// per rewindRejoin) so the next generation reads the offsets again.
type groupSource struct {
	rc kafka.ReaderConfig

	mu     sync.Mutex
	r      *kafka.Reader // nil while being replaced
	gen    uint64
	closed bool

	log          *slog.Logger
	skipped      prometheus.Counter // nil: not counted
	floor        map[int]int64      // partition → committed position known (next offset to read)
	rewound      map[int]bool       // partitions whose current rewind was logged
	lastRejoin   time.Time
	rewindRejoin time.Duration
	jump         *jumpGuard // nil: forward jumps not checked (jump.go)
}

// memberClientID is the client id of this process's group connections:
// the configured one plus host, pid and a random suffix, so the monitor
// can find this member in the coordinator's answer (DescribeGroups) and
// an operator can tell the members apart.
func memberClientID(base string) string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%d-%s", base, strings.Map(func(r rune) rune {
		if r == '.' || r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '-'
	}, host), os.Getpid(), hex.EncodeToString(b[:]))
}

// newGroupSource builds the group member; kafka-go's errors go to log as
// warnings, and its chatter (joins, assignments, partition readers) as
// debug lines when log has debug on.
func newGroupSource(cfg Config, member string, log *slog.Logger) (*groupSource, error) {
	d, err := cfg.Kafka.Dialer()
	if err != nil {
		return nil, err
	}
	d.ClientID = member
	start := kafka.FirstOffset
	if cfg.StartOffset == "latest" {
		start = kafka.LastOffset
	}
	rc := kafka.ReaderConfig{
		Brokers: cfg.Kafka.Brokers, GroupID: cfg.Group, Topic: cfg.Topic, Dialer: d,
		MinBytes: 1, MaxBytes: cfg.MaxFetchBytes, MaxWait: fetchMaxWait,
		QueueCapacity:  queueCapacity(cfg.MaxBufferedBytes),
		CommitInterval: 0, // synchronous commits, only the ones we ask for
		StartOffset:    start,
		// A dead member's partitions move after SessionTimeout; heartbeats
		// at a tenth of it keep a live but busy member in. A rejoining
		// member (rebalance) gets as long as a session to come back.
		SessionTimeout: cfg.SessionTimeout, RebalanceTimeout: cfg.SessionTimeout,
		HeartbeatInterval: max(cfg.SessionTimeout/10, 500*time.Millisecond),
		// A fresh broker answers "[15] Group Coordinator Not Available"
		// until __consumer_offsets exists; retry the join quickly instead
		// of kafka-go's 5 s.
		JoinGroupBackoff:      500 * time.Millisecond,
		WatchPartitionChanges: true, PartitionWatchInterval: cfg.Health.PollInterval,
		ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: time.Second,
		ErrorLogger: kafka.LoggerFunc(func(f string, args ...any) { log.Warn(fmt.Sprintf(f, args...)) }),
	}
	if log.Enabled(context.Background(), slog.LevelDebug) {
		rc.Logger = kafka.LoggerFunc(func(f string, args ...any) { log.Debug(fmt.Sprintf(f, args...)) })
	}
	return &groupSource{rc: rc, r: kafka.NewReader(rc), log: log, floor: map[int]int64{}, rewound: map[int]bool{},
		rewindRejoin: max(cfg.Health.RejoinAfter, time.Second)}, nil
}

// raiseFloor records that the group committed position off on partition p
// (offsets below it are indexed); the floor never moves down.
func (g *groupSource) raiseFloor(p int, off int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if off > g.floor[p] {
		g.floor[p] = off
	}
}

// raiseFloors is raiseFloor for a poll's committed offsets (-1: none).
func (g *groupSource) raiseFloors(committed map[int]int64) {
	for p, off := range committed {
		if off >= 0 {
			g.raiseFloor(p, off)
		}
	}
}

// belowFloor reports whether m was fetched below the committed position,
// logs the first such message of a rewind and asks for a rejoin.
func (g *groupSource) belowFloor(m kafka.Message) bool {
	g.mu.Lock()
	floor := g.floor[m.Partition]
	if m.Offset >= floor {
		if g.rewound[m.Partition] {
			delete(g.rewound, m.Partition)
			g.log.Info("rewound partition is back at its committed position", "partition", m.Partition, "offset", m.Offset)
		}
		g.mu.Unlock()
		return false
	}
	first := !g.rewound[m.Partition]
	g.rewound[m.Partition] = true
	rejoin := time.Since(g.lastRejoin) >= g.rewindRejoin
	if rejoin {
		g.lastRejoin = time.Now()
	}
	g.mu.Unlock()
	if g.skipped != nil {
		g.skipped.Inc()
	}
	if first {
		g.log.Warn("fetched below the group's committed offset (the coordinator answered without committed offsets); skipping what is already indexed",
			"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "committed", floor, "rejoin", rejoin)
	}
	if rejoin {
		go g.rejoin()
	}
	return true
}

func (g *groupSource) reader() (*kafka.Reader, uint64, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.r, g.gen, g.closed
}

func (g *groupSource) Fetch(ctx context.Context) (kafka.Message, error) {
	for {
		r, gen, closed := g.reader()
		if closed {
			return kafka.Message{}, io.EOF
		}
		if r == nil { // being replaced
			select {
			case <-ctx.Done():
				return kafka.Message{}, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		m, err := r.FetchMessage(ctx)
		if err != nil && ctx.Err() == nil {
			if _, now, closed := g.reader(); now != gen && !closed {
				continue // the reader was replaced under us
			}
		}
		if err == nil && (g.belowFloor(m) || g.jumped(ctx, m)) {
			continue
		}
		return m, err
	}
}

func (g *groupSource) Commit(ctx context.Context, msgs []kafka.Message) error {
	r, _, _ := g.reader()
	if r == nil {
		return errors.New("rejoining the group")
	}
	if err := r.CommitMessages(ctx, msgs...); err != nil {
		return err
	}
	for _, m := range msgs {
		g.raiseFloor(m.Partition, m.Offset+1)
	}
	return nil
}

// rejoin leaves the group and joins it again as a new member: the group
// rebalances and its leader reads the topic's partitions afresh. Fetched
// but uncommitted records are delivered again (found as duplicates).
func (g *groupSource) rejoin() {
	g.mu.Lock()
	old := g.r
	if g.closed || old == nil {
		g.mu.Unlock()
		return
	}
	g.r = nil
	g.gen++
	g.mu.Unlock()
	_ = old.Close()
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.r = kafka.NewReader(g.rc)
	}
}

// Close leaves the group (kafka-go sends LeaveGroup, so the partitions
// move at once instead of after a session timeout).
func (g *groupSource) Close() error {
	g.mu.Lock()
	r := g.r
	g.closed = true
	g.r = nil
	g.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.Close()
}

// rangeSource reads [start, end) of every partition of a topic, without a
// group: offsets for times (since/until) or the whole retained topic.
type rangeSource struct {
	out    chan kafka.Message
	errc   chan error
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newRangeSource(ctx context.Context, conn kafkaclient.Config, topic string, since, until time.Time) (*rangeSource, error) {
	d, err := conn.Dialer()
	if err != nil {
		return nil, err
	}
	c, err := d.DialContext(ctx, "tcp", conn.Brokers[0])
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	parts, err := c.ReadPartitions(topic)
	c.Close()
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	type span struct {
		p          int
		start, end int64
	}
	var spans []span
	for _, p := range parts {
		lc, err := d.DialLeader(ctx, "tcp", conn.Brokers[0], topic, p.ID)
		if err != nil {
			return nil, fmt.Errorf("leader of %s/%d: %w", topic, p.ID, err)
		}
		first, last, err := lc.ReadOffsets()
		start, end := first, last
		if err == nil && !since.IsZero() {
			start, err = lc.ReadOffset(since)
		}
		if err == nil && !until.IsZero() {
			end, err = lc.ReadOffset(until)
		}
		lc.Close()
		if err != nil {
			return nil, fmt.Errorf("offsets of %s/%d: %w", topic, p.ID, err)
		}
		if start < first {
			start = first
		}
		if start < end {
			spans = append(spans, span{p.ID, start, end})
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &rangeSource{out: make(chan kafka.Message, 1000), errc: make(chan error, len(spans)), cancel: cancel}
	for _, sp := range spans {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := readPartition(ctx, d, conn.Brokers, topic, sp.p, sp.start, sp.end, func(m kafka.Message) bool {
				select {
				case s.out <- m:
					return true
				case <-ctx.Done():
					return false
				}
			})
			if err != nil && ctx.Err() == nil {
				s.errc <- err
			}
		}()
	}
	go func() { s.wg.Wait(); close(s.out) }()
	return s, nil
}

// readPartition hands fn every message of topic/partition in [start, end),
// in order, without a group; fn returning false stops early.
func readPartition(ctx context.Context, d *kafka.Dialer, brokers []string, topic string, partition int, start, end int64, fn func(kafka.Message) bool) error {
	if start >= end {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partition, Dialer: d,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: fetchMaxWait})
	defer r.Close()
	if err := r.SetOffset(start); err != nil {
		return fmt.Errorf("seek %s/%d to %d: %w", topic, partition, start, err)
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("read %s/%d: %w", topic, partition, err)
		}
		if m.Offset >= end || !fn(m) || m.Offset >= end-1 {
			return nil
		}
	}
}

func (s *rangeSource) Fetch(ctx context.Context) (kafka.Message, error) {
	select {
	case m, ok := <-s.out:
		if !ok {
			select {
			case err := <-s.errc:
				return kafka.Message{}, err
			default:
				return kafka.Message{}, io.EOF
			}
		}
		return m, nil
	case err := <-s.errc:
		return kafka.Message{}, err
	case <-ctx.Done():
		return kafka.Message{}, ctx.Err()
	}
}

func (s *rangeSource) Commit(context.Context, []kafka.Message) error { return nil }
func (s *rangeSource) Close() error                                  { s.cancel(); s.wg.Wait(); return nil }

// origin is where a message first came from: the dead-letter headers of a
// DLQ message, else the message itself. Ids derived for records without
// event.id use it, so a replayed dead letter gets the same id.
func origin(m kafka.Message) (topic string, partition int, offset int64) {
	t := kafkaclient.Header(m, kafkaclient.HeaderDLQTopic)
	if t == "" {
		return m.Topic, m.Partition, m.Offset
	}
	p, err1 := strconv.Atoi(kafkaclient.Header(m, kafkaclient.HeaderDLQPartition))
	o, err2 := strconv.ParseInt(kafkaclient.Header(m, kafkaclient.HeaderDLQOffset), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return m.Topic, m.Partition, m.Offset
	}
	return t, p, o
}
