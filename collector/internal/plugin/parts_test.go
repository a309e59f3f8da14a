package plugin

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
)

// partRecords is a chunk of about three parts (records of about 1 KiB).
const partRecords = 3 * partBytes >> 10

// TestChunkSentInParts: a chunk larger than partBytes reaches Kafka in
// parts of about partBytes, every record once and in order, and the
// flush's arena stays the size of a part, not of the chunk.
func TestChunkSentInParts(t *testing.T) {
	o := newTestOutput(t, &fakeSender{}, nil)
	c := parsedChunk(partRecords, time.Unix(1700000000, 0))
	st := testFlushState(o)
	var sent []kafka.Message
	parts := 0
	maxValue := 0
	n, bad, ok := o.build(st, c, "app", func(msgs []kafka.Message) bool {
		total := 0
		for _, m := range msgs {
			total += len(m.Value)
			maxValue = max(maxValue, len(m.Value))
			sent = append(sent, ownMessage(m))
		}
		if total > partBytes+maxValue {
			t.Errorf("a part of %d encoded bytes, want at most %d + one record", total, partBytes)
		}
		parts++
		return true
	})
	if !ok || bad != nil || n != partRecords {
		t.Fatalf("build: %d records, undecodable %q, delivered %v", n, bad, ok)
	}
	if parts < 3 {
		t.Fatalf("%d parts, want at least 3 for %d records of about 1 KiB", parts, partRecords)
	}
	if limit := partBytes + partBytes/8 + 4096; cap(st.arena) > limit {
		t.Errorf("arena of %d bytes for a chunk in parts, want at most %d", cap(st.arena), limit)
	}
	seqs := seqsOf(t, sent)
	for i, q := range seqs {
		if q != uint64(i+1) {
			t.Fatalf("record %d has seq %d: records lost, repeated or out of order", i, q)
		}
	}
	if id := ids(sent); len(slices.Compact(slices.Sorted(slices.Values(id)))) != partRecords {
		t.Fatalf("%d distinct event.ids for %d records", len(slices.Compact(slices.Sorted(slices.Values(id)))), partRecords)
	}
}

// TestPartFailureRetriesChunk: when a part after the first fails, the
// flush stops there and answers FLB_RETRY; the retry sends the whole chunk
// again, the records of the failed attempt with their first sequence
// numbers and event.ids.
func TestPartFailureRetriesChunk(t *testing.T) {
	refused := fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
	var attempt [][]kafka.Message
	failed := false
	s := &fakeSender{reply: func(call int, msgs []kafka.Message) error {
		if call == 1 && !failed {
			failed = true
			return refused
		}
		return nil
	}}
	o := newTestOutput(t, s, nil)
	c := parsedChunk(partRecords, time.Unix(1700000000, 0))
	if rc := o.Flush(context.Background(), append([]byte(nil), c...), "app"); rc != FLBRetry {
		t.Fatalf("first attempt: rc %d, want FLB_RETRY", rc)
	}
	if len(s.calls) != 2 {
		t.Fatalf("first attempt: %d sends, want 2 (the failed part ends the flush)", len(s.calls))
	}
	attempt = append(attempt, slices.Concat(s.calls...))
	s.calls = nil
	if rc := o.Flush(context.Background(), append([]byte(nil), c...), "app"); rc != FLBOK {
		t.Fatalf("retry: rc %d, want FLB_OK", rc)
	}
	attempt = append(attempt, slices.Concat(s.calls...))
	first, retry := attempt[0], attempt[1]
	if len(retry) != partRecords {
		t.Fatalf("retry sent %d records, want %d", len(retry), partRecords)
	}
	if a, b := seqsOf(t, first), seqsOf(t, retry[:len(first)]); !slices.Equal(a, b) {
		t.Fatalf("the retry renumbered the records of the failed attempt")
	}
	if a, b := ids(first), ids(retry[:len(first)]); !slices.Equal(a, b) {
		t.Fatalf("the retry changed event.ids")
	}
	if rest := seqsOf(t, retry[len(first):]); rest[0] != uint64(len(first)+1) || rest[len(rest)-1] != partRecords {
		t.Fatalf("the records never sent before got seqs %d..%d, want %d..%d", rest[0], rest[len(rest)-1], len(first)+1, partRecords)
	}
}

// TestRefusedInPartDeadLetteredOnce: a record Kafka refuses for good in
// the first part is dead-lettered only when the whole chunk is delivered,
// so a later part's failure (and Fluent Bit's retry of the chunk) does not
// dead-letter it twice; the dead letter holds the refused record, not what
// later parts wrote into the same memory.
func TestRefusedInPartDeadLetteredOnce(t *testing.T) {
	const refusedAt = 3
	refused := fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
	var refusedValue []byte
	s := &fakeSender{}
	s.reply = func(call int, msgs []kafka.Message) error {
		if msgs[0].Topic == "agentobs-logs-dlq" {
			return nil
		}
		switch call {
		case 0, 2: // the first part, in both attempts
			refusedValue = slices.Clone(msgs[refusedAt].Value)
			werrs := make(kafka.WriteErrors, len(msgs))
			werrs[refusedAt] = kafka.MessageSizeTooLarge
			return werrs
		case 1: // the second part, first attempt
			return refused
		}
		return nil
	}
	o := newTestOutput(t, s, nil)
	if o.cfg.Edge.DLQTopic != "agentobs-logs-dlq" {
		t.Fatalf("dead-letter topic %q", o.cfg.Edge.DLQTopic)
	}
	c := parsedChunk(partRecords, time.Unix(1700000000, 0))
	dead := func() (out []kafka.Message) {
		for _, call := range s.calls {
			for _, m := range call {
				if m.Topic == o.cfg.Edge.DLQTopic {
					out = append(out, m)
				}
			}
		}
		return out
	}
	if rc := o.Flush(context.Background(), append([]byte(nil), c...), "app"); rc != FLBRetry {
		t.Fatalf("first attempt: rc %d, want FLB_RETRY", rc)
	}
	if d := dead(); len(d) != 0 {
		t.Fatalf("first attempt wrote %d dead letters, want none before the chunk is delivered", len(d))
	}
	if rc := o.Flush(context.Background(), append([]byte(nil), c...), "app"); rc != FLBOK {
		t.Fatalf("retry: rc %d, want FLB_OK", rc)
	}
	d := dead()
	if len(d) != 1 {
		t.Fatalf("%d dead letters, want 1", len(d))
	}
	if string(d[0].Value) != string(refusedValue) {
		t.Fatalf("the dead letter holds\n%.200s\nwant the refused record\n%.200s", d[0].Value, refusedValue)
	}
	if kafkaclient.Header(d[0], publish.HeaderEventID) == "" {
		t.Fatalf("the dead letter lost its headers")
	}
}

// TestPartsEven: a chunk a little larger than partBytes goes in two parts
// of about half of it each, not in a full one and a remainder, and its
// arena is the size of such a half.
func TestPartsEven(t *testing.T) {
	o := newTestOutput(t, &fakeSender{}, nil)
	st := testFlushState(o)
	c := parsedChunk(4*partBytes/3>>10, time.Unix(1700000000, 0)) // about 1.3 parts of records of about 1 KiB
	var sizes []int
	for round := range 2 { // the first chunk teaches the flush its ratio of JSON to MessagePack bytes
		sizes = sizes[:0]
		_, _, ok := o.build(st, c, "app", func(msgs []kafka.Message) bool {
			total := 0
			for _, m := range msgs {
				total += len(m.Value)
			}
			sizes = append(sizes, total)
			return true
		})
		if !ok {
			t.Fatalf("round %d: not delivered", round)
		}
	}
	if len(sizes) != 2 {
		t.Fatalf("parts of %v bytes, want two", sizes)
	}
	if small, large := min(sizes[0], sizes[1]), max(sizes[0], sizes[1]); small < large*2/3 {
		t.Errorf("parts of %v bytes, want two of about half the chunk each", sizes)
	}
	if limit := (sizes[0]+sizes[1])*3/4 + 4096; cap(st.arena) > limit {
		t.Errorf("arena of %d bytes for parts of %v, want at most %d", cap(st.arena), sizes, limit)
	}
}

func TestPartLimit(t *testing.T) {
	for _, tc := range []struct{ est, want int }{
		{0, partBytes},
		{1000, partBytes}, // one part: a low estimate must not cut it into many
		{partBytes / 2, partBytes},
		{partBytes - 8, partBytes},
		{partBytes + 2, (partBytes/2 + 1) * 9 / 8}, // two halves
		{3 * partBytes, partBytes},
		{10*partBytes + 1, partBytes},
	} {
		if got := partLimit(tc.est); got != tc.want {
			t.Errorf("partLimit(%d) = %d, want %d", tc.est, got, tc.want)
		}
	}
}
