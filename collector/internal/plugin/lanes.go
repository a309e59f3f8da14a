package plugin

import (
	"fmt"
	"sync"
	"time"

	"github.com/agentobs/agentobs/internal/publish"
)

// lanes are the producers of one output's concurrent flushes. Each lane
// stamps its own producer id and sequence and serves one flush at a time.
//
// Why: the loss audit reports a gap below a producer's highest number as
// missing. With one sequence shared by Fluent Bit's workers, a crash while
// one worker's part was in flight, after another worker's later numbers
// were acknowledged, left a hole that Fluent Bit then filled under the next
// instance's producer id (it re-sends the chunk from its storage): every
// crash under load was reported as loss. A lane's flushes run one after the
// other and send their parts in order, so a crash leaves each lane's
// sequence a tail (its flush in flight), which the marks' holds keep out
// of the audit, never a hole.
//
// A chunk answered FLB_RETRY parks its lane until its retry (at most
// retryHoldFor): no other chunk stamps on it meanwhile, so its numbers stay
// the lane's tail. Fluent Bit sends new chunks as soon as Kafka is back but
// retries the failed ones seconds later; had those new chunks taken the
// lane's next numbers, a crash in between would leave the failed chunk's
// numbers a hole while the next instance re-sends it under its own id.
//
// Lane 0 is the output's own edge (producer id unchanged for Workers 0 and
// 1); lane k adds "/lane-k". A flush takes the first lane neither busy nor
// parked, a new one when there is none: there are as many lanes as flushes
// ever ran at once plus chunks awaiting their retry at once.
type lanes struct {
	base   *publish.Edge
	marker *publish.Marker

	mu   sync.Mutex
	cond *sync.Cond
	all  []*lane
}

// lane is one producer of an output: busy while a flush stamps with it,
// parked while awaiting > 0 chunks it stamped await their retry, until
// parkedUntil at the latest.
type lane struct {
	edge        *publish.Edge
	busy        bool
	awaiting    int
	parkedUntil time.Time
}

// newLanes makes the lanes of an output whose edge base the marker already
// tracks (lane 0).
func newLanes(base *publish.Edge, marker *publish.Marker) *lanes {
	ls := &lanes{base: base, marker: marker, all: []*lane{{edge: base}}}
	ls.cond = sync.NewCond(&ls.mu)
	return ls
}

// acquire returns a lane for one flush. A retried chunk asks for the lane
// that stamped its first attempt (its numbers belong to that producer) and
// waits while another flush uses it; any other flush takes the first free
// lane, or a new one.
func (ls *lanes) acquire(want *lane) *lane {
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
	l := &lane{edge: ls.base.WithProducer(fmt.Sprintf("%s/lane-%d", ls.base.ProducerID(), len(ls.all)), 0), busy: true}
	ls.marker.Track(l.edge)
	ls.all = append(ls.all, l)
	return l
}

// release hands l back after its flush returned.
func (ls *lanes) release(l *lane) {
	ls.mu.Lock()
	l.busy = false
	ls.mu.Unlock()
	ls.cond.Broadcast()
}

// park keeps l from new chunks, and its marks below seq, for at most d: a
// chunk it stamped from seq on awaits its retry. done ends the park (once):
// that chunk's retry took l, or its numbers were forgotten.
func (ls *lanes) park(l *lane, seq uint64, d time.Duration) (done func()) {
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

// end marks every lane as ended cleanly (the output closes): their next
// marks are final.
func (ls *lanes) end() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, l := range ls.all {
		ls.marker.End(l.edge)
	}
}
