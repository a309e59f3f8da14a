package queue

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// The byte bound: a Put that would pass it waits until a batch is
// released; a batch larger than the bound still moves when nothing else
// is held (it would wait forever otherwise).
func TestByteBound(t *testing.T) {
	batch := func(n int) *Batch { return &Batch{Msgs: []kafka.Message{{Value: make([]byte, n-messageOverhead)}}} }
	q := NewBoundedQueue(8, 1, 1000, nil, nil)
	a, b := batch(600), batch(600)
	if err := q.Put(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := q.Put(ctx, b); err == nil {
		t.Fatalf("second batch let in over the bound: %d held", q.HeldBytes())
	}
	<-q.lane(0)
	q.release(a)
	if err := q.Put(context.Background(), b); err != nil || q.HeldBytes() != 600 {
		t.Fatalf("after a release: %v, %d held", err, q.HeldBytes())
	}
	<-q.lane(0)
	q.release(b)
	big := batch(5000)
	if err := q.Put(context.Background(), big); err != nil || q.HeldBytes() != 5000 {
		t.Fatalf("an oversized batch on an empty queue: %v, %d held", err, q.HeldBytes())
	}
}
