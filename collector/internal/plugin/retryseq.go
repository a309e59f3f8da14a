package plugin

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/agentobs/agentobs/internal/publish"
)

// maxRetrySeqs bounds the sequence numbers kept for chunks awaiting a retry
// (8 bytes each: 8 MiB), far more than Fluent Bit's default buffers hold.
const maxRetrySeqs = 1 << 20

// retrySeqs remembers the sequence numbers a chunk was stamped with when
// its flush returned FLB_RETRY. Fluent Bit re-sends a retried chunk byte
// for byte (which is also why its records keep their event.ids), so the
// retry stamps the same numbers again: records of a failed attempt that
// Kafka never stored then leave no gap in the producer's sequence, which
// the audit would report as lost. Bounded by maxRetrySeqs, oldest chunk
// dropped first (its retry then gets new numbers and the audit may report
// the old ones missing); a chunk whose bytes changed gets new numbers too.
// The numbers belong to the lane that stamped them, kept with them: the
// retry stamps on that lane.
type retrySeqs struct {
	seed maphash.Seed

	mu    sync.Mutex
	byKey map[uint64]kept
	order []uint64 // keys, oldest first
	total int
}

func newRetrySeqs() *retrySeqs {
	return &retrySeqs{seed: maphash.MakeSeed(), byKey: map[uint64]kept{}}
}

// kept are a retried chunk's numbers, the lane whose they are, and done,
// which ends the lane's park (publish.Lanes.Park); all zero when nothing was kept.
type kept struct {
	lane *publish.Lane
	seqs []uint64
	done func()
}

// retryHoldFor bounds how long a chunk awaiting its retry keeps its lane
// parked and the lane's marks below its numbers. Fluent Bit's retries of one chunk are at most
// scheduler.cap apart (2 000 s by default), so an outage of up to an hour
// with a crash in it is no false loss report; a chunk Fluent Bit gave up
// on (Retry_Limit) shows as missing an hour later at the latest.
const retryHoldFor = time.Hour

func (r *retrySeqs) key(chunk []byte, tag string) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(tag)
	h.WriteByte(0)
	h.Write(chunk)
	return h.Sum64()
}

// take returns and forgets what was kept for this chunk (zero if nothing);
// the caller calls its done once its own flush holds the lane and the
// marks. Hashing is skipped while nothing awaits a retry, the usual case.
func (r *retrySeqs) take(chunk []byte, tag string) kept {
	r.mu.Lock()
	empty := len(r.byKey) == 0
	r.mu.Unlock()
	if empty {
		return kept{}
	}
	k := r.key(chunk, tag)
	r.mu.Lock()
	defer r.mu.Unlock()
	got, ok := r.byKey[k]
	if ok {
		delete(r.byKey, k)
		r.total -= len(got.seqs)
	}
	return got
}

// keep remembers seqs (copied), stamped by l, for the retry of this chunk,
// with done (called here when the numbers are dropped instead).
func (r *retrySeqs) keep(chunk []byte, tag string, l *publish.Lane, seqs []uint64, done func()) {
	if len(seqs) == 0 || len(seqs) > maxRetrySeqs {
		done()
		return
	}
	k := r.key(chunk, tag)
	own := kept{lane: l, seqs: append([]uint64(nil), seqs...), done: done}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.byKey[k]; ok {
		r.total -= len(old.seqs)
		old.done()
	} else {
		r.order = append(r.order, k)
	}
	r.byKey[k] = own
	r.total += len(own.seqs)
	for r.total > maxRetrySeqs && len(r.order) > 0 {
		oldest := r.order[0]
		r.order = r.order[1:]
		if s, ok := r.byKey[oldest]; ok {
			r.total -= len(s.seqs)
			s.done()
			delete(r.byKey, oldest)
		}
	}
	// order holds keys already taken too; compact it when it outgrows the map.
	if len(r.order) > 2*len(r.byKey)+64 {
		live := r.order[:0]
		for _, k := range r.order {
			if _, ok := r.byKey[k]; ok {
				live = append(live, k)
			}
		}
		r.order = live
	}
}
