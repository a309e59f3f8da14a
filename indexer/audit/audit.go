// Package audit is the indexer's end-to-end loss check. Every front door
// stamps each record with a producer id (one per shipper file generation,
// per shipper stdin/HTTP process epoch, per collector instance epoch) and a
// sequence number that starts at 1 and has no holes at the source. An audit
// reads, per producer, the lowest and highest sequence number and the
// number of documents found in Elasticsearch, subtracts what went to the
// dead-letter topic instead, and reports the rest of the range as missing:
// records that entered the pipeline and never arrived anywhere.
//
// Records newer than the grace period are left out (they may still be in
// Kafka, in a batch or behind a rebalance), and so are records older than
// the window. Only holes between the first and the last record seen are
// visible from the records alone: a loss at the very end of a producer's
// life (its last records) leaves no hole. The front doors' high-water marks
// (marks.go) close that side: records between the last one found and the
// producer's settled mark count as missing too, and so do producers with a
// mark and none of their records found.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agentobs/agentobs/internal/record"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/segmentio/kafka-go"
)

// Config is the periodic audit run inside `indexer run`.
type Config struct {
	// Interval between audits; 0 turns the periodic audit off. Default 5m.
	Interval time.Duration `yaml:"interval"`
	// Window is how far back each audit looks. Default 1h.
	Window time.Duration `yaml:"window"`
	// Grace leaves out records newer than this (still in flight). Default 2m.
	Grace time.Duration `yaml:"grace"`
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{Interval: 5 * time.Minute, Window: time.Hour, Grace: 2 * time.Minute}
}

// RegisterFlags binds c to -audit.interval, -audit.window, -audit.grace.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.Interval, prefix+"interval", c.Interval, "how often the running indexer audits producer sequences for loss (0: off)")
	fs.DurationVar(&c.Window, prefix+"window", c.Window, "how far back each periodic audit looks")
	fs.DurationVar(&c.Grace, prefix+"grace", c.Grace, "records newer than this are still in flight and left out of an audit")
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < 10*time.Second) {
		errs = append(errs, fmt.Errorf("audit.interval: %s, want 0 (off) or >= 10s", c.Interval))
	}
	if c.Window <= c.Grace {
		errs = append(errs, fmt.Errorf("audit.window: %s must be longer than audit.grace %s", c.Window, c.Grace))
	}
	if c.Grace < 0 {
		errs = append(errs, errors.New("audit.grace: must not be negative"))
	}
	return errors.Join(errs...)
}

// Producer is one producer's account within the audited window.
type Producer struct {
	ID       string `json:"id"`
	FirstSeq int64  `json:"first_seq"`
	LastSeq  int64  `json:"last_seq"`
	// Indexed counts documents of the producer in the window.
	Indexed int64 `json:"indexed"`
	// Quarantined are indexed documents whose original is also a dead letter.
	Quarantined int64 `json:"quarantined"`
	// DeadLettered counts distinct sequence numbers in [FirstSeq, LastSeq]
	// found only in the dead-letter topic.
	DeadLettered int64 `json:"dead_lettered"`
	// Missing = LastSeq-FirstSeq+1 - Indexed - DeadLettered, when positive.
	Missing int64 `json:"missing"`
	// Surplus is the negative side: more documents than sequence numbers
	// (a producer id reused by two processes, or duplicates).
	Surplus int64 `json:"surplus,omitempty"`
	// MarkedSeq is the producer's last settled high-water mark (0: none).
	MarkedSeq int64 `json:"marked_seq,omitempty"`
	// Ended is set when the producer said it ended cleanly.
	Ended bool `json:"ended,omitempty"`
	// TailMissing are the sequence numbers after LastSeq up to MarkedSeq
	// found nowhere (included in Missing).
	TailMissing int64 `json:"tail_missing,omitempty"`
	// Refused are sequence numbers found nowhere that the front door
	// refused to its client (a request answered 429 or 503, which the
	// client retries under new numbers; publish.Mark.Refused): not missing.
	Refused int64 `json:"refused,omitempty"`

	refusedInRange int64 // the part of Refused in [FirstSeq, LastSeq]
}

// Report is one audit.
type Report struct {
	From         time.Time  `json:"from"`
	To           time.Time  `json:"to"`
	Producers    []Producer `json:"producers"`
	Indexed      int64      `json:"indexed"`
	DeadLettered int64      `json:"dead_lettered"`
	Missing      int64      `json:"missing"`
	Refused      int64      `json:"refused"`
	// Unattributed dead letters carry no producer stamp (bad JSON from a
	// foreign producer); they are counted, not matched.
	Unattributed int64 `json:"unattributed_dead_letters"`
}

// Source yields messages of a bounded range; io.EOF ends it.
type Source interface {
	Fetch(ctx context.Context) (kafka.Message, error)
	Close() error
}

// DeadLetters opens the dead-letter topic from since to its current end.
type DeadLetters func(ctx context.Context, since time.Time) (Source, error)

// Auditor runs audits against one log alias and one dead-letter topic.
type Auditor struct {
	es    *elasticsearch.Client
	index string
	dlq   DeadLetters
	marks Marks

	mu   sync.Mutex
	last *Last // the periodic audit's last run
}

// New builds an auditor; index is the log alias (or pattern) searched.
func New(es *elasticsearch.Client, index string, dlq DeadLetters) *Auditor {
	return &Auditor{es: es, index: index, dlq: dlq}
}

// Run audits records with @timestamp in [now-since, now-grace].
func (a *Auditor) Run(ctx context.Context, since, grace time.Duration) (Report, error) {
	now := time.Now().UTC()
	r := Report{From: now.Add(-since), To: now.Add(-grace)}
	if !r.From.Before(r.To) {
		return r, fmt.Errorf("audit: since %s must be longer than grace %s", since, grace)
	}
	prods, err := a.indexed(ctx, r.From, r.To)
	if err != nil {
		return r, err
	}
	dead, unattributed, err := a.deadLetters(ctx, r.From)
	if err != nil {
		return r, err
	}
	r.Unattributed = unattributed
	marks, err := a.settledMarks(ctx, r.From, r.To)
	if err != nil {
		return r, err
	}
	if prods, err = a.tails(ctx, prods, marks, dead); err != nil {
		return r, err
	}
	for _, p := range prods {
		var d int64
		for seq := range dead[p.ID] {
			if seq >= p.FirstSeq && seq <= p.LastSeq {
				d++
			}
		}
		// A quarantined document is in Elasticsearch and its original in
		// the dead-letter topic: count it once.
		p.DeadLettered = max(d-p.Quarantined, 0)
		gap := (p.LastSeq - p.FirstSeq + 1) - p.Indexed - p.DeadLettered - p.refusedInRange
		if gap >= 0 {
			p.Missing = gap
		} else {
			p.Surplus = -gap
		}
		p.Missing += p.TailMissing
		r.Indexed += p.Indexed
		r.DeadLettered += p.DeadLettered
		r.Missing += p.Missing
		r.Refused += p.Refused
		r.Producers = append(r.Producers, p)
	}
	sort.Slice(r.Producers, func(i, j int) bool {
		if r.Producers[i].Missing != r.Producers[j].Missing {
			return r.Producers[i].Missing > r.Producers[j].Missing
		}
		return r.Producers[i].ID < r.Producers[j].ID
	})
	return r, nil
}

// indexed is every producer's account in Elasticsearch: the documents it
// stamped, plus the copies of its records refused as duplicates of a
// document stamped by another epoch (NoteDuplicates), which count as its
// own (they arrived).
func (a *Auditor) indexed(ctx context.Context, from, to time.Time) ([]Producer, error) {
	own, err := a.stats(ctx, from, to, record.FieldProducerID, record.FieldProducerSeq)
	if err != nil {
		return nil, err
	}
	dups, err := a.stats(ctx, from, to, record.FieldProducerDupID, record.FieldProducerDupSeq)
	if err != nil {
		return nil, err
	}
	at := make(map[string]int, len(own))
	for i, p := range own {
		at[p.ID] = i
	}
	for _, d := range dups {
		i, ok := at[d.ID]
		if !ok {
			at[d.ID] = len(own)
			own = append(own, Producer{ID: d.ID, FirstSeq: d.FirstSeq, LastSeq: d.LastSeq, Indexed: d.Indexed})
			continue
		}
		p := &own[i]
		p.FirstSeq, p.LastSeq = min(p.FirstSeq, d.FirstSeq), max(p.LastSeq, d.LastSeq)
		p.Indexed += d.Indexed
	}
	return own, nil
}

// stats pages a composite aggregation over every value of idField: exact
// min, max and count of seqField per producer, and the quarantined
// documents among them.
func (a *Auditor) stats(ctx context.Context, from, to time.Time, idField, seqField string) ([]Producer, error) {
	var out []Producer
	after := ""
	for {
		// Canary records (record.FieldCanary) are not user records: their
		// producers publish no marks and they never count in an audit.
		body := fmt.Sprintf(`{"size":0,"query":{"bool":{"filter":[{"range":{"@timestamp":{"gte":%q,"lte":%q}}},{"exists":{"field":%q}}],"must_not":[{"exists":{"field":%q}}]}},`+
			`"aggs":{"p":{"composite":{"size":1000,"sources":[{"id":{"terms":{"field":%q}}}]%s},`+
			`"aggs":{"seq":{"stats":{"field":%q}},"q":{"filter":{"exists":{"field":"_conflicts"}}}}}}}`,
			from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), seqField, record.FieldCanary, idField, after, seqField)
		res, err := a.es.Search(a.es.Search.WithContext(ctx), a.es.Search.WithIndex(a.index),
			a.es.Search.WithBody(strings.NewReader(body)), a.es.Search.WithIgnoreUnavailable(true), a.es.Search.WithAllowNoIndices(true))
		if err != nil {
			return nil, fmt.Errorf("audit search %s: %w", a.index, err)
		}
		var r struct {
			Aggregations struct {
				P struct {
					AfterKey json.RawMessage `json:"after_key"`
					Buckets  []struct {
						Key struct {
							ID string `json:"id"`
						} `json:"key"`
						Seq struct {
							Count int64   `json:"count"`
							Min   float64 `json:"min"`
							Max   float64 `json:"max"`
						} `json:"seq"`
						Q struct {
							DocCount int64 `json:"doc_count"`
						} `json:"q"`
					} `json:"buckets"`
				} `json:"p"`
			} `json:"aggregations"`
		}
		err = func() error {
			defer res.Body.Close()
			if res.IsError() {
				b, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
				return fmt.Errorf("audit search %s: %s: %s", a.index, res.Status(), b)
			}
			return json.NewDecoder(res.Body).Decode(&r)
		}()
		if err != nil {
			return nil, err
		}
		for _, b := range r.Aggregations.P.Buckets {
			if b.Seq.Count == 0 {
				continue
			}
			out = append(out, Producer{ID: b.Key.ID, FirstSeq: int64(b.Seq.Min), LastSeq: int64(b.Seq.Max),
				Indexed: b.Seq.Count, Quarantined: b.Q.DocCount})
		}
		if len(r.Aggregations.P.Buckets) == 0 || len(r.Aggregations.P.AfterKey) == 0 {
			return out, nil
		}
		after = `,"after":` + string(r.Aggregations.P.AfterKey)
	}
}

// deadLetters reads the dead-letter topic from since (dead-lettering
// happens after a record's own time, so nothing of the window is earlier)
// and returns the distinct sequence numbers per producer.
func (a *Auditor) deadLetters(ctx context.Context, since time.Time) (map[string]map[int64]struct{}, int64, error) {
	out := map[string]map[int64]struct{}{}
	if a.dlq == nil {
		return out, 0, nil
	}
	src, err := a.dlq(ctx, since)
	if err != nil {
		return nil, 0, fmt.Errorf("audit dead letters: %w", err)
	}
	defer src.Close()
	var unattributed int64
	for {
		m, err := src.Fetch(ctx)
		if errors.Is(err, io.EOF) {
			return out, unattributed, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("audit dead letters: %w", err)
		}
		id, seq, ok := Stamp(m.Value)
		if !ok {
			unattributed++
			continue
		}
		s := out[id]
		if s == nil {
			s = map[int64]struct{}{}
			out[id] = s
		}
		s[seq] = struct{}{}
	}
}

// Stamp reads the producer id and sequence number of an encoded record.
func Stamp(doc []byte) (id string, seq int64, ok bool) {
	var v struct {
		ID  string `json:"agentobs.producer.id"`
		Seq int64  `json:"agentobs.producer.seq"`
	}
	if json.Unmarshal(doc, &v) != nil || v.ID == "" || v.Seq <= 0 {
		return "", 0, false
	}
	return v.ID, v.Seq, true
}
