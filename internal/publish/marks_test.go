package publish

import (
	"context"
	"log/slog"
	"sync"
	"testing"

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
	m, err := NewMarker(MarksConfig{Topic: "m", Interval: 0}, "test", sink, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := New(DefaultConfig(), "test", "base", 0, nil)
	e := base.WithProducer("p", 5) // resumed: first seq 6
	m.Track(e)
	stamp := func(n int) {
		for range n {
			e.Message(&record.Record{Message: "x", EventID: "id"}, nil)
		}
	}
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
