package trace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/agentobs/agentobs/internal/esclient"
	"github.com/agentobs/agentobs/internal/record"
)

// Partial is what records newly created in Elasticsearch (bulk answered
// 201) add to their trace's summary. The indexer has those records in hand
// when their batch is acknowledged, so it merges their facts into the
// summary document instead of asking Elasticsearch to aggregate every
// record of the trace again: no refresh, no aggregation, no re-reading of
// documents the cluster already has.
//
// Only created records are counted: a copy answered 409 was created
// earlier (by this member, or by one that may have crashed before counting
// it), so its trace is re-derived instead (Derive). A created document is
// created exactly once, so its count is added exactly once as long as the
// merge is written exactly once, which MergeSummaries ensures with
// optimistic concurrency (if_seq_no): a write either applies to the
// version it read or fails and is merged again.
type Partial struct {
	Records, Errors int64
	Worst           string
	Services        []string
	Versions        []string
	Sessions        []string
	Conversations   []string
	// First and Last are the earliest and latest record times; FirstService
	// is the service of the earliest record (the trace's root service).
	First, Last  time.Time
	FirstService string

	// Spans and ErrorSpans count created span documents (status error);
	// RootSpan is "service: name" of the earliest of them without a parent,
	// RootSpanTime its start and RootSpanService its service; SpanFirst and
	// SpanLast are the earliest start and the latest end of them all.
	Spans, ErrorSpans   int64
	RootSpan            string
	RootSpanService     string
	RootSpanTime        time.Time
	SpanFirst, SpanLast time.Time
}

// SpanFact is one created span as a Partial needs it.
type SpanFact struct {
	Service, Name string
	Error, Root   bool
	// Start is the span's @timestamp, End its event.end; zero when absent.
	Start, End time.Time
}

// AddSpan counts one created span.
func (p *Partial) AddSpan(f SpanFact) {
	p.Spans++
	if f.Error {
		p.ErrorSpans++
	}
	p.Services = addTo(p.Services, f.Service, maxServices)
	if f.Root && !f.Start.IsZero() && (p.RootSpan == "" || f.Start.Before(p.RootSpanTime)) {
		p.RootSpan, p.RootSpanService, p.RootSpanTime = rootSpanName(f.Service, f.Name), f.Service, f.Start
	}
	p.widenSpans(f.Start, f.End)
}

func (p *Partial) widenSpans(first, last time.Time) {
	if !first.IsZero() && (p.SpanFirst.IsZero() || first.Before(p.SpanFirst)) {
		p.SpanFirst = first
	}
	if last.After(p.SpanLast) {
		p.SpanLast = last
	}
}

// rootSpanName is how a summary names its root span.
func rootSpanName(service, name string) string {
	if name == "" {
		return ""
	}
	return strings.TrimPrefix(service+": "+name, ": ")
}

// Fact is one created record as a Partial needs it.
type Fact struct {
	Level, Service, Version, Session, Conversation string
	// Time is the record's @timestamp; zero when it had none.
	Time time.Time
}

// The most values a summary lists per set, as many as the derivation's
// terms aggregations return.
const (
	maxServices      = 100
	maxVersions      = 20
	maxSessions      = 10
	maxConversations = 10
)

// Add counts one created record.
func (p *Partial) Add(f Fact) {
	p.Records++
	if IsError(f.Level) {
		p.Errors++
	}
	if levelRank[f.Level] > levelRank[p.Worst] {
		p.Worst = f.Level
	}
	p.Services = addTo(p.Services, f.Service, maxServices)
	p.Versions = addTo(p.Versions, f.Version, maxVersions)
	p.Sessions = addTo(p.Sessions, f.Session, maxSessions)
	p.Conversations = addTo(p.Conversations, f.Conversation, maxConversations)
	if !f.Time.IsZero() {
		if p.First.IsZero() || f.Time.Before(p.First) {
			p.First, p.FirstService = f.Time, f.Service
		}
		if f.Time.After(p.Last) {
			p.Last = f.Time
		}
	}
}

// Merge adds q (records disjoint from p's) to p.
func (p *Partial) Merge(q *Partial) {
	p.Records += q.Records
	p.Errors += q.Errors
	if levelRank[q.Worst] > levelRank[p.Worst] {
		p.Worst = q.Worst
	}
	for _, v := range q.Services {
		p.Services = addTo(p.Services, v, maxServices)
	}
	for _, v := range q.Versions {
		p.Versions = addTo(p.Versions, v, maxVersions)
	}
	for _, v := range q.Sessions {
		p.Sessions = addTo(p.Sessions, v, maxSessions)
	}
	for _, v := range q.Conversations {
		p.Conversations = addTo(p.Conversations, v, maxConversations)
	}
	if !q.First.IsZero() && (p.First.IsZero() || q.First.Before(p.First)) {
		p.First, p.FirstService = q.First, q.FirstService
	}
	if q.Last.After(p.Last) {
		p.Last = q.Last
	}
	p.Spans += q.Spans
	p.ErrorSpans += q.ErrorSpans
	if q.RootSpan != "" && (p.RootSpan == "" || q.RootSpanTime.Before(p.RootSpanTime)) {
		p.RootSpan, p.RootSpanService, p.RootSpanTime = q.RootSpan, q.RootSpanService, q.RootSpanTime
	}
	p.widenSpans(q.SpanFirst, q.SpanLast)
}

// addTo adds v to the small set s (unless empty, present or s is full).
func addTo(s []string, v string, limit int) []string {
	if v == "" || len(s) >= limit || slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// apply adds p to the summary: counts add up, sets unite, the time range
// widens; the root service is the earliest record's.
func (s *Summary) apply(p *Partial, now string) {
	s.RecordCount += p.Records
	s.ErrorCount += p.Errors
	if levelRank[p.Worst] > levelRank[s.WorstLevel] {
		s.WorstLevel = p.Worst
	}
	s.Services = union(s.Services, p.Services, maxServices)
	s.Versions = union(s.Versions, p.Versions, maxVersions)
	s.SessionIDs = union(s.SessionIDs, p.Sessions, maxSessions)
	s.ConversationIDs = union(s.ConversationIDs, p.Conversations, maxConversations)
	if !p.First.IsZero() {
		first, last := p.First.UTC().Format(record.TimeLayout), p.Last.UTC().Format(record.TimeLayout)
		earliest := s.FirstRecord
		if earliest == "" && s.RecordCount > p.Records {
			earliest = s.First // written before first_record_timestamp existed
		}
		if earliest == "" || first < earliest {
			s.FirstRecord, s.RootService = first, p.FirstService
		}
		if s.First == "" || first < s.First {
			s.First = first
		}
		if last > s.Last {
			s.Last = last
		}
		s.Timestamp = s.First
		s.setDuration()
	}
	s.applySpans(p)
	s.UpdatedAt = now
}

// applySpans adds p's spans: counts add up, the root span is the earliest
// one without a parent (its service is the root service only while the
// trace has no records, as in the derivation), the time range widens.
func (s *Summary) applySpans(p *Partial) {
	s.SpanCount += p.Spans
	s.ErrorSpanCount += p.ErrorSpans
	if p.RootSpan != "" {
		at := p.RootSpanTime.UTC().Format(record.TimeLayout)
		// A root span without its time was written before the time was
		// kept: it stays (a second root span of one trace is rare).
		if s.RootSpan == "" || (s.RootSpanTime != "" && at < s.RootSpanTime) {
			s.RootSpan, s.RootSpanTime = p.RootSpan, at
			if s.RecordCount == 0 || s.RootService == "" {
				s.RootService = p.RootSpanService
			}
		}
	}
	if p.SpanFirst.IsZero() && p.SpanLast.IsZero() {
		return
	}
	if !p.SpanFirst.IsZero() {
		if first := p.SpanFirst.UTC().Format(record.TimeLayout); s.First == "" || first < s.First {
			s.First = first
		}
	}
	if !p.SpanLast.IsZero() {
		if last := p.SpanLast.UTC().Format(record.TimeLayout); last > s.Last {
			s.Last = last
		}
	}
	s.Timestamp = s.First
	s.setDuration()
}

// union adds the values of add missing from s, up to limit, sorted.
func union(s, add []string, limit int) []string {
	if s == nil {
		s = []string{}
	}
	n := len(s)
	for _, v := range add {
		s = addTo(s, v, limit)
	}
	if len(s) > n {
		slices.Sort(s)
	}
	return s
}

// MergeSummaries adds each trace's Partial to its summary document. A trace
// in known (its summary was written lately, so it probably exists) is read
// with one realtime multi-get (no refresh needed), merged and written back
// conditional on the version read. Any other trace is created blind from
// its partial, with no read: most traces are new when their records
// arrive, and a create applies only where no summary exists, so a 409
// (it did exist) means nothing was written and the trace takes the read
// path. A write that lost a race (409: another member or a derivation
// wrote in between) or was refused is merged again from a fresh read, up to
// three times. It returns the traces whose partials are not known to be
// written (never written, or the answer was lost): the caller re-derives
// them, since a lost answer may hide a write that applied.
func (s *Store) MergeSummaries(ctx context.Context, parts map[string]*Partial, known map[string]struct{}) ([]string, error) {
	var read, create []string
	for id := range parts {
		if _, ok := known[id]; ok {
			read = append(read, id)
		} else {
			create = append(create, id)
		}
	}
	slices.Sort(create)
	for chunk := range slices.Chunk(create, maxMergeChunk) {
		left, err := s.merge(ctx, chunk, parts, false)
		if err != nil {
			return append(read, create...), err // an answer lost: any of them may be written
		}
		read = append(read, left...)
	}
	todo := read
	slices.Sort(todo)
	var err error
	for attempt := 0; attempt < 3 && len(todo) > 0; attempt++ {
		var again []string
		for chunk := range slices.Chunk(todo, maxMergeChunk) {
			left, e := s.merge(ctx, chunk, parts, true)
			if e != nil {
				return todo, e // an answer lost: any of them may be written
			}
			again = append(again, left...)
		}
		todo = again
	}
	if len(todo) > 0 {
		err = fmt.Errorf("merge summaries: %d traces still conflicting after 3 attempts", len(todo))
	}
	return todo, err
}

// maxMergeChunk bounds one multi-get and its bulk write.
const maxMergeChunk = 2000

// merge reads (when read is set; otherwise every trace is taken as new),
// merges and writes the summaries of ids; it returns the ids whose write
// was refused (safe to merge again).
func (s *Store) merge(ctx context.Context, ids []string, parts map[string]*Partial, read bool) ([]string, error) {
	var got struct {
		Docs []struct {
			ID          string          `json:"_id"`
			Found       bool            `json:"found"`
			SeqNo       int64           `json:"_seq_no"`
			PrimaryTerm int64           `json:"_primary_term"`
			Source      json.RawMessage `json:"_source"`
			Error       json.RawMessage `json:"error"`
		} `json:"docs"`
	}
	if read {
		if err := s.do(ctx, http.MethodPost, "/"+s.names.Traces+"/_mget?filter_path=docs._id,docs.found,docs._seq_no,docs._primary_term,docs._source,docs.error",
			map[string]any{"ids": ids}, &got); err != nil && !isIndexMissing(err) {
			return nil, fmt.Errorf("read summaries: %w", err)
		}
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	order := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	write := func(id string, sum *Summary, meta string) error {
		sum.apply(parts[id], now)
		buf.WriteString(meta)
		order = append(order, id)
		return enc.Encode(sum)
	}
	for _, d := range got.Docs {
		if parts[d.ID] == nil || seen[d.ID] {
			continue
		}
		if len(d.Error) > 0 {
			if !bytes.Contains(d.Error, []byte("index_not_found_exception")) {
				return nil, fmt.Errorf("read summary %s: %s", d.ID, d.Error)
			}
			d.Found = false // no summary index yet: a new trace
		}
		seen[d.ID] = true
		sum := Summary{TraceID: d.ID}
		meta := fmt.Sprintf(`{"create":{"_index":%q,"_id":%q}}`+"\n", s.names.Traces, d.ID)
		if d.Found {
			if err := json.Unmarshal(d.Source, &sum); err != nil {
				return nil, fmt.Errorf("read summary %s: %w", d.ID, err)
			}
			meta = fmt.Sprintf(`{"index":{"_index":%q,"_id":%q,"if_seq_no":%d,"if_primary_term":%d}}`+"\n", s.names.Traces, d.ID, d.SeqNo, d.PrimaryTerm)
		}
		if err := write(d.ID, &sum, meta); err != nil {
			return nil, err
		}
	}
	for _, id := range ids { // not read, or the index did not exist yet: a new trace
		if !seen[id] {
			sum := Summary{TraceID: id}
			if err := write(id, &sum, fmt.Sprintf(`{"create":{"_index":%q,"_id":%q}}`+"\n", s.names.Traces, id)); err != nil {
				return nil, err
			}
		}
	}
	var res struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int `json:"status"`
		} `json:"items"`
	}
	if err := s.do(ctx, http.MethodPost, "/_bulk?filter_path=errors,items.*.status", &buf, &res); err != nil {
		return nil, fmt.Errorf("write summaries: %w", err)
	}
	if !res.Errors {
		return nil, nil
	}
	if len(res.Items) != len(order) {
		return nil, fmt.Errorf("write summaries: %d answers for %d writes", len(res.Items), len(order))
	}
	var again []string
	for i, it := range res.Items {
		for _, v := range it {
			if v.Status >= 300 { // not applied: 409 lost a race, others refused
				again = append(again, order[i])
			}
		}
	}
	return again, nil
}

// isIndexMissing: the summary index does not exist (yet): every trace is new.
func isIndexMissing(err error) bool {
	var se *esclient.StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}
