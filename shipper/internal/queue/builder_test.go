package queue

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/shipper/internal/lines"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
	"github.com/segmentio/kafka-go"
)

func eventIDHeader(m kafka.Message) string {
	for _, h := range m.Headers {
		if h.Key == "event.id" {
			return string(h.Value)
		}
	}
	return ""
}

// TestBuilderEventIDsPinned pins the shipper's event.id for fixed source
// identities and positions: the ids must stay byte-identical across
// releases (and refactors), or every record re-read after an upgrade would
// be indexed twice. Values cross-checked with Python hashlib.
func TestBuilderEventIDsPinned(t *testing.T) {
	e, err := publish.New(publish.DefaultConfig(), "shipper", "shipper/pin", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		source, input string
		position      int64
		want          string
	}{
		{"host|2049:1234|0", shippermetrics.InputFile, 42, "b87543c1d4ca71d471d1937c0b613ffc"},
		{"host|2049:1234|1", shippermetrics.InputFile, 42, "abb2583ca10a1435cd0a0443cc16e758"},
		{"http|key:req-1", shippermetrics.InputHTTP, 1, "f2048e4a19bbb3723a66c8262f488da5"},
		{"host|stdin|00112233aabb", shippermetrics.InputStdin, 0, "c18f38537759eefc6eb21a732b681af2"},
	} {
		b := NewBuilder(record.NewParser(record.ParseOptions{}), e, tc.source, tc.input, nil, shippermetrics.New(nil), 0)
		b.Add(lines.Line{Data: []byte(`{"message":"pinned"}`), Start: tc.position, End: tc.position + 21}, tc.position)
		msgs := b.Take().Msgs
		if len(msgs) != 1 {
			t.Fatalf("%s: %d messages", tc.source, len(msgs))
		}
		if got := eventIDHeader(msgs[0]); got != tc.want {
			t.Errorf("event.id of (%s, %d) = %s, want %s", tc.source, tc.position, got, tc.want)
		}
	}
}

// buildBatch makes a batch of n records whose messages say "<tag> i".
func buildBatch(t *testing.T, e *publish.Edge, tag string, n int) *Batch {
	t.Helper()
	b := NewBuilder(record.NewParser(record.ParseOptions{ReuseValues: true}), e, "host|1:2|0", shippermetrics.InputFile, nil, shippermetrics.New(nil), 0)
	for i := range n {
		line := []byte(fmt.Sprintf(`{"message":"%s %d","trace_id":"%032x"}`, tag, i, i+1))
		b.Add(lines.Line{Data: line, Start: int64(i * 100), End: int64(i*100 + 99)}, int64(i*100))
	}
	return b.Take()
}

// checkBatch fails unless every message of b is the record "<tag> i" with
// its own trace id as key and header.
func checkBatch(t *testing.T, b *Batch, tag string, n int) {
	t.Helper()
	if len(b.Msgs) != n {
		t.Fatalf("%s: %d messages, want %d", tag, len(b.Msgs), n)
	}
	for i, m := range b.Msgs {
		trace := fmt.Sprintf("%032x", i+1)
		if !bytes.Contains(m.Value, []byte(fmt.Sprintf(`"message":"%s %d"`, tag, i))) || string(m.Key) != trace ||
			kafkaclient.Header(m, publish.HeaderTraceID) != trace {
			t.Fatalf("%s: message %d is key %q, trace header %q, value %s", tag, i, m.Key,
				kafkaclient.Header(m, publish.HeaderTraceID), m.Value)
		}
	}
}

// fakeProducer answers every Send with err.
type fakeProducer struct{ err error }

func (p fakeProducer) Send(context.Context, []kafka.Message) error { return p.err }

// A batch's memory (its message slice, keys, headers and values) goes to
// later batches only after Kafka acknowledged it; a batch that failed
// keeps its memory, since a Send that gave up may still be encoding it.
func TestBatchMemoryRecycledOnlyAfterAck(t *testing.T) {
	e, err := publish.New(publish.DefaultConfig(), "shipper", "shipper/recycle", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	send := func(b *Batch, p Producer) error {
		ctx, cancel := context.WithCancel(context.Background())
		if p.(fakeProducer).err != nil {
			cancel() // the sender stops retrying: the batch fails
		}
		defer cancel()
		q := NewQueue(1, 1, nil)
		s := NewSenders(q, p, nil, slog.New(slog.DiscardHandler), shippermetrics.New(nil))
		done := make(chan error, 1)
		b.Done = func(err error) { done <- err }
		if err := q.Put(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		s.Start(ctx)
		q.Close()
		s.Wait()
		return <-done
	}

	failed := buildBatch(t, e, "failed", 50)
	if err := send(failed, fakeProducer{err: context.Canceled}); err == nil {
		t.Fatal("a batch whose Send failed was reported delivered")
	}
	acked := buildBatch(t, e, "acked", 50)
	firstMsg, firstValue := &acked.Msgs[0], &acked.Msgs[0].Value[0]
	if err := send(acked, fakeProducer{}); err != nil {
		t.Fatal(err)
	}
	next := buildBatch(t, e, "next", 50)
	checkBatch(t, next, "next", 50)
	// The failed batch's messages are intact after later batches were built.
	checkBatch(t, failed, "failed", 50)
	// The free lists are first in, first out: nothing else in this
	// package's tests releases memory into them.
	if &next.Msgs[0] != firstMsg || &next.Msgs[0].Value[0] != firstValue {
		t.Errorf("the next batch did not reuse the acknowledged batch's memory")
	}
}
