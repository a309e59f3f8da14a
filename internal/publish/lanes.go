package publish

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Lanes are the producers of a front door's concurrent batches: the
// plugin's concurrent flushes, the shipper's concurrent HTTP and OTLP
// requests. Each lane stamps its own producer id and sequence and serves
// one batch at a time.
//
// Why: the loss audit reports a gap below a producer's highest number as
// missing. With one sequence shared by concurrent batches, a crash while
// one batch was in flight, after another's later numbers were
// acknowledged, left a hole that the sender then filled under the next
// process's producer id (Fluent Bit re-sends the chunk from its storage, an
// HTTP client retries its request): every crash under load was reported as
// loss. A lane's batches run one after the other, so a crash leaves each
// lane's sequence a tail (its batch in flight), which the marks' holds
// keep out of the audit, never a hole.
//
// A chunk answered FLB_RETRY parks its lane until its retry (Park): no
// other chunk stamps on it meanwhile, so its numbers stay the lane's tail.
// Fluent Bit sends new chunks as soon as Kafka is back but retries the
// failed ones seconds later; had those new chunks taken the lane's next
// numbers, a crash in between would leave the failed chunk's numbers a hole
// while the next instance re-sends it under its own id.
//
// Lane 0 is the base edge (its producer id unchanged when batches never
// overlap); lane k adds "/lane-k". A batch takes the first lane neither
// busy nor parked, a new one when there is none: there are as many lanes as
// batches ever ran at once plus chunks awaiting their retry at once.
type Lanes struct {
	base   *Edge
	marker *Marker
	count  prometheus.Gauge // how many lanes

	mu   sync.Mutex
	cond *sync.Cond
	all  []*Lane
}

// Lane is one producer of a front door: busy while a batch stamps with it,
// parked while awaiting > 0 chunks it stamped await their retry, until
// parkedUntil at the latest.
type Lane struct {
	edge        *Edge
	busy        bool
	awaiting    int
	parkedUntil time.Time
}

// NewLanes makes the lanes of a front door whose edge base the marker
// already tracks (lane 0); count (nil: none) follows how many there are
// (NewLanesGauge).
func NewLanes(base *Edge, marker *Marker, count prometheus.Gauge) *Lanes {
	if count == nil {
		count = prometheus.NewGauge(prometheus.GaugeOpts{Name: "unregistered"})
	}
	count.Set(1)
	ls := &Lanes{base: base, marker: marker, count: count, all: []*Lane{{edge: base}}}
	ls.cond = sync.NewCond(&ls.mu)
	return ls
}

// Edge is the producer l stamps with.
func (l *Lane) Edge() *Edge { return l.edge }

// Acquire returns a lane for one batch. A retried chunk asks for the lane
// that stamped its first attempt (its numbers belong to that producer) and
// waits while another batch uses it; any other batch (want nil) takes the
// first free lane, or a new one.
func (ls *Lanes) Acquire(want *Lane) *Lane {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if want != nil {
		for want.busy {
			ls.cond.Wait()
		}
		want.busy = true
		return want
	}
	now := time.Now()
	for _, l := range ls.all {
		if !l.busy && (l.awaiting == 0 || now.After(l.parkedUntil)) {
			l.busy = true
			return l
		}
	}
	l := &Lane{edge: ls.base.WithProducer(fmt.Sprintf("%s/lane-%d", ls.base.ProducerID(), len(ls.all)), 0), busy: true}
	ls.marker.Track(l.edge)
	ls.all = append(ls.all, l)
	ls.count.Set(float64(len(ls.all)))
	return l
}

// Hold keeps l's marks below seq until release is called (Marker.Hold): the
// batch stamping on l now takes numbers from seq on.
func (ls *Lanes) Hold(l *Lane, seq uint64) (release func()) { return ls.marker.Hold(l.edge, seq) }

// Refuse notes numbers l stamped on records refused to their client
// (Marker.Refuse).
func (ls *Lanes) Refuse(l *Lane, seqs []SeqRange) { ls.marker.Refuse(l.edge, seqs) }

// Release hands l back after its batch was answered.
func (ls *Lanes) Release(l *Lane) {
	ls.mu.Lock()
	l.busy = false
	ls.mu.Unlock()
	ls.cond.Broadcast()
}

// Park keeps l from new chunks, and its marks below seq, for at most d: a
// chunk it stamped from seq on awaits its retry. done ends the park (once):
// that chunk's retry took l, or its numbers were forgotten.
func (ls *Lanes) Park(l *Lane, seq uint64, d time.Duration) (done func()) {
	unhold := ls.marker.HoldFor(l.edge, seq, d)
	ls.mu.Lock()
	l.awaiting++
	if until := time.Now().Add(d); until.After(l.parkedUntil) {
		l.parkedUntil = until
	}
	ls.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			unhold()
			ls.mu.Lock()
			l.awaiting--
			ls.mu.Unlock()
		})
	}
}

// NewLanesGauge is agentobs_<component>_producers, labelled by labels,
// registered on reg (nil: not registered): the shipper's and the
// collector's are made here, so they cannot drift.
func NewLanesGauge(reg prometheus.Registerer, component string, labels ...string) (*prometheus.GaugeVec, error) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "agentobs_" + component + "_producers",
		Help: "Producer ids (lanes) the concurrent batches stamp with, each a producer of its own in the loss audit: as many as batches ever ran at once, plus chunks awaiting their retry at once."}, labels)
	if reg != nil {
		if err := reg.Register(g); err != nil {
			return nil, fmt.Errorf("producers metric: %w", err)
		}
	}
	return g, nil
}

// Len is how many lanes there are.
func (ls *Lanes) Len() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return len(ls.all)
}

// End marks every lane as ended cleanly (the front door closes): their
// next marks are final.
func (ls *Lanes) End() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, l := range ls.all {
		ls.marker.End(l.edge)
	}
}
