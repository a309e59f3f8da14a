package audit

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
)

// Marks opens the front doors' high-water-mark topic from since to its
// current end (see internal/publish: marks).
type Marks func(ctx context.Context, since time.Time) (Source, error)

// SetMarks lets the audit see loss at the end of a sequence and producers
// that vanished with records unaccounted for: each producer's high-water
// mark says which sequence numbers it stamped, found or not.
func (a *Auditor) SetMarks(m Marks) { a.marks = m }

// settledMarks reads the marks published in [since, until] (a mark newer
// than until may name records still in flight) and keeps, per producer,
// the highest last sequence and the lowest first sequence.
func (a *Auditor) settledMarks(ctx context.Context, since, until time.Time) (map[string]publish.Mark, error) {
	out := map[string]publish.Mark{}
	if a.marks == nil {
		return out, nil
	}
	src, err := a.marks(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("audit marks: %w", err)
	}
	defer src.Close()
	for {
		m, err := src.Fetch(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("audit marks: %w", err)
		}
		mk, err := publish.ParseMark(m.Value)
		if err != nil || mk.At.After(until) {
			continue // foreign, or in flight
		}
		if mk.LastSeq < mk.FirstSeq {
			if len(mk.Refused) == 0 {
				continue // nothing stamped yet
			}
			// A refusal rides on the first mark after it, even one that
			// names no number yet (the producer's first).
			mk.LastSeq = mk.FirstSeq - 1
		}
		if old, ok := out[mk.ProducerID]; ok {
			mk.FirstSeq = min(mk.FirstSeq, old.FirstSeq)
			mk.LastSeq = max(mk.LastSeq, old.LastSeq)
			mk.Final = mk.Final || old.Final
			mk.Refused = append(old.Refused, mk.Refused...)
		}
		out[mk.ProducerID] = mk
	}
}

// tails adds, to each producer, the records between the last one found in
// the window and its settled high-water mark that are neither indexed (at
// any time) nor dead-lettered; and adds producers with a mark but no
// record in the window at all (vanished before anything arrived). Numbers
// the front door refused to its client (Mark.Refused) and that are found
// nowhere count as refused, not missing, wherever they are.
func (a *Auditor) tails(ctx context.Context, prods []Producer, marks map[string]publish.Mark, dead map[string]map[int64]struct{}) ([]Producer, error) {
	seen := map[string]bool{}
	for i := range prods {
		p := &prods[i]
		seen[p.ID] = true
		mk, ok := marks[p.ID]
		if !ok {
			continue
		}
		p.MarkedSeq, p.Ended = int64(mk.LastSeq), mk.Final
		refused, err := a.unaccounted(ctx, p.ID, clip(mk.Refused, p.FirstSeq, p.LastSeq), dead)
		if err != nil {
			return nil, err
		}
		p.Refused, p.refusedInRange = refused, refused
		if p.MarkedSeq <= p.LastSeq {
			continue
		}
		if p.TailMissing, refused, err = a.tail(ctx, p.ID, p.LastSeq+1, p.MarkedSeq, mk.Refused, dead); err != nil {
			return nil, err
		}
		p.Refused += refused
	}
	for id, mk := range marks {
		if seen[id] {
			continue
		}
		lo, hi := int64(mk.FirstSeq), int64(mk.LastSeq)
		if hi < lo {
			continue // only refusals, and none of its records found
		}
		missing, refused, err := a.tail(ctx, id, lo, hi, mk.Refused, dead)
		if err != nil {
			return nil, err
		}
		if missing > 0 || refused > 0 {
			prods = append(prods, Producer{ID: id, FirstSeq: lo, LastSeq: lo - 1, MarkedSeq: hi, Ended: mk.Final, TailMissing: missing, Refused: refused})
		}
	}
	return prods, nil
}

// tail counts the numbers in [lo, hi] of producer id found nowhere: those
// refused to the client, and the rest (missing).
func (a *Auditor) tail(ctx context.Context, id string, lo, hi int64, refusedRanges []publish.SeqRange, dead map[string]map[int64]struct{}) (missing, refused int64, err error) {
	all, err := a.unaccounted(ctx, id, []publish.SeqRange{{First: uint64(lo), Last: uint64(hi)}}, dead)
	if err != nil {
		return 0, 0, err
	}
	if refused, err = a.unaccounted(ctx, id, clip(refusedRanges, lo, hi), dead); err != nil {
		return 0, 0, err
	}
	return all - refused, refused, nil
}

// clip returns rs within [lo, hi], sorted, overlapping and adjacent ranges
// merged.
func clip(rs []publish.SeqRange, lo, hi int64) []publish.SeqRange {
	if len(rs) == 0 || lo > hi || hi < 1 {
		return nil
	}
	l, h := uint64(max(lo, 1)), uint64(hi)
	var out []publish.SeqRange
	for _, r := range rs {
		r.First, r.Last = max(r.First, l), min(r.Last, h)
		if r.First <= r.Last {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b publish.SeqRange) int { return cmp.Compare(a.First, b.First) })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && r.First <= merged[n-1].Last+1 {
			merged[n-1].Last = max(merged[n-1].Last, r.Last)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// rangesPerQuery bounds the range clauses of one search, well below
// Elasticsearch's clause limit.
const rangesPerQuery = 500

// unaccounted counts the sequence numbers in ranges (disjoint) of producer
// id found neither in Elasticsearch (whatever their @timestamp; on a
// document of their own, or as the duplicate stamp on the document another
// epoch's copy made, NoteDuplicates) nor dead-lettered.
func (a *Auditor) unaccounted(ctx context.Context, id string, ranges []publish.SeqRange, dead map[string]map[int64]struct{}) (int64, error) {
	var size, found int64
	for len(ranges) > 0 {
		part := ranges[:min(len(ranges), rangesPerQuery)]
		ranges = ranges[len(part):]
		own, dup := make([]string, len(part)), make([]string, len(part))
		for i, r := range part {
			size += int64(r.Last - r.First + 1)
			own[i] = fmt.Sprintf(`{"range":{%q:{"gte":%d,"lte":%d}}}`, record.FieldProducerSeq, r.First, r.Last)
			dup[i] = fmt.Sprintf(`{"range":{%q:{"gte":%d,"lte":%d}}}`, record.FieldProducerDupSeq, r.First, r.Last)
			for seq := range dead[id] {
				if seq >= int64(r.First) && seq <= int64(r.Last) {
					found++
				}
			}
		}
		for _, q := range []struct {
			field   string
			clauses []string
		}{{record.FieldProducerID, own}, {record.FieldProducerDupID, dup}} {
			n, err := a.count(ctx, q.field, id, q.clauses)
			if err != nil {
				return 0, err
			}
			found += n
		}
	}
	return max(0, size-found), nil
}

// count is how many documents with idField id match one of clauses.
func (a *Auditor) count(ctx context.Context, idField, id string, clauses []string) (int64, error) {
	body := fmt.Sprintf(`{"size":0,"track_total_hits":true,"query":{"bool":{"filter":[{"term":{%q:%q}},{"bool":{"should":[%s],"minimum_should_match":1}}]}}}`,
		idField, id, strings.Join(clauses, ","))
	res, err := a.es.Search(a.es.Search.WithContext(ctx), a.es.Search.WithIndex(a.index),
		a.es.Search.WithBody(strings.NewReader(body)), a.es.Search.WithIgnoreUnavailable(true), a.es.Search.WithAllowNoIndices(true))
	if err != nil {
		return 0, fmt.Errorf("audit tail of %s: %w", id, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		return 0, fmt.Errorf("audit tail of %s: %s: %s", id, res.Status(), b)
	}
	var r struct {
		Hits struct {
			Total struct {
				Value int64 `json:"value"`
			} `json:"total"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return 0, fmt.Errorf("audit tail of %s: %w", id, err)
	}
	return r.Hits.Total.Value, nil
}
