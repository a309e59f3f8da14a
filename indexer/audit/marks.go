package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
		if err != nil || mk.At.After(until) || mk.LastSeq < mk.FirstSeq {
			continue // foreign, in flight, or nothing stamped yet
		}
		if old, ok := out[mk.ProducerID]; ok {
			mk.FirstSeq = min(mk.FirstSeq, old.FirstSeq)
			mk.LastSeq = max(mk.LastSeq, old.LastSeq)
			mk.Final = mk.Final || old.Final
		}
		out[mk.ProducerID] = mk
	}
}

// tails adds, to each producer, the records between the last one found in
// the window and its settled high-water mark that are neither indexed (at
// any time) nor dead-lettered; and adds producers with a mark but no
// record in the window at all (vanished before anything arrived).
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
		if p.MarkedSeq <= p.LastSeq {
			continue
		}
		missing, err := a.unaccounted(ctx, p.ID, p.LastSeq+1, p.MarkedSeq, dead)
		if err != nil {
			return nil, err
		}
		p.TailMissing = missing
	}
	for id, mk := range marks {
		if seen[id] {
			continue
		}
		lo, hi := int64(mk.FirstSeq), int64(mk.LastSeq)
		missing, err := a.unaccounted(ctx, id, lo, hi, dead)
		if err != nil {
			return nil, err
		}
		if missing > 0 {
			prods = append(prods, Producer{ID: id, FirstSeq: lo, LastSeq: lo - 1, MarkedSeq: hi, Ended: mk.Final, TailMissing: missing})
		}
	}
	return prods, nil
}

// unaccounted counts the sequence numbers in [lo, hi] of producer id found
// neither in Elasticsearch (whatever their @timestamp) nor dead-lettered.
func (a *Auditor) unaccounted(ctx context.Context, id string, lo, hi int64, dead map[string]map[int64]struct{}) (int64, error) {
	body := fmt.Sprintf(`{"size":0,"track_total_hits":true,"query":{"bool":{"filter":[{"term":{%q:%q}},{"range":{%q:{"gte":%d,"lte":%d}}}]}}}`,
		record.FieldProducerID, id, record.FieldProducerSeq, lo, hi)
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
	var d int64
	for seq := range dead[id] {
		if seq >= lo && seq <= hi {
			d++
		}
	}
	return max(0, (hi-lo+1)-r.Hits.Total.Value-d), nil
}
