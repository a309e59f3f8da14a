package plugin

import (
	"bytes"
	"regexp"
	"testing"
	"time"
	"unsafe"

	"github.com/segmentio/kafka-go"
)

// seqField is the one field that differs between two builds of a chunk:
// each build takes new producer sequence numbers.
var seqField = regexp.MustCompile(`"agentobs.producer.seq":[0-9]+`)

// buildAll builds a chunk of one part and returns its messages (valid
// until the next build).
func buildAll(t *testing.T, o *Output, st *flushState, c []byte) ([]kafka.Message, []byte) {
	t.Helper()
	var msgs []kafka.Message
	parts := 0
	_, bad, ok := o.build(st, c, "app", func(m []kafka.Message) bool { msgs = m; parts++; return true })
	if !ok || parts != 1 {
		t.Fatalf("built in %d parts (delivered %v), want one", parts, ok)
	}
	return msgs, bad
}

// The arena of a flush is sized by the last chunk's ratio of JSON to
// MessagePack: after the first chunk every record is encoded into it, it
// is at most half again the encoded bytes (a fixed twice the MessagePack
// was two thirds again on this agent line), and the values are the
// same bytes whether they were written into the arena or beside it.
func TestArenaFitsChunk(t *testing.T) {
	o := newTestOutput(t, &fakeSender{}, nil)
	c := parsedChunk(300, time.Unix(1700000000, 0))
	st := testFlushState(o)
	var first [][]byte
	for i := range 3 {
		msgs, bad := buildAll(t, o, st, c)
		if bad != nil {
			t.Fatalf("undecodable: %q", bad)
		}
		encoded, inArena := 0, 0
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(st.arena[:1])))
		hi := lo + uintptr(cap(st.arena))
		for j, m := range msgs {
			encoded += len(m.Value)
			v := seqField.ReplaceAll(m.Value, nil)
			if p := uintptr(unsafe.Pointer(unsafe.SliceData(m.Value))); p >= lo && p < hi {
				inArena++
			}
			if i == 0 {
				first = append(first, v)
			} else if j >= len(first) || !bytes.Equal(v, first[j]) {
				t.Fatalf("chunk %d, record %d: value differs from the first build:\n%s", i, j, m.Value)
			}
		}
		if i == 0 {
			continue
		}
		if inArena != len(msgs) {
			t.Errorf("chunk %d: %d of %d records in the arena", i, inArena, len(msgs))
		}
		if limit := encoded*3/2 + 4096; cap(st.arena) > limit {
			t.Errorf("chunk %d: arena of %d bytes for %d encoded bytes (want at most %d)", i, cap(st.arena), encoded, limit)
		}
		st.msgs, st.seqs = st.msgs[:0], st.seqs[:0]
	}
}

// An arena is kept while chunk sizes swing (a small chunk between large
// ones does not make a new one, nor does the large one after it), and
// given back after arenaShrinkAfter small chunks in a row.
func TestArenaKeptAcrossSwings(t *testing.T) {
	o := newTestOutput(t, &fakeSender{}, nil)
	big, small := parsedChunk(300, time.Unix(1700000000, 0)), parsedChunk(15, time.Unix(1700000000, 0))
	st := testFlushState(o)
	build := func(c []byte) {
		t.Helper()
		if _, bad := buildAll(t, o, st, c); bad != nil {
			t.Fatalf("undecodable: %q", bad)
		}
		st.msgs, st.seqs = st.msgs[:0], st.seqs[:0]
	}
	build(big)
	build(big) // sized by the first chunk's ratio
	arena := unsafe.SliceData(st.arena[:1])
	for i := range 3 * arenaShrinkAfter {
		c := big
		if i%2 == 0 {
			c = small
		}
		build(c)
		if unsafe.SliceData(st.arena[:1]) != arena {
			t.Fatalf("chunk %d of a swing: a new arena", i)
		}
	}
	for i := range arenaShrinkAfter {
		build(small)
		if shrunk := unsafe.SliceData(st.arena[:1]) != arena; shrunk != (i == arenaShrinkAfter-1) {
			t.Fatalf("small chunk %d in a row: shrunk %v, want it only at the %dth", i+1, shrunk, arenaShrinkAfter)
		}
	}
}

// testFlushState is the state of a flush on lane 0, for tests calling
// build without Flush.
func testFlushState(o *Output) *flushState {
	st := newFlushState(o.cfg.Parse)
	st.lane = o.lanes.Acquire(nil)
	return st
}
