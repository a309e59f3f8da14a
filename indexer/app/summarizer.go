package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentobs/agentobs/indexer/internal/offsets"
	"github.com/agentobs/agentobs/indexer/trace"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/segmentio/kafka-go"
)

// summarizer keeps the per-trace summary documents, off the document path:
// document commits never wait for it.
//
// Workers hand it, for every acknowledged batch, the facts of the records
// and spans Elasticsearch created (201) as per-trace partials, and the
// trace ids of those it cannot count that way (409 duplicates, quarantined
// records), and only then mark the batch's offsets finished in the
// tracker. Each round it takes the tracker's finished positions, then what
// was handed in so far (so every record up to those positions is in hand),
// merges the partials into their summaries (trace.Store.MergeSummaries: a
// realtime read and a conditional write, no refresh, no aggregation),
// re-derives the other traces from all their records (refresh, aggregate,
// overwrite), and then stores the positions as the summary cursor: the
// committed offsets of the group <kafka.group>-summaries (no member ever
// joins it; a standalone commit stores them). A cursor at offset c on a
// partition means every record before c is counted in its summary.
//
// Counting only created records counts each record once: a document is
// created once, and a merge is written once (conditional on the version it
// read; a write whose answer was lost is re-derived instead of merged
// again). Whatever is in doubt is re-derived, and a derivation counts
// documents, which are unique, so re-deriving is always safe and replays or
// duplicates cannot skew summaries. After a crash or a rebalance the member
// that starts a partition at offset f reads its cursor c; when c < f the
// records [c, f) were committed by the documents' group but perhaps never
// summarized, so it reads them back from Kafka (they are in the log: a
// cursor never passes retention in practice, it trails by about one round)
// and re-derives their traces before it moves that partition's cursor. A
// partition without a cursor (a new group, or an older indexer that held
// commits back until summaries were written) has nothing to recover; the
// member stores its cursor at once, at the first offset it fetches.
type summarizer struct {
	store    *trace.Store
	m        *Metrics
	log      *slog.Logger
	interval time.Duration
	cursor   cursorStore
	readLog  logReader

	mu sync.Mutex
	// trackers are the offset trackers of the pipelines whose records and
	// spans this summarizer counts (the record pipeline's, and the span
	// pipeline's when spans are indexed): the cursor moves on their topics.
	trackers []*offsets.Tracker
	// derive holds the traces to re-derive from all their records, partials
	// what created records add to the others.
	derive    map[string]struct{}
	partials  map[string]*trace.Partial
	oldest    time.Time
	parts     map[offsets.Key]*sumPart
	gen       int
	committed map[offsets.Key]int64 // cursor positions stored

	// roundMu serializes rounds (the periodic ones and flush at shutdown).
	roundMu sync.Mutex
	// derived are the traces the last round re-derived (under roundMu): that derivation's refresh may have shown it records whose
	// partials came after, so they are derived again, not merged, while
	// their records keep coming.
	derived map[string]struct{}
	// written are the traces whose summaries the last round wrote (under
	// roundMu): a merge reads their summary first, and creates every other
	// trace's blind (see trace.Store.MergeSummaries). It only saves reads:
	// a blind create of a summary that exists is refused and read instead.
	written map[string]struct{}
}

// sumPart is a partition this member fetches: recovered once the records
// between its cursor and the first fetched offset were handed in.
type sumPart struct {
	gen       int
	first     int64
	recovered bool
}

// cursorStore keeps the summary cursor. Offsets are the last summarized
// record's (Kafka stores the next one to read).
type cursorStore interface {
	// Fetch returns the next offset to summarize on k, -1 when none is stored.
	Fetch(ctx context.Context, k offsets.Key) (int64, error)
	Commit(ctx context.Context, cs []offsets.Commit) error
}

// logReader hands fn the messages of k in [from, to).
type logReader func(ctx context.Context, k offsets.Key, from, to int64, fn func(kafka.Message) bool) error

func newSummarizer(store *trace.Store, m *Metrics, log *slog.Logger, interval time.Duration, cursor cursorStore, readLog logReader) *summarizer {
	return &summarizer{store: store, m: m, log: log.With("component", "summary"), interval: interval,
		cursor: cursor, readLog: readLog, derive: map[string]struct{}{}, partials: map[string]*trace.Partial{},
		parts: map[offsets.Key]*sumPart{}, committed: map[offsets.Key]int64{}}
}

// watch puts the positions tr finishes under the cursor: a pipeline calls
// it before it fetches, and hands its acknowledged records in (add,
// addBatch) before it marks their offsets done in tr.
func (s *summarizer) watch(tr *offsets.Tracker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.trackers, tr) {
		s.trackers = append(s.trackers, tr)
	}
}

// add hands in the trace ids of acknowledged records whose traces are to
// be re-derived; call it before their offsets are marked done in the
// tracker. The ids are kept: they must not point into a record's value (a
// Peek result), or they keep it alive.
func (s *summarizer) add(ids []string) {
	s.addBatch(nil, ids)
}

// addBatch hands in the partials of a batch's created records and the
// trace ids to re-derive, before the batch's offsets are marked done.
func (s *summarizer) addBatch(parts map[string]*trace.Partial, derive []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range derive {
		s.derive[id] = struct{}{}
	}
	s.mergePartials(parts)
	if len(parts)+len(derive) > 0 && s.oldest.IsZero() {
		s.oldest = time.Now()
	}
}

// mergePartials adds parts to the pending partials (s.mu held).
func (s *summarizer) mergePartials(parts map[string]*trace.Partial) {
	for id, p := range parts {
		if q := s.partials[id]; q != nil {
			q.Merge(p)
		} else {
			s.partials[id] = p
		}
	}
}

// backlog is the number of traces waiting for a round.
func (s *summarizer) backlog() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.derive) + len(s.partials)
}

// assigned is the health monitor's word on this member's partitions of
// topic and the group's committed offsets: a partition assigned but not
// fetched from yet (no new records since a crash) is adopted at its
// committed offset, so its unsummarized records are found without waiting
// for traffic.
func (s *summarizer) assigned(ctx context.Context, topic string, mine []int, committed map[int]int64) {
	for _, p := range mine {
		k := offsets.Key{Topic: topic, Partition: p}
		s.mu.Lock()
		_, known := s.parts[k]
		s.mu.Unlock()
		if c, ok := committed[p]; ok && c >= 0 && !known {
			s.adopt(ctx, k, c)
		}
	}
}

// adopt is called when fetching (re)starts on k at offset first: the cursor
// of k does not move until the records between it and first are handed in.
func (s *summarizer) adopt(ctx context.Context, k offsets.Key, first int64) {
	s.mu.Lock()
	if p := s.parts[k]; p != nil && p.first == first {
		s.mu.Unlock()
		return // adopted at this offset already (monitor, then fetch)
	}
	s.gen++
	gen := s.gen
	s.parts[k] = &sumPart{gen: gen, first: first}
	s.mu.Unlock()
	go func() {
		d := 500 * time.Millisecond
		for {
			err := s.recoverPartition(ctx, k, first)
			if err == nil {
				s.mu.Lock()
				if p := s.parts[k]; p != nil && p.gen == gen {
					p.recovered = true
				}
				s.mu.Unlock()
				return
			}
			s.m.SummaryErrors.Inc()
			s.log.Warn("reading back unsummarized records failed; retrying", "topic", k.Topic, "partition", k.Partition, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
			d = min(2*d, 10*time.Second)
		}
	}()
}

func (s *summarizer) recoverPartition(ctx context.Context, k offsets.Key, first int64) error {
	from, err := s.cursor.Fetch(ctx, k)
	if err != nil {
		return err
	}
	if from < 0 {
		// No cursor yet (a new group, or an indexer from before the
		// cursor, which held document commits until summaries were
		// written): nothing before first needs a summary. Store one now,
		// so a crash before the first round still finds its records.
		if err := s.cursor.Commit(ctx, []offsets.Commit{{Key: k, Offset: first - 1}}); err != nil {
			return err
		}
		s.mu.Lock()
		s.committed[k] = first - 1
		s.mu.Unlock()
		return nil
	}
	if from >= first {
		return nil
	}
	ids := map[string]struct{}{}
	err = s.readLog(ctx, k, from, first, func(m kafka.Message) bool {
		if meta, err := record.Peek(m.Value); err == nil && meta.TraceID != "" {
			ids[strings.Clone(meta.TraceID)] = struct{}{}
		}
		return true
	})
	if err != nil {
		return err
	}
	list := make([]string, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	s.add(list)
	s.m.SummaryRecovered.Add(float64(first - from))
	s.log.Info("re-deriving the traces of records committed before their summaries",
		"topic", k.Topic, "partition", k.Partition, "from", from, "to", first, "traces", len(list))
	return nil
}

// run does rounds until ctx ends. A round that took longer than the
// interval stretches the wait to twice its duration, so summary work never
// takes more than about a third of the cluster time it competes for.
func (s *summarizer) run(ctx context.Context) {
	t := time.NewTimer(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			start := time.Now()
			s.round(ctx)
			s.mu.Lock()
			if s.oldest.IsZero() {
				s.m.SummaryLag.Set(0)
			} else {
				s.m.SummaryLag.Set(time.Since(s.oldest).Seconds())
			}
			s.mu.Unlock()
			t.Reset(max(s.interval, 2*time.Since(start)))
		}
	}
}

// flush runs rounds until every handed-in trace is summarized and the
// cursor stored, or ctx ends (shutdown).
func (s *summarizer) flush(ctx context.Context) {
	for ctx.Err() == nil {
		done, ok := s.round(ctx)
		if done {
			return
		}
		if !ok {
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

// round derives and writes the pending traces, then stores the cursor.
// done: there was nothing to do; ok: false when it failed (the traces are
// put back for the next round).
func (s *summarizer) round(ctx context.Context) (done, ok bool) {
	s.roundMu.Lock()
	defer s.roundMu.Unlock()
	s.mu.Lock()
	// Positions first, traces second: every record up to a position was
	// handed in before its offset was marked done, so its trace is in this
	// round's set or an earlier one's.
	// A recovered partition's position is at least the record before its
	// first fetched offset: everything before that was read back or was
	// behind the cursor already.
	ready := map[offsets.Key]int64{}
	for k, p := range s.parts {
		if p.recovered && p.first > 0 {
			ready[k] = p.first - 1
		}
	}
	for _, tr := range s.trackers {
		for _, c := range tr.Ready() {
			// ok: a partition whose only finished record is at offset 0 has a position too.
			if p := s.parts[c.Key]; p != nil && p.recovered {
				if r, ok := ready[c.Key]; !ok || c.Offset > r {
					ready[c.Key] = c.Offset
				}
			}
		}
	}
	var pos []offsets.Commit
	for k, o := range ready {
		if last, ok := s.committed[k]; !ok || last != o {
			pos = append(pos, offsets.Commit{Key: k, Offset: o})
		}
	}
	derive, parts, oldest := s.derive, s.partials, s.oldest
	s.derive, s.partials, s.oldest = map[string]struct{}{}, map[string]*trace.Partial{}, time.Time{}
	s.mu.Unlock()
	if len(derive) == 0 && len(parts) == 0 && len(pos) == 0 {
		return true, true
	}
	// A trace derived now counts every record acknowledged before this
	// round took its set, so its partials are dropped; one derived last
	// round is derived again (see derived).
	for id := range parts {
		_, now := derive[id]
		_, last := s.derived[id]
		if now || last {
			derive[id] = struct{}{}
			delete(parts, id)
		}
	}
	putBack := func(derive map[string]struct{}, parts map[string]*trace.Partial) {
		s.mu.Lock()
		for id := range derive {
			s.derive[id] = struct{}{}
		}
		s.mergePartials(parts)
		if s.oldest.IsZero() || oldest.Before(s.oldest) {
			s.oldest = oldest
		}
		s.mu.Unlock()
	}
	start := time.Now()
	defer func() { s.m.Stage.WithLabelValues(StageSummary).Observe(time.Since(start).Seconds()) }()
	if len(derive) > 0 {
		if err := s.summarize(ctx, derive); err != nil {
			s.m.SummaryErrors.Inc()
			s.log.Warn("trace summary round failed; retrying", "traces", len(derive), "err", err)
			putBack(derive, parts)
			return false, false
		}
	}
	s.derived = derive
	known := s.written
	s.written = make(map[string]struct{}, len(derive)+len(parts))
	maps.Copy(s.written, derive)
	if len(parts) > 0 {
		left, err := s.store.MergeSummaries(ctx, parts, known)
		if len(left) > 0 {
			s.m.SummaryErrors.Inc()
			s.log.Warn("merging trace summaries failed; their traces are re-derived next round", "traces", len(left), "err", err)
			again := make(map[string]struct{}, len(left))
			for _, id := range left {
				again[id] = struct{}{}
			}
			putBack(again, nil)
			return false, false
		}
		s.m.Summaries.Add(float64(len(parts)))
		for id := range parts {
			s.written[id] = struct{}{}
		}
	}
	if len(pos) > 0 {
		if err := s.cursor.Commit(ctx, pos); err != nil {
			s.m.SummaryErrors.Inc()
			s.log.Warn("storing the summary cursor failed; the next round stores a newer one", "err", err)
			return false, false
		}
		s.mu.Lock()
		for _, c := range pos {
			s.committed[c.Key] = c.Offset
		}
		s.mu.Unlock()
	}
	return false, true
}

// summarize re-derives traces from all their records and spans.
func (s *summarizer) summarize(ctx context.Context, traces map[string]struct{}) error {
	ids := make([]string, 0, len(traces))
	for id := range traces {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if err := s.store.Refresh(ctx); err != nil {
		return err
	}
	sums, err := s.store.Derive(ctx, ids)
	if err != nil {
		return err
	}
	if err := s.store.WriteSummaries(ctx, sums); err != nil {
		return err
	}
	s.m.Summaries.Add(float64(len(sums)))
	s.m.SummaryDerived.Add(float64(len(ids)))
	return nil
}

// kafkaCursor stores the summary cursor as the committed offsets of a
// consumer group that no member joins (generation -1: a standalone commit,
// which the coordinator accepts while the group has no members). Tools that
// show group lag (kafka-consumer-groups --describe) show the summaries' lag.
type kafkaCursor struct {
	client *kafka.Client
	group  string
}

func (c kafkaCursor) Fetch(ctx context.Context, k offsets.Key) (int64, error) {
	res, err := c.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.group, Topics: map[string][]int{k.Topic: {k.Partition}}})
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		return 0, fmt.Errorf("summary cursor of %s/%d in group %s: %w", k.Topic, k.Partition, c.group, err)
	}
	for _, p := range res.Topics[k.Topic] {
		if p.Partition == k.Partition {
			if p.Error != nil {
				return 0, fmt.Errorf("summary cursor of %s/%d in group %s: %w", k.Topic, k.Partition, c.group, p.Error)
			}
			return p.CommittedOffset, nil
		}
	}
	return -1, nil
}

func (c kafkaCursor) Commit(ctx context.Context, cs []offsets.Commit) error {
	topics := map[string][]kafka.OffsetCommit{}
	for _, x := range cs {
		topics[x.Topic] = append(topics[x.Topic], kafka.OffsetCommit{Partition: x.Partition, Offset: x.Offset + 1})
	}
	res, err := c.client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: c.group, GenerationID: -1, Topics: topics})
	if err != nil {
		return fmt.Errorf("store summary cursor in group %s: %w", c.group, err)
	}
	for t, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return fmt.Errorf("store summary cursor of %s/%d in group %s: %w", t, p.Partition, c.group, p.Error)
			}
		}
	}
	return nil
}
