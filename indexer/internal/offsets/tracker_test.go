package offsets

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

func commits(t *Tracker) map[Key]int64 {
	m := map[Key]int64{}
	for _, c := range t.Committable() {
		m[c.Key] = c.Offset
	}
	return m
}

func TestTrackerContiguousOutOfOrder(t *testing.T) {
	a, b := Key{"t", 0}, Key{"t", 1}
	tr := New()
	for _, o := range []int64{10, 11, 13, 14} { // 12 is a gap (compaction)
		tr.Fetched(a, o)
	}
	tr.Fetched(b, 0)
	tr.Done(a, 11)
	tr.Done(a, 14)
	if got := commits(tr); len(got) != 0 {
		t.Fatalf("nothing contiguous yet, got %v", got)
	}
	tr.Done(a, 10)
	if got, want := commits(tr), map[Key]int64{a: 11}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	tr.Done(a, 13)
	tr.Done(b, 0)
	if got, want := commits(tr), map[Key]int64{a: 14, b: 0}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	if got := commits(tr); len(got) != 0 {
		t.Fatalf("no movement, got %v", got)
	}
	if tr.Pending() != 0 {
		t.Fatalf("pending %d", tr.Pending())
	}
}

func TestTrackerRandomAcks(t *testing.T) {
	k := Key{"t", 3}
	tr := New()
	const n = 5000
	offs := make([]int64, n)
	for i := range offs {
		offs[i] = int64(i * 2)
		tr.Fetched(k, offs[i])
	}
	perm := rand.Perm(n)
	max := int64(-1)
	doneSet := map[int64]bool{}
	for _, i := range perm {
		tr.Done(k, offs[i])
		doneSet[offs[i]] = true
		for _, c := range tr.Committable() {
			if c.Offset < max {
				t.Fatalf("commit went backwards: %d < %d", c.Offset, max)
			}
			for o := int64(0); o <= c.Offset; o += 2 {
				if !doneSet[o] {
					t.Fatalf("commit %d covers unfinished %d", c.Offset, o)
				}
			}
			max = c.Offset
		}
	}
	if max != offs[n-1] {
		t.Fatalf("final commit %d want %d", max, offs[n-1])
	}
}

func TestTrackerRebalanceRestart(t *testing.T) {
	k := Key{"t", 0}
	tr := New()
	if !tr.Fetched(k, 5) || tr.Fetched(k, 6) {
		t.Fatal("only the first fetch on a partition starts it")
	}
	tr.Done(k, 5)
	_ = tr.Committable()
	if got := tr.Ready(); !reflect.DeepEqual(got, []Commit{{k, 5}}) {
		t.Fatalf("ready after a commit: %v", got)
	}
	// Partition revoked and re-assigned: fetching restarts at 6.
	if !tr.Fetched(k, 6) || tr.Fetched(k, 7) {
		t.Fatal("a restart at an offset already fetched starts the partition again")
	}
	if got := tr.Ready(); len(got) != 0 {
		t.Fatalf("ready after a restart: %v", got)
	}
	tr.Done(k, 7)
	tr.Done(k, 6)
	if got, want := commits(tr), map[Key]int64{k: 7}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	tr.Fetched(k, 8)
	tr.Uncommitted([]Commit{{k, 7}})
	if got, want := commits(tr), map[Key]int64{k: 7}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after failed commit got %v want %v", got, want)
	}
}

// BenchmarkTrackerBatches: 20 000 offsets in flight, acked a batch of 500 at
// a time in fetch order with the batches shuffled pairwise, as bulk workers
// finish them; reports the cost per acked offset.
func BenchmarkTrackerBatches(b *testing.B) {
	const inFlight, batch = 20000, 500
	k := Key{Topic: "t", Partition: 0}
	b.ReportAllocs()
	for b.Loop() {
		tr := New()
		for o := int64(0); o < inFlight; o++ {
			tr.Fetched(k, o)
		}
		for start := int64(0); start < inFlight; start += 2 * batch {
			for _, s := range []int64{start + batch, start} {
				for o := s; o < s+batch && o < inFlight; o++ {
					tr.Done(k, o)
				}
			}
		}
		if tr.Pending() != 0 {
			b.Fatalf("pending %d", tr.Pending())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*inFlight), "ns/ack")
}
