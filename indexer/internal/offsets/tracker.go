// Package offsets tracks, per partition, which fetched Kafka offsets the
// indexer has finished (document acknowledged by Elasticsearch, or
// dead-lettered) and which offset may be committed: the highest offset such
// that it and every offset fetched before it on that partition are done.
//
// Acks arrive out of order (several bulk batches are in flight), and fetched
// offsets need not be contiguous (compaction, transaction markers), so the
// tracker keeps the fetch order itself rather than assuming offset+1.
package offsets

import "sync"

// Key names a partition.
type Key struct {
	Topic     string
	Partition int
}

type partition struct {
	pending   []int64        // fetched offsets in fetch order; pending[head:] are not yet committable
	head      int            // first not-yet-committable index (a moving head, so acks cost O(1) amortised)
	done      map[int64]bool // acked offsets still in pending
	last      int64          // last fetched offset
	committed int64          // highest committable offset handed out, -1 none
	ready     int64          // highest committable offset, -1 none
}

// Tracker is safe for concurrent use.
type Tracker struct {
	mu    sync.Mutex
	parts map[Key]*partition
	n     int // total pending offsets, for backpressure
}

// New returns an empty tracker.
func New() *Tracker { return &Tracker{parts: map[Key]*partition{}} }

// Fetched records that offset was fetched on k. Fetches per partition must
// be reported in fetch order. An offset not above the last one fetched means
// the partition was re-assigned and fetching restarted from the committed
// position (rebalance): the old pending list is dropped; late acks for it are
// ignored, and the re-fetched copies are acked on their own. Fetched reports
// whether fetching (re)started on k with this offset: the first offset seen
// on k, or the first after such a restart.
func (t *Tracker) Fetched(k Key, offset int64) (started bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[k]
	if p == nil {
		p = &partition{done: map[int64]bool{}, last: -1, committed: -1, ready: -1}
		t.parts[k] = p
		started = true
	}
	if offset <= p.last {
		started = true
		t.n -= len(p.pending) - p.head
		p.pending, p.head = p.pending[:0], 0
		clear(p.done)
		p.committed, p.ready = -1, -1
	}
	p.last = offset
	p.pending = append(p.pending, offset)
	t.n++
	return started
}

// Done marks offset on k as finished and advances the committable position
// over every finished offset at the head of the fetch order.
func (t *Tracker) Done(k Key, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[k]
	if p == nil {
		return
	}
	p.done[offset] = true
	advanced := 0
	for p.head < len(p.pending) && p.done[p.pending[p.head]] {
		delete(p.done, p.pending[p.head])
		p.ready = p.pending[p.head]
		p.head++
		advanced++
	}
	if advanced == 0 {
		return
	}
	t.n -= advanced
	switch {
	case p.head == len(p.pending):
		p.pending, p.head = p.pending[:0], 0
	case p.head >= 1024 && 2*p.head >= len(p.pending):
		// Compact rarely: copying the tail on every advance made each ack
		// cost O(pending) (about a tenth of the indexer's CPU under load).
		n := copy(p.pending, p.pending[p.head:])
		p.pending, p.head = p.pending[:n], 0
	}
}

// Pending is the number of fetched offsets not yet committable.
func (t *Tracker) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// Commit is an offset to commit: the last finished message's offset (Kafka
// stores Offset+1 as the next position to read).
type Commit struct {
	Key
	Offset int64
}

// Committable returns, for every partition whose committable offset moved
// since the last call, the new position. The caller commits it; if the
// commit fails it calls Uncommitted so the offsets are offered again.
func (t *Tracker) Committable() []Commit {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Commit
	for k, p := range t.parts {
		if p.ready > p.committed {
			out = append(out, Commit{Key: k, Offset: p.ready})
			p.committed = p.ready
		}
	}
	return out
}

// Ready returns, for every partition, its highest committable offset (the
// last offset that, with every offset fetched before it, is finished),
// whether or not it was handed out by Committable; partitions with none are
// left out. It does not change what Committable returns.
func (t *Tracker) Ready() []Commit {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Commit, 0, len(t.parts))
	for k, p := range t.parts {
		if p.ready >= 0 {
			out = append(out, Commit{Key: k, Offset: p.ready})
		}
	}
	return out
}

// Uncommitted puts back commits that failed so the next Committable
// returns them again (unless newer ones replaced them).
func (t *Tracker) Uncommitted(cs []Commit) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range cs {
		if p := t.parts[c.Key]; p != nil && p.committed == c.Offset {
			p.committed = -1
		}
	}
}
