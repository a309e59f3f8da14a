// Package queue is the bounded hand-over between the shipper's readers
// (files, stdin, HTTP) and the Kafka producer: readers build batches of
// finished Kafka messages, the queue holds at most queue.size of them, and
// senders produce each batch synchronously and report the outcome through
// the batch's Done callback. A full queue blocks file and stdin readers
// (they stop reading) and makes HTTP answer 503, so memory stays bounded
// when Kafka is slow or down.
package queue

import (
	"context"
	"errors"
	"sync"
	"time"

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
}

// ErrClosed is returned by Put after Close.
var ErrClosed = errors.New("queue closed")

// Queue is a bounded queue of batches split into lanes, one per sender.
type Queue struct {
	lanes  []chan *Batch
	depth  prometheus.Gauge
	mu     sync.RWMutex
	closed bool
}

// NewQueue returns a queue holding at most size batches over lanes lanes.
func NewQueue(size, lanes int, depth prometheus.Gauge) *Queue {
	if lanes < 1 {
		lanes = 1
	}
	per := max(1, size/lanes)
	q := &Queue{lanes: make([]chan *Batch, lanes), depth: depth}
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
	select {
	case q.lanes[b.Lane%uint64(len(q.lanes))] <- b:
		if q.depth != nil {
			q.depth.Inc()
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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
