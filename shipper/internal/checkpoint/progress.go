package checkpoint

import "sync"

// Progress tracks, for one file generation, which batches Kafka has
// acknowledged, and yields the highest position such that the batch ending
// there AND every batch before it were acknowledged. Batches may complete
// out of order (several senders, retries); the checkpoint must never jump
// over an unacknowledged one, or a crash would lose it.
type Progress struct {
	mu      sync.Mutex
	pending []*Mark // in read order
	offset  int64
	records uint64
}

// Mark is the end of one batch: the position to resume from once it and
// everything before it are delivered.
type Mark struct {
	Offset  int64
	Records uint64
	done    bool
}

// NewProgress starts at the checkpointed position.
func NewProgress(offset int64, records uint64) *Progress {
	return &Progress{offset: offset, records: records}
}

// Add registers the next batch, in read order, ending at offset after
// records records of this generation.
func (p *Progress) Add(offset int64, records uint64) *Mark {
	m := &Mark{Offset: offset, Records: records}
	p.mu.Lock()
	p.pending = append(p.pending, m)
	p.mu.Unlock()
	return m
}

// Done marks m acknowledged and returns the contiguous acknowledged
// position; advanced reports whether it moved.
func (p *Progress) Done(m *Mark) (offset int64, records uint64, advanced bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m.done = true
	n := 0
	for n < len(p.pending) && p.pending[n].done {
		p.offset, p.records = p.pending[n].Offset, p.pending[n].Records
		n++
	}
	if n > 0 {
		p.pending = append(p.pending[:0], p.pending[n:]...)
	}
	return p.offset, p.records, n > 0
}

// Acked returns the contiguous acknowledged position and whether batches
// are still outstanding.
func (p *Progress) Acked() (offset int64, records uint64, outstanding int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.offset, p.records, len(p.pending)
}
