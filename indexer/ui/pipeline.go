package ui

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/agentobs/agentobs/indexer/audit"
)

// Pipeline is the indexer's own view of its pipeline, for the health page
// (the indexer implements it from its lag monitor, its dead-letter topic and
// its periodic audit). nil leaves those sections out.
type Pipeline interface {
	// Lags is the last poll of each consumer group's lag: the record
	// topic's first, then the span topic's when spans are indexed.
	Lags() []Lag
	// DeadLetters reads the dead-letter topic from since.
	DeadLetters(ctx context.Context, since time.Time) (DeadLetters, error)
	// LastAudit is the periodic loss audit's last run (nil: none yet).
	LastAudit() *audit.Last
	// CanaryAges is the age of the newest searchable end-to-end canary
	// record per front door (empty: none seen, or the prober is off).
	CanaryAges() map[string]time.Duration
}

// Lag of one consumer group, per partition, as its lag monitor last polled it.
type Lag struct {
	Kind         string // what the topic carries: "records" or "spans"
	Topic, Group string
	Polled       time.Time // zero: never polled
	Err          string    // the last poll's error, if it failed
	Partitions   []PartitionLag
	Total        int64 // the partitions' lag added up (pipelineView fills it)
}

// ID is the page's element id of the lag table: "lag" for the record
// topic, "lag-spans" for the span topic.
func (l Lag) ID() string {
	if l.Kind == "spans" {
		return "lag-spans"
	}
	return "lag"
}

// PartitionLag is one partition of the log topic.
type PartitionLag struct {
	Partition int
	Lag       int64   // end offset − committed offset
	Committed int64   // -1: nothing committed yet
	Seconds   float64 // how far behind, for this member's partitions (0 elsewhere)
	Mine      bool    // assigned to this indexer
}

// DeadLetters are the dead letters read from the topic since a time.
type DeadLetters struct {
	Topic    string
	Since    time.Time
	Total    int64
	Capped   bool // the read stopped at its bound: Total is a lower bound
	ByReason []ReasonCount
	Newest   []DeadLetter // newest first
}

// ReasonCount is the number of dead letters with one reason.
type ReasonCount struct {
	Reason string
	Count  int64
}

// DeadLetter is one dead letter as the page shows it.
type DeadLetter struct {
	Time      time.Time
	Reason    string
	Error     string
	Component string
	Origin    string // topic/partition@offset of the original, when known
	Value     string // the start of the original bytes
	Size      int
}

// pipelineView is what health.html shows of the Pipeline.
type pipelineView struct {
	Lags     []Lag
	DLQ      *DeadLetters
	DLQErr   string
	Audit    *audit.Last
	Missing  []audit.Producer // producers with missing records
	Canaries []canaryAge      // oldest first
}

// canaryAge is one front door's newest searchable canary.
type canaryAge struct {
	Source string
	Age    string
	Stale  bool // older than canaryStale: its path may be stuck
}

// canaryStale marks a canary as stale on the page: several front-door
// intervals (30 s by default) without a new searchable canary.
const canaryStale = 2 * time.Minute

// dlqWindow is how far back the health page reads dead letters.
const dlqWindow = 24 * time.Hour

func (h *Handler) pipelineView(ctx context.Context) *pipelineView {
	if h.pipe == nil {
		return nil
	}
	v := &pipelineView{}
	v.Lags = h.pipe.Lags()
	for i := range v.Lags {
		for _, p := range v.Lags[i].Partitions {
			v.Lags[i].Total += p.Lag
		}
	}
	dl, err := h.pipe.DeadLetters(ctx, time.Now().Add(-dlqWindow))
	if err != nil {
		v.DLQErr = err.Error()
	} else {
		for i := range dl.Newest {
			dl.Newest[i].Error, _ = clean(dl.Newest[i].Error, 512)
			dl.Newest[i].Value, _ = clean(dl.Newest[i].Value, 512)
			dl.Newest[i].Reason = cleanKey(dl.Newest[i].Reason)
		}
		for i := range dl.ByReason {
			dl.ByReason[i].Reason = cleanKey(dl.ByReason[i].Reason)
		}
		v.DLQ = &dl
	}
	ages := h.pipe.CanaryAges()
	srcs := slices.SortedFunc(maps.Keys(ages), func(a, b string) int { return cmp.Or(cmp.Compare(ages[b], ages[a]), cmp.Compare(a, b)) })
	for _, src := range srcs {
		age := ages[src]
		v.Canaries = append(v.Canaries, canaryAge{Source: cleanKey(src), Age: fmtDur(age.Round(time.Millisecond)), Stale: age > canaryStale})
	}
	v.Audit = h.pipe.LastAudit()
	if v.Audit != nil {
		for _, p := range v.Audit.Report.Producers {
			if p.Missing > 0 {
				v.Missing = append(v.Missing, p)
			}
		}
	}
	return v
}
