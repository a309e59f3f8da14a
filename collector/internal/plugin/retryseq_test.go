package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"syscall"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
)

func seqsOf(t *testing.T, msgs []kafka.Message) []uint64 {
	t.Helper()
	var out []uint64
	for _, m := range msgs {
		var doc map[string]any
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatal(err)
		}
		n, ok := doc[record.FieldProducerSeq].(float64)
		if !ok {
			t.Fatalf("no %s in %s", record.FieldProducerSeq, m.Value)
		}
		out = append(out, uint64(n))
	}
	return out
}

// TestRetryKeepsSequence: a chunk Fluent Bit retries after FLB_RETRY is
// stamped with the sequence numbers of its first attempt (else the records
// of that attempt Kafka never stored are gaps the audit reports as lost),
// while other chunks, and a retried chunk after a success, get new ones.
func TestRetryKeepsSequence(t *testing.T) {
	refused := fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
	var sent [][]uint64 // read at Send: the values live in a reused arena
	s := &fakeSender{reply: func(call int, msgs []kafka.Message) error {
		sent = append(sent, seqsOf(t, msgs))
		if call == 0 || call == 2 { // the first attempt of a, and of b
			return refused
		}
		return nil
	}}
	o := newTestOutput(t, s, nil)
	a := chunk(map[string]any{"log": "a1"}, map[string]any{"log": "a2"}, map[string]any{"log": "a3"})
	b := chunk(map[string]any{"log": "b1"}, map[string]any{"log": "b2"})
	flush := func(c []byte, tag string, want int) {
		t.Helper()
		if rc := o.Flush(context.Background(), append([]byte(nil), c...), tag); rc != want {
			t.Fatalf("rc %d, want %d", rc, want)
		}
	}
	flush(a, "app", FLBRetry) // call 0: seqs 1-3
	flush(a, "app", FLBOK)    // call 1: the same
	flush(b, "app", FLBRetry) // call 2: seqs 4-5
	flush(a, "other", FLBOK)  // call 3: same bytes, another tag: new numbers, on lane 1 (lane 0 awaits b's retry)
	flush(b, "app", FLBOK)    // call 4: 4-5 again
	flush(a, "app", FLBOK)    // call 5: a sent again after its success: new numbers 6-8
	want := [][]uint64{{1, 2, 3}, {1, 2, 3}, {4, 5}, {1, 2, 3}, {4, 5}, {6, 7, 8}}
	for i, w := range want {
		if got := sent[i]; !slices.Equal(got, w) {
			t.Errorf("call %d: seqs %v, want %v", i, got, w)
		}
	}
	if n := len(o.retry.byKey); n != 0 {
		t.Errorf("%d chunks still kept after every retry succeeded", n)
	}
}

// A chunk awaiting its retry keeps the marks below its numbers: a crash
// before the retry makes Fluent Bit re-send it under the next instance's
// producer id, so a mark naming them would have the audit report records
// that arrive as missing. Once the retry succeeded, the marks name them.
func TestMarksStayBelowAChunkAwaitingItsRetry(t *testing.T) {
	refused := fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
	s := &fakeSender{reply: func(call int, msgs []kafka.Message) error {
		if call == 0 {
			return refused
		}
		return nil
	}}
	o := newTestOutput(t, s, MapConfig{"Topic": "logs", "Marks_Interval": "0", "Canary_Interval": "0"})
	lastMark := func() uint64 {
		t.Helper()
		for range 2 { // a periodic mark names the sequence one flush old
			if err := o.marker.Flush(context.Background(), false); err != nil {
				t.Fatal(err)
			}
		}
		var last uint64
		for _, call := range s.calls {
			for _, m := range call {
				if m.Topic == "logs-marks" {
					mk, err := publish.ParseMark(m.Value)
					if err != nil {
						t.Fatal(err)
					}
					last = mk.LastSeq
				}
			}
		}
		return last
	}
	a := chunk(map[string]any{"log": "a1"}, map[string]any{"log": "a2"}, map[string]any{"log": "a3"})
	if rc := o.Flush(context.Background(), append([]byte(nil), a...), "app"); rc != FLBRetry {
		t.Fatalf("first attempt rc %d, want FLB_RETRY", rc)
	}
	if got := lastMark(); got != 0 {
		t.Fatalf("mark %d while seqs 1..3 await their retry, want none", got)
	}
	if rc := o.Flush(context.Background(), append([]byte(nil), a...), "app"); rc != FLBOK {
		t.Fatalf("retry rc %d, want FLB_OK", rc)
	}
	if got := lastMark(); got != 3 {
		t.Fatalf("mark %d after the retry was acknowledged, want 3", got)
	}
}
