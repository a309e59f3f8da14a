package plugin

import (
	"fmt"
	"sync"

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
// Lane 0 is the output's own edge (producer id unchanged for Workers 0 and
// 1); lane k adds "/lane-k". A flush takes the first free lane, a new one
// when all are busy: there are as many lanes as flushes ever ran at once.
type lanes struct {
	base   *publish.Edge
	marker *publish.Marker

	mu   sync.Mutex
	cond *sync.Cond
	all  []*lane
}

// lane is one producer of an output; busy while a flush stamps with it.
type lane struct {
	edge *publish.Edge
	busy bool
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
	for _, l := range ls.all {
		if !l.busy {
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

// end marks every lane as ended cleanly (the output closes): their next
// marks are final.
func (ls *lanes) end() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, l := range ls.all {
		ls.marker.End(l.edge)
	}
}
