// Package queue is the bounded hand-over between the shipper's readers
// (files, stdin, HTTP) and the Kafka producer: readers build batches of
// finished Kafka messages, the queue holds at most queue.size of them, and
// senders produce each batch synchronously and report the outcome through
// the batch's Done callback. A full queue blocks file and stdin readers
// (they stop reading) and makes HTTP answer 503, so memory stays bounded
// when Kafka is slow or down.
//
// The bound is also in bytes: every batch holds its messages' bytes from
// Put until Kafka acknowledged it (queued, being produced, retried), and a
// Put that would take the total over queue.max-bytes waits, so what the
// shipper holds for Kafka never exceeds it whatever the record sizes (one
// batch is always let in when nothing is held, so a batch larger than the
// bound still moves).
package queue

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/agentobs/agentobs/internal/publish"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Batch is a group of messages from one source, acknowledged together.
type Batch struct {
	// Msgs may be empty: a batch of only empty lines still moves a file's
	// checkpoint, in order with the batches around it.
	Msgs []kafka.Message
	// Lane keeps batches of one source on one sender, so they reach Kafka
	// in the order they were read.
	Lane uint64
	// Done is called exactly once: with nil when Kafka acknowledged every
	// message (or its dead letter), or with the error that made the sender
	// give up (shutdown deadline).
	Done func(err error)

	bytes int64 // held against the byte bound from Put until Done

	// mem is the memory Msgs live in, when a Builder made them (Take):
	// the sender gives it, and Msgs, to later batches once Kafka
	// acknowledged every message.
	mem publish.Blocks
}

// freeMsgs holds the message slices of acknowledged batches for the next
// batches a Builder makes.
var freeMsgs = publish.NewFreeList[[]kafka.Message](publish.FreeBlocks)

// recycle gives a Builder's batch memory back after Kafka acknowledged
// it: no message of it is used any more (the producer's Send returned
// for all of them). Batches that failed keep theirs: a Send that gave up
// on cancellation may still be encoding them.
func (b *Batch) recycle() {
	if b.mem.Empty() { // not a Builder's, or recycled already
		return
	}
	b.mem.Release()
	msgs := b.Msgs[:cap(b.Msgs)]
	clear(msgs)
	freeMsgs.Put(msgs[:0])
}

// messageOverhead is what one kafka.Message costs beyond its key, value
// and header bytes: the struct, its header slice and the allocations'
// rounding (measured with the heap profile: about 250 bytes per record).
const messageOverhead = 256

// Size is the memory b's messages hold, as the byte bound counts it.
func (b *Batch) Size() int64 {
	n := int64(len(b.Msgs)) * messageOverhead
	for i := range b.Msgs {
		m := &b.Msgs[i]
		n += int64(len(m.Key) + len(m.Value))
		for _, h := range m.Headers {
			n += int64(len(h.Key) + len(h.Value))
		}
	}
	return n
}

// ErrClosed is returned by Put after Close.
var ErrClosed = errors.New("queue closed")

// Queue is a bounded queue of batches split into lanes, one per sender.
type Queue struct {
	lanes  []chan *Batch
	depth  prometheus.Gauge
	mu     sync.RWMutex
	closed bool

	maxBytes int64            // 0: no byte bound
	bytesG   prometheus.Gauge // nil: not exported
	bmu      sync.Mutex
	held     int64         // bytes of batches between Put and Done
	freed    chan struct{} // closed (and replaced) when bytes are released
}

// NewQueue returns a queue holding at most size batches over lanes lanes.
func NewQueue(size, lanes int, depth prometheus.Gauge) *Queue {
	return NewBoundedQueue(size, lanes, 0, depth, nil)
}

// NewBoundedQueue is NewQueue that also holds at most maxBytes (0: no
// bound) of batches not yet acknowledged; held reports them.
func NewBoundedQueue(size, lanes int, maxBytes int64, depth, held prometheus.Gauge) *Queue {
	if lanes < 1 {
		lanes = 1
	}
	per := max(1, size/lanes)
	q := &Queue{lanes: make([]chan *Batch, lanes), depth: depth, maxBytes: maxBytes, bytesG: held, freed: make(chan struct{})}
	for i := range q.lanes {
		q.lanes[i] = make(chan *Batch, per)
	}
	return q
}

// Put enqueues b, waiting while the queue is full: the backpressure of
// file and stdin readers.
func (q *Queue) Put(ctx context.Context, b *Batch) error {
	return q.put(ctx, b)
}

// TryPut enqueues b if room frees up within wait; false means the queue is
// full (HTTP answers 503) or closed.
func (q *Queue) TryPut(b *Batch, wait time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return q.put(ctx, b) == nil
}

func (q *Queue) put(ctx context.Context, b *Batch) error {
	// The read lock is held while waiting so Close cannot close a lane under
	// a blocked sender; Close takes the write lock only after callers left.
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrClosed
	}
	if err := q.reserve(ctx, b); err != nil {
		return err
	}
	select {
	case q.lanes[b.Lane%uint64(len(q.lanes))] <- b:
		if q.depth != nil {
			q.depth.Inc()
		}
		return nil
	case <-ctx.Done():
		q.release(b)
		return ctx.Err()
	}
}

// reserve waits until b's bytes fit under the bound (or nothing is held)
// and holds them.
func (q *Queue) reserve(ctx context.Context, b *Batch) error {
	if q.maxBytes <= 0 {
		return nil
	}
	n := b.Size()
	for {
		q.bmu.Lock()
		if q.held == 0 || q.held+n <= q.maxBytes {
			q.held += n
			b.bytes = n
			if q.bytesG != nil {
				q.bytesG.Set(float64(q.held))
			}
			q.bmu.Unlock()
			return nil
		}
		freed := q.freed
		q.bmu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release gives back what b held (after Kafka's answer) and wakes the
// readers waiting for room.
func (q *Queue) release(b *Batch) {
	if b.bytes == 0 {
		return
	}
	q.bmu.Lock()
	q.held -= b.bytes
	b.bytes = 0
	if q.bytesG != nil {
		q.bytesG.Set(float64(q.held))
	}
	close(q.freed)
	q.freed = make(chan struct{})
	q.bmu.Unlock()
}

// HeldBytes is what batches between Put and their acknowledgement hold.
func (q *Queue) HeldBytes() int64 {
	q.bmu.Lock()
	defer q.bmu.Unlock()
	return q.held
}

// Close stops accepting batches; senders drain what is queued and stop.
// Callers must have stopped calling Put (it would block Close otherwise).
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	for _, l := range q.lanes {
		close(l)
	}
}

// Lane returns the channel sender i reads.
func (q *Queue) lane(i int) <-chan *Batch { return q.lanes[i] }

// Lanes is the number of lanes (senders).
func (q *Queue) Lanes() int { return len(q.lanes) }

func (q *Queue) took() {
	if q.depth != nil {
		q.depth.Dec()
	}
}
