package publish

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/record"
	"github.com/segmentio/kafka-go"
)

type markSink struct {
	mu   sync.Mutex
	msgs []kafka.Message
}

func (s *markSink) Send(_ context.Context, msgs []kafka.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, msgs...)
	return nil
}

func (s *markSink) marks(t *testing.T) []Mark {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Mark
	for _, m := range s.msgs {
		mk, err := ParseMark(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, mk)
	}
	s.msgs = nil
	return out
}

// Periodic marks lag one interval (records stamped since may still be
// re-sent under another producer id after a crash); a stopping flush names
// the current sequence; an unmoved producer sends nothing; an ended one
// sends a final mark and is forgotten.
func TestMarkerLagsOneIntervalAndEnds(t *testing.T) {
	sink := &markSink{}
	m, e, stamp := trackedEdge(t, sink, 5) // resumed: first seq 6
	f := func(stopping bool, want ...Mark) {
		t.Helper()
		if err := m.Flush(context.Background(), stopping); err != nil {
			t.Fatal(err)
		}
		got := sink.marks(t)
		if len(got) != len(want) {
			t.Fatalf("marks %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i].FirstSeq != want[i].FirstSeq || got[i].LastSeq != want[i].LastSeq || got[i].Final != want[i].Final {
				t.Fatalf("mark %+v, want %+v", got[i], want[i])
			}
		}
	}
	stamp(3)                                 // seq 8
	f(false)                                 // first tick: remembers 8, nothing older to name
	stamp(2)                                 // seq 10
	f(false, Mark{FirstSeq: 6, LastSeq: 8})  // names the previous tick's 8
	f(false, Mark{FirstSeq: 6, LastSeq: 10}) // and now 10
	f(false)                                 // unmoved: nothing
	stamp(1)                                 // seq 11
	f(true, Mark{FirstSeq: 6, LastSeq: 11})  // stopping: current
	m.End(e)
	f(false, Mark{FirstSeq: 6, LastSeq: 11, Final: true})
	f(true) // forgotten
}

// A batch in flight holds the marks below its first sequence number, even
// one produce call slower than the interval and at a stopping flush: a
// crash now would have its records re-sent under another producer id.
// Marks never go back below what was published.
func TestMarkerHoldsInFlightBatches(t *testing.T) {
	sink := &markSink{}
	m, e, stamp := trackedEdge(t, sink, 0)
	last := func(stopping bool) uint64 {
		t.Helper()
		if err := m.Flush(context.Background(), stopping); err != nil {
			t.Fatal(err)
		}
		got := sink.marks(t)
		if len(got) == 0 {
			return 0
		}
		return got[len(got)-1].LastSeq
	}
	stamp(5) // 1..5 answered
	release := m.Hold(e, e.Seq()+1)
	stamp(5)    // 6..10 in flight
	last(false) // first tick
	if got := last(false); got != 5 {
		t.Fatalf("periodic mark %d with 6..10 in flight, want 5", got)
	}
	if got := last(true); got != 5 { // stopping names the current sequence, but not past a hold
		t.Fatalf("stopping mark %d with 6..10 in flight, want 5", got)
	}
	older := m.Hold(e, 3) // a retried batch's kept numbers 3..4: below what was published
	release()
	release() // twice: no effect
	if got := last(true); got != 5 {
		t.Fatalf("mark %d while the retried 3..4 are held, want 5 (never back below a published mark)", got)
	}
	older()
	if got := last(true); got != 10 {
		t.Fatalf("mark %d after every batch was answered, want 10", got)
	}
	// A batch awaiting its retry is held for a bounded time: after it, a
	// mark names it (a batch given up on is not hidden at the tail).
	stamp(5) // 11..15 failed, the retry awaited
	lapse := m.HoldFor(e, 11, 50*time.Millisecond)
	defer lapse()
	if got := last(true); got != 10 {
		t.Fatalf("mark %d while 11..15 await their retry, want 10", got)
	}
	time.Sleep(100 * time.Millisecond)
	if got := last(true); got != 15 {
		t.Fatalf("mark %d after the hold on 11..15 lapsed, want 15", got)
	}
}

// A refusal rides on the producer's next mark even when its sequence did
// not move, once: an acknowledged mark clears it, a failed one keeps it.
func TestMarkerCarriesRefusalsOnce(t *testing.T) {
	sink := &failingSink{}
	m, e, stamp := trackedEdge(t, sink, 0)
	stamp(10)
	ctx := context.Background()
	for range 2 { // the second names 10: the sequence stops moving
		if err := m.Flush(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := sink.marks(t); len(got) != 1 || got[0].LastSeq != 10 {
		t.Fatalf("marks %+v, want one naming 10", got)
	}
	m.Refuse(e, []SeqRange{{4, 6}})
	sink.fail.Store(true)
	if err := m.Flush(ctx, false); err == nil {
		t.Fatal("a failed send: want an error")
	}
	sink.fail.Store(false)
	m.Refuse(e, []SeqRange{{7, 7}, {9, 9}}) // 7 joins 4-6
	got := sink.marks(t)
	if len(got) != 0 {
		t.Fatalf("failed send recorded %v", got)
	}
	if err := m.Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	got = sink.marks(t)
	if len(got) != 1 || len(got[0].Refused) != 2 || got[0].Refused[0] != (SeqRange{4, 7}) || got[0].Refused[1] != (SeqRange{9, 9}) {
		t.Fatalf("marks %+v, want one carrying 4-7 and 9", got)
	}
	if err := m.Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got = sink.marks(t); len(got) != 0 {
		t.Fatalf("an unmoved producer without new refusals sent %+v", got)
	}
}

// failingSink is a markSink whose Send fails while fail is set.
type failingSink struct {
	markSink
	fail atomic.Bool
}

func (s *failingSink) Send(ctx context.Context, msgs []kafka.Message) error {
	if s.fail.Load() {
		return errors.New("broker down")
	}
	return s.markSink.Send(ctx, msgs)
}

// trackedEdge is a marker sending to sink and producer "p" resumed after
// seq start, tracked by it; stamp stamps n records.
func trackedEdge(t *testing.T, sink Sender, start uint64) (*Marker, *Edge, func(n int)) {
	t.Helper()
	m, err := NewMarker(MarksConfig{Topic: "m", Interval: 0}, "test", sink, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := New(DefaultConfig(), "test", "base", 0, nil)
	e := base.WithProducer("p", start)
	m.Track(e)
	return m, e, func(n int) {
		for range n {
			e.Message(&record.Record{Message: "x", EventID: "id"}, nil)
		}
	}
}

// A mark carries at most refusedPerMark ranges; the rest ride on the next,
// and an ended producer's mark is final only with its last refusals.
func TestMarkerSplitsLongRefusals(t *testing.T) {
	sink := &markSink{}
	m, e, stamp := trackedEdge(t, sink, 0)
	stamp(2 * (refusedPerMark + 1))
	for i := range uint64(refusedPerMark + 1) {
		m.Refuse(e, []SeqRange{{2*i + 1, 2*i + 1}}) // every other number: no joins
	}
	m.End(e)
	var sizes []int
	var final []bool
	for range 3 {
		if err := m.Flush(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		for _, mk := range sink.marks(t) {
			sizes, final = append(sizes, len(mk.Refused)), append(final, mk.Final)
		}
	}
	if len(sizes) != 2 || sizes[0] != refusedPerMark || sizes[1] != 1 || final[0] || !final[1] {
		t.Fatalf("refused per mark %v, final %v; want [%d 1], [false true], then nothing", sizes, final, refusedPerMark)
	}
}

// A refusal is published right away, not an interval later, and a failed
// publish (Kafka down) is tried again within seconds: an audit meanwhile
// would count its numbers missing.
func TestMarkerPublishesRefusalsAtOnce(t *testing.T) {
	sink := &failingSink{}
	sink.fail.Store(true)
	m, err := NewMarker(MarksConfig{Topic: "m", Interval: time.Hour}, "test", sink, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := New(DefaultConfig(), "test", "base", 0, nil)
	e := base.WithProducer("p", 0)
	m.Track(e)
	e.Message(&record.Record{Message: "x", EventID: "id"}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	m.Refuse(e, []SeqRange{{1, 1}})
	time.Sleep(200 * time.Millisecond) // the first try fails
	sink.fail.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if got := sink.marks(t); len(got) == 1 && len(got[0].Refused) == 1 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no mark carried the refusal within 5s of Kafka's return (the interval is an hour)")
}

// sendHookSink is a markSink that runs during before each Send returns.
type sendHookSink struct {
	markSink
	during func()
}

func (s *sendHookSink) Send(ctx context.Context, msgs []kafka.Message) error {
	if s.during != nil {
		s.during()
	}
	return s.markSink.Send(ctx, msgs)
}

// A refusal noted while a mark is being sent, next to a range that mark
// carries, is not joined to that range: the acknowledged mark did not
// carry it, and it rides on the next (the chaos scenario
// shipper-http-broker-outage lost one request's note per lane so).
func TestMarkerKeepsRefusalsNotedWhileSending(t *testing.T) {
	sink := &sendHookSink{}
	m, e, stamp := trackedEdge(t, sink, 0)
	stamp(20)
	m.Refuse(e, []SeqRange{{1, 10}})
	sink.during = func() { m.Refuse(e, []SeqRange{{11, 20}}) }
	if err := m.Flush(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	sink.during = nil
	if err := m.Flush(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	var got []SeqRange
	for _, mk := range sink.marks(t) {
		got = append(got, mk.Refused...)
	}
	if len(got) != 2 || got[0] != (SeqRange{1, 10}) || got[1] != (SeqRange{11, 20}) {
		t.Fatalf("refusals published %v, want 1-10 then 11-20", got)
	}
}
