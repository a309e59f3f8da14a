package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentobs/agentobs/internal/esclient"
	"github.com/segmentio/kafka-go"
)

// HealthConfig bounds how long the indexer may look alive without making
// progress before /readyz says so. Health comes from progress: offsets the
// group really committed, the brokers' end offsets, the assignment the
// coordinator really holds, and Elasticsearch requests that really answer.
// The bounds hold for each pipeline alike: the record topic's and the span
// topic's.
type HealthConfig struct {
	// PollInterval is how often the topic's end offsets, the group's
	// committed offsets and the group's assignment are read from the
	// brokers. Default 2s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// StallTimeout: not ready while a partition assigned to this member has
	// lag and its committed offset has not moved for this long. Default 30s.
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// ESHangTimeout: not ready (and es_up 0) while an Elasticsearch request
	// has waited this long for its answer. Default 20s.
	ESHangTimeout time.Duration `yaml:"es_hang_timeout"`
	// KafkaTimeout: not ready when no poll of the brokers succeeded for
	// this long. Default 10s.
	KafkaTimeout time.Duration `yaml:"kafka_timeout"`
	// RejoinAfter: when the group's assignment leaves partitions of the
	// topic without a member for this long (a topic created or grown while
	// the group was forming), this member leaves and rejoins the group so
	// the leader assigns them. Default 10s.
	RejoinAfter time.Duration `yaml:"rejoin_after"`
}

// DefaultHealthConfig returns the defaults documented on each field.
func DefaultHealthConfig() HealthConfig {
	return HealthConfig{PollInterval: 2 * time.Second, StallTimeout: 30 * time.Second, ESHangTimeout: 20 * time.Second,
		KafkaTimeout: 10 * time.Second, RejoinAfter: 10 * time.Second}
}

// RegisterFlags binds h to -health.* flags.
func (h *HealthConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&h.PollInterval, prefix+"poll-interval", h.PollInterval, "how often lag (broker end offsets − group committed offsets) and the group's assignment are read")
	fs.DurationVar(&h.StallTimeout, prefix+"stall-timeout", h.StallTimeout, "not ready while an assigned partition has lag and nothing was committed on it for this long")
	fs.DurationVar(&h.ESHangTimeout, prefix+"es-hang-timeout", h.ESHangTimeout, "not ready (es_up 0) while an Elasticsearch request has waited this long for an answer")
	fs.DurationVar(&h.KafkaTimeout, prefix+"kafka-timeout", h.KafkaTimeout, "not ready when no poll of the Kafka brokers succeeded for this long")
	fs.DurationVar(&h.RejoinAfter, prefix+"rejoin-after", h.RejoinAfter, "rejoin the group when partitions of the topic stayed unassigned this long")
}

// Validate names every bad bound.
func (h HealthConfig) Validate() error {
	var errs []error
	if h.PollInterval < 100*time.Millisecond {
		errs = append(errs, errors.New("health.poll-interval: want >= 100ms"))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"health.stall-timeout", h.StallTimeout}, {"health.kafka-timeout", h.KafkaTimeout}, {"health.rejoin-after", h.RejoinAfter}} {
		if d.v < 2*h.PollInterval {
			errs = append(errs, fmt.Errorf("%s: %s, want >= 2 × health.poll-interval (%s)", d.key, d.v, 2*h.PollInterval))
		}
	}
	if h.ESHangTimeout <= 0 {
		errs = append(errs, errors.New("health.es-hang-timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// monitor polls the brokers for one pipeline's real state (cfg.Topic
// consumed by cfg.Group) and answers its readiness check from it. The
// record pipeline and the span pipeline each have one; their metrics carry
// the topic as a label. It never looks at fetched messages for lag: a
// consumer that fetches nothing would then report the lag it last saw.
type monitor struct {
	cfg    Config // Topic and Group: the pipeline's
	client *kafka.Client
	member string // client id of this member's group connections
	m      consumerMetrics
	log    *slog.Logger
	es     *esclient.Watch
	esUp   func() bool // the bulk writer's view (retries exhausted)

	mu     sync.Mutex
	st     consumerState
	rejoin func()                        // the group source's; nil before it exists
	floors func(committed map[int]int64) // the group source's; nil before it exists
	// onAssigned (nil: none) hears each poll's partitions of this member
	// and the group's committed offsets (the summarizer's recovery).
	onAssigned func(mine []int, committed map[int]int64)
	// fetched[p] is the Kafka timestamp (unix ns) of the last message
	// fetched from partition p (written by the pipeline's fetch loop).
	fetched sync.Map // int → *atomic.Int64
}

type consumerState struct {
	polled     time.Time // last successful poll
	pollErr    error
	topicParts int // partitions of the topic (0: it does not exist)
	joined     bool
	groupState string
	mine       []int
	covered    int
	uncovered  time.Time // since when partitions have had no member
	lag        map[int]int64
	lagSeconds map[int]float64 // this member's partitions: how far behind
	committed  map[int]int64
	moved      map[int]time.Time // committed offset last moved, or the partition had no lag
	held       map[int]bool      // partitions this member has been assigned at least once
	rejoined   time.Time
}

// newMonitor builds the monitor of the pipeline that consumes cfg.Topic in
// cfg.Group as member; nothing is connected until run.
func newMonitor(cfg Config, member string, m *Metrics, log *slog.Logger, es *esclient.Watch, esUp func() bool) (*monitor, error) {
	tr, err := cfg.Kafka.Transport()
	if err != nil {
		return nil, err
	}
	// Metadata answers come from the transport's cache: refresh it at the
	// poll interval so a new or grown topic is seen within one poll.
	tr.MetadataTTL = cfg.Health.PollInterval
	return &monitor{cfg: cfg, member: member, m: m.consumer(cfg.Topic), log: log.With("topic", cfg.Topic), es: es, esUp: esUp,
		client: &kafka.Client{Addr: kafka.TCP(cfg.Kafka.Brokers...), Transport: tr, Timeout: cfg.Health.KafkaTimeout},
		st:     consumerState{lag: map[int]int64{}, committed: map[int]int64{}, moved: map[int]time.Time{}, held: map[int]bool{}}}, nil
}

// close releases the monitor's broker connections.
func (h *monitor) close() {
	if tr, ok := h.client.Transport.(*kafka.Transport); ok {
		tr.CloseIdleConnections()
	}
}

// setSource hands the monitor the group source's way to leave and rejoin
// and to learn the committed offsets the monitor polls.
func (h *monitor) setSource(rejoin func(), floors func(map[int]int64)) {
	h.mu.Lock()
	h.rejoin, h.floors = rejoin, floors
	h.mu.Unlock()
}

// setOnAssigned hands the monitor a listener for this member's partitions.
func (h *monitor) setOnAssigned(f func(mine []int, committed map[int]int64)) {
	h.mu.Lock()
	h.onAssigned = f
	h.mu.Unlock()
}

// noteFetched records the timestamp of a fetched message (hot path: one
// atomic store per message after the first of each partition).
func (h *monitor) fetchedClock(partition int) *atomic.Int64 {
	v, _ := h.fetched.LoadOrStore(partition, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// run polls until ctx ends.
func (h *monitor) run(ctx context.Context) {
	t := time.NewTicker(h.cfg.Health.PollInterval)
	defer t.Stop()
	for {
		h.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// topicPartitions reads how many partitions the topic has, all with a
// leader (0 when it does not exist). It never asks the broker to create it.
func (h *monitor) topicPartitions(ctx context.Context) (int, error) {
	md, err := h.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{h.cfg.Topic}})
	if err != nil {
		return 0, fmt.Errorf("metadata of %s: %w", h.cfg.Topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != h.cfg.Topic {
			continue
		}
		if t.Error != nil {
			if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				return 0, nil
			}
			return 0, fmt.Errorf("metadata of %s: %w", h.cfg.Topic, t.Error)
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.ID < 0 {
				return 0, nil // still being created
			}
		}
		return len(t.Partitions), nil
	}
	return 0, nil
}

// awaitTopic blocks until the topic exists with a leader on every
// partition. Joining before would race kafka-go's leader, which assigns
// the partitions it sees at join time (none) while its partition watcher
// takes its baseline later (all of them) and so never rebalances.
func (h *monitor) awaitTopic(ctx context.Context) error {
	logged := false
	for {
		n, err := h.topicPartitions(ctx)
		if err == nil && n > 0 {
			return nil
		}
		if !logged {
			h.log.Warn("waiting for the topic to exist before joining the group", "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(h.cfg.Health.PollInterval / 4):
		}
	}
}

// poll reads the brokers once and updates state and metrics; it logs when
// polling starts failing and when it recovers, not every failure.
func (h *monitor) poll(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, h.cfg.Health.KafkaTimeout)
	defer cancel()
	h.mu.Lock()
	failing := h.st.pollErr != nil
	h.mu.Unlock()
	err := h.pollOnce(pctx)
	if ctx.Err() != nil {
		return // shutting down: says nothing about the brokers
	}
	h.m.polls[outcome(err)].Inc()
	switch {
	case err != nil:
		h.mu.Lock()
		h.st.pollErr = err
		h.mu.Unlock()
		if !failing {
			h.log.Warn("polling the brokers for lag and assignment failed", "err", err)
		}
	case failing:
		h.log.Info("polling the brokers works again")
	}
}

func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func (h *monitor) pollOnce(ctx context.Context) error {
	now := time.Now()
	parts, err := h.topicPartitions(ctx)
	if err != nil {
		return err
	}
	ends := map[int]int64{}
	starts := map[int]int64{}
	committed := map[int]int64{}
	if parts > 0 {
		var reqs []kafka.OffsetRequest
		ids := make([]int, parts)
		for p := range parts {
			ids[p] = p
			reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
		}
		lo, err := h.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{h.cfg.Topic: reqs}})
		if err != nil {
			return fmt.Errorf("end offsets of %s: %w", h.cfg.Topic, err)
		}
		for _, po := range lo.Topics[h.cfg.Topic] {
			if po.Error != nil {
				return fmt.Errorf("end offset of %s/%d: %w", h.cfg.Topic, po.Partition, po.Error)
			}
			ends[po.Partition], starts[po.Partition] = po.LastOffset, po.FirstOffset
		}
		of, err := h.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: h.cfg.Group, Topics: map[string][]int{h.cfg.Topic: ids}})
		if err == nil && of.Error != nil {
			err = of.Error
		}
		if err != nil {
			return fmt.Errorf("committed offsets of group %s: %w", h.cfg.Group, err)
		}
		for _, p := range of.Topics[h.cfg.Topic] {
			if p.Error != nil {
				return fmt.Errorf("committed offset of %s/%d: %w", h.cfg.Topic, p.Partition, p.Error)
			}
			committed[p.Partition] = p.CommittedOffset
		}
	}
	dg, err := h.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{h.cfg.Group}})
	if err != nil {
		return fmt.Errorf("describe group %s: %w", h.cfg.Group, err)
	}
	var mine []int
	joined, state, covered := false, "", map[int]bool{}
	for _, g := range dg.Groups {
		if g.GroupID != h.cfg.Group {
			continue
		}
		if g.Error != nil {
			return fmt.Errorf("describe group %s: %w", h.cfg.Group, g.Error)
		}
		state = g.GroupState
		for _, mem := range g.Members {
			isMe := mem.ClientID == h.member
			joined = joined || isMe
			for _, t := range mem.MemberAssignments.Topics {
				if t.Topic != h.cfg.Topic {
					continue
				}
				for _, p := range t.Partitions {
					covered[p] = true
					if isMe {
						mine = append(mine, p)
					}
				}
			}
		}
	}
	slices.Sort(mine)

	h.mu.Lock()
	onAssigned := h.onAssigned
	h.mu.Unlock()
	if onAssigned != nil && joined {
		onAssigned(mine, committed)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	st := &h.st
	prevMine := st.mine
	groupLag := int64(0)
	lag := map[int]int64{}
	for p := range parts {
		end, c := ends[p], committed[p]
		var l int64
		switch {
		case c >= 0:
			l = end - c
		case h.cfg.StartOffset == "earliest":
			l = end - starts[p]
		}
		l = max(l, 0)
		lag[p] = l
		groupLag += l
		// The stall clock restarts when the partition's committed offset
		// moves, when it has nothing to do, or when this member gets it for
		// the first time. Not on every reassignment: a rebalance shows the
		// assignment empty for a poll (CompletingRebalance), and a group
		// that keeps rebalancing without committing is stalled, not fresh.
		old, seen := st.committed[p]
		if !seen || old != c || l == 0 || !st.held[p] {
			st.moved[p] = now
		}
	}
	for _, p := range mine {
		st.held[p] = true
	}
	st.lag, st.committed = lag, committed
	if h.floors != nil {
		h.floors(committed)
	}
	st.topicParts, st.joined, st.groupState, st.mine, st.covered = parts, joined, state, mine, len(covered)
	st.polled, st.pollErr = now, nil
	if parts > 0 && len(covered) < parts && state == "Stable" {
		if st.uncovered.IsZero() {
			st.uncovered = now
		}
	} else {
		st.uncovered = time.Time{}
	}

	// Metrics: lag of this member's partitions only (so a sum over the
	// instances of a group counts each partition once), the whole group's
	// lag on every instance (use max across instances).
	h.m.groupLag.Set(float64(groupLag))
	h.m.topicParts.Set(float64(parts))
	h.m.assigned.Set(float64(len(mine)))
	stall := time.Duration(0)
	lagSecs := map[int]float64{}
	for _, p := range prevMine {
		if !slices.Contains(mine, p) {
			h.m.lagRecords.DeleteLabelValues(partitionLabel(p))
			h.m.lagSeconds.DeleteLabelValues(partitionLabel(p))
		}
	}
	for _, p := range mine {
		l := lag[p]
		h.m.lagRecords.WithLabelValues(partitionLabel(p)).Set(float64(l))
		secs := 0.0
		if l > 0 {
			since := now.Sub(st.moved[p])
			stall = max(stall, since)
			secs = since.Seconds()
			if v, ok := h.fetched.Load(p); ok {
				if ns := v.(*atomic.Int64).Load(); ns > 0 {
					secs = max(secs, now.Sub(time.Unix(0, ns)).Seconds())
				}
			}
		}
		h.m.lagSeconds.WithLabelValues(partitionLabel(p)).Set(secs)
		lagSecs[p] = secs
	}
	st.lagSeconds = lagSecs
	h.m.stall.Set(stall.Seconds())

	if !st.uncovered.IsZero() && now.Sub(st.uncovered) >= h.cfg.Health.RejoinAfter && now.Sub(st.rejoined) >= h.cfg.Health.RejoinAfter && h.rejoin != nil {
		h.log.Warn("partitions of the topic have no member; rejoining the group",
			"partitions", parts, "assigned", len(covered), "since", st.uncovered)
		st.rejoined = now
		h.m.rejoins.Inc()
		go h.rejoin()
	}
	return nil
}

// consumerReady is the readiness check of the pipeline's consumer: nil
// only when the brokers answer, the topic exists, this member is in the
// group, every partition has a member, and no partition of this member is
// stalled. Every reason names the topic, so /readyz tells the record
// pipeline from the span pipeline.
func (h *monitor) consumerReady(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := &h.st
	now := time.Now()
	topic, group := h.cfg.Topic, h.cfg.Group
	switch {
	case st.polled.IsZero():
		if st.pollErr != nil {
			return fmt.Errorf("no poll of the brokers for %s succeeded yet: %w", topic, st.pollErr)
		}
		return fmt.Errorf("%s not polled yet", topic)
	case now.Sub(st.polled) > h.cfg.Health.KafkaTimeout:
		return fmt.Errorf("no poll of the brokers for %s succeeded for %s: %v", topic, now.Sub(st.polled).Truncate(time.Second), st.pollErr)
	case st.topicParts == 0:
		return fmt.Errorf("topic %s does not exist yet", topic)
	case !st.joined:
		return fmt.Errorf("not a member of group %s (topic %s) yet (group state %q)", group, topic, st.groupState)
	case st.covered < st.topicParts:
		return fmt.Errorf("group %s (state %q) assigns %d of the %d partitions of %s", group, st.groupState, st.covered, st.topicParts, topic)
	}
	for _, p := range st.mine {
		if d := now.Sub(st.moved[p]); st.lag[p] > 0 && d > h.cfg.Health.StallTimeout {
			return fmt.Errorf("%s partition %d is %d records behind and nothing was committed on it for %s (bound %s)",
				topic, p, st.lag[p], d.Truncate(time.Second), h.cfg.Health.StallTimeout)
		}
	}
	return nil
}

// esReady is the readiness check of Elasticsearch: the bulk writer has not
// given up, the last request reached the cluster, and none hangs.
func (h *monitor) esReady(context.Context) error {
	if !h.esUp() {
		return errors.New("bulk requests keep failing; fetching paused")
	}
	return h.es.Check(h.cfg.Health.ESHangTimeout)
}

// esUpValue is es_up: 1 when esReady passes.
func (h *monitor) esUpValue() float64 {
	if h.esReady(context.Background()) != nil {
		return 0
	}
	return 1
}
