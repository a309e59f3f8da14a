package app

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/agentobs/agentobs/indexer/trace"
)

// summarizer keeps the per-trace summary documents. Workers hand it the
// trace ids of every acknowledged batch (duplicates included) together with
// the batch's ack; each round it refreshes the log indices, re-derives the
// summaries of all touched traces from their records, overwrites them, and
// only then releases the acks, so an offset is committed only after the
// summary of its trace includes it.
//
// Hence a crash at any point heals itself: records whose summary was not
// written are not committed, so they are delivered again, found as
// duplicates, and their traces re-derived. A derivation counts the records
// in Elasticsearch, never increments, so replays and duplicates cannot skew it.
type summarizer struct {
	store    *trace.Store
	m        *Metrics
	log      *slog.Logger
	interval time.Duration

	mu     sync.Mutex
	traces map[string]struct{}
	acks   []func()
	oldest time.Time
}

func newSummarizer(store *trace.Store, m *Metrics, log *slog.Logger, interval time.Duration) *summarizer {
	return &summarizer{store: store, m: m, log: log.With("component", "summary"), interval: interval, traces: map[string]struct{}{}}
}

func (s *summarizer) add(ids []string, ack func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.traces[id] = struct{}{}
	}
	s.acks = append(s.acks, ack)
	if s.oldest.IsZero() {
		s.oldest = time.Now()
	}
}

func (s *summarizer) run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.round(ctx)
			s.mu.Lock()
			if s.oldest.IsZero() {
				s.m.SummaryLag.Set(0)
			} else {
				s.m.SummaryLag.Set(time.Since(s.oldest).Seconds())
			}
			s.mu.Unlock()
		}
	}
}

// flush runs rounds until nothing is pending or ctx ends (shutdown).
func (s *summarizer) flush(ctx context.Context) {
	for ctx.Err() == nil {
		s.mu.Lock()
		n := len(s.acks)
		s.mu.Unlock()
		if n == 0 {
			return
		}
		if !s.round(ctx) {
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

// round derives and writes the pending traces; false when it failed (the
// work is put back for the next round).
func (s *summarizer) round(ctx context.Context) bool {
	s.mu.Lock()
	traces, acks, oldest := s.traces, s.acks, s.oldest
	s.traces, s.acks, s.oldest = map[string]struct{}{}, nil, time.Time{}
	s.mu.Unlock()
	if len(acks) == 0 {
		return true
	}
	ids := make([]string, 0, len(traces))
	for id := range traces {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	start := time.Now()
	defer func() { s.m.Stage.WithLabelValues(StageSummary).Observe(time.Since(start).Seconds()) }()
	err := s.store.Refresh(ctx)
	var sums []trace.Summary
	if err == nil {
		sums, err = s.store.Derive(ctx, ids)
	}
	if err == nil {
		err = s.store.WriteSummaries(ctx, sums)
	}
	if err != nil {
		s.m.SummaryErrors.Inc()
		s.log.Warn("trace summary round failed; retrying", "traces", len(ids), "err", err)
		s.mu.Lock()
		for id := range traces {
			s.traces[id] = struct{}{}
		}
		s.acks = append(acks, s.acks...)
		if s.oldest.IsZero() || oldest.Before(s.oldest) {
			s.oldest = oldest
		}
		s.mu.Unlock()
		return false
	}
	s.m.Summaries.Add(float64(len(sums)))
	for _, ack := range acks {
		ack()
	}
	return true
}
