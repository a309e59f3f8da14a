package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/agentobs/agentobs/internal/record"
)

// gateSender blocks the Send of a chosen first record until its gate is
// opened, fails those listed in fail once, and records each call's
// producer stamps.
type gateSender struct {
	mu     sync.Mutex
	gates  map[string]chan struct{} // first record's log → gate
	fail   map[string]bool          // first record's log → refuse once
	sent   map[string]stamps        // first record's log → stamps of its last call
	calls  chan string              // each call's first log, as it starts
	refuse error
}

type stamps struct {
	producer string
	seqs     []uint64
}

func newGateSender() *gateSender {
	return &gateSender{gates: map[string]chan struct{}{}, fail: map[string]bool{}, sent: map[string]stamps{},
		calls: make(chan string, 64), refuse: fmt.Errorf("dial: %w", syscall.ECONNREFUSED)}
}

func (g *gateSender) Send(ctx context.Context, msgs []kafka.Message) error {
	var st stamps
	first := ""
	for i, m := range msgs {
		var doc map[string]any
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			return err
		}
		if i == 0 {
			first, _ = doc["log"].(string)
			if first == "" {
				first, _ = doc["message"].(string)
			}
		}
		st.producer, _ = doc[record.FieldProducerID].(string)
		n, _ := doc[record.FieldProducerSeq].(float64)
		st.seqs = append(st.seqs, uint64(n))
	}
	g.calls <- first
	g.mu.Lock()
	gate, fail := g.gates[first], g.fail[first]
	delete(g.fail, first)
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sent[first] = st
	if fail {
		return g.refuse
	}
	return nil
}

func (g *gateSender) Close() error { return nil }

func (g *gateSender) gate(log string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := make(chan struct{})
	g.gates[log] = c
	return c
}

// waitCall waits until a Send for log started.
func (g *gateSender) waitCall(t *testing.T, log string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case got := <-g.calls:
			if got == log {
				return
			}
		case <-timeout:
			t.Fatalf("no send of %q", log)
		}
	}
}

// Flushes in flight at once stamp with producers of their own, each
// sequence in the order of its flushes, and a chunk awaiting its retry
// keeps its lane to itself: a crash leaves every sequence a tail and no
// hole below numbers another flush had acknowledged. The retry stamps the
// first attempt's numbers on that lane.
func TestConcurrentFlushesStampOwnLanes(t *testing.T) {
	g := newGateSender()
	o := newTestOutput(t, g, nil)
	base := o.edge.ProducerID()
	lane1 := base + "/lane-1"
	flush := func(log string, n int) <-chan int {
		var recs []map[string]any
		for i := range n {
			recs = append(recs, map[string]any{"log": fmt.Sprintf("%s%d", log, i)})
		}
		c := chunk(recs...)
		done := make(chan int, 1)
		go func() { done <- o.Flush(context.Background(), c, "app") }()
		return done
	}
	want := func(log string, rc <-chan int, ret int, producer string, seqs ...uint64) {
		t.Helper()
		if got := <-rc; got != ret {
			t.Fatalf("flush %s: rc %d, want %d", log, got, ret)
		}
		g.mu.Lock()
		got := g.sent[log+"0"]
		g.mu.Unlock()
		if got.producer != producer || !slices.Equal(got.seqs, seqs) {
			t.Errorf("flush %s stamped %s %v, want %s %v", log, got.producer, got.seqs, producer, seqs)
		}
	}

	openA := g.gate("a0")
	a := flush("a", 3)
	g.waitCall(t, "a0")
	b := flush("b", 2) // a holds lane 0
	want("b", b, FLBOK, lane1, 1, 2)
	close(openA)
	want("a", a, FLBOK, base, 1, 2, 3)

	// c fails on lane 1 while d holds lane 0.
	openD := g.gate("d0")
	d := flush("d", 1)
	g.waitCall(t, "d0")
	g.mu.Lock()
	g.fail["c0"] = true
	g.mu.Unlock()
	want("c", flush("c", 2), FLBRetry, lane1, 3, 4)
	close(openD)
	want("d", d, FLBOK, base, 4)

	// c awaits its retry: its lane stays parked, so e, sent while f holds
	// lane 0, takes a new lane rather than c's numbers' successors. The
	// retry stamps c's first numbers on lane 1.
	openF := g.gate("f0")
	f := flush("f", 1)
	g.waitCall(t, "f0")
	want("e", flush("e", 1), FLBOK, base+"/lane-2", 1)
	want("c", flush("c", 2), FLBOK, lane1, 3, 4)
	want("g", flush("g", 1), FLBOK, lane1, 5) // lane 1 is free again
	close(openF)
	want("f", f, FLBOK, base, 5)
	if n := o.lanes.Len(); n != 3 {
		t.Errorf("%d lanes after at most two flushes and one parked lane at once, want 3", n)
	}
	if g := testutil.ToFloat64(o.m.Producers); g != 3 {
		t.Errorf("agentobs_collector_producers %v, want 3", g)
	}
}

// A lane parked longer than the retry hold (Fluent Bit gave the chunk up,
// or retries it that late) is free for new chunks again; a retry that
// comes after all waits while such a chunk uses its lane, then stamps its
// first numbers there.
func TestParkedLaneLapses(t *testing.T) {
	g := newGateSender()
	o := newTestOutput(t, g, nil)
	o.retryHold = 50 * time.Millisecond
	base := o.edge.ProducerID()
	flush := func(log string) <-chan int {
		c := chunk(map[string]any{"log": log + "0"})
		done := make(chan int, 1)
		go func() { done <- o.Flush(context.Background(), c, "app") }()
		return done
	}
	stamped := func(log string) stamps {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.sent[log+"0"]
	}
	g.mu.Lock()
	g.fail["c0"] = true
	g.mu.Unlock()
	if rc := <-flush("c"); rc != FLBRetry {
		t.Fatalf("c: rc %d, want FLB_RETRY", rc)
	}
	if rc := <-flush("a"); rc != FLBOK || stamped("a").producer != base+"/lane-1" {
		t.Fatalf("a while c awaits its retry: rc %d, stamped %+v, want lane-1", rc, stamped("a"))
	}
	time.Sleep(100 * time.Millisecond)
	openD := g.gate("d0")
	d := flush("d")
	g.waitCall(t, "d0")
	if got := stamped("d"); got.producer != "" {
		t.Fatalf("d sent before its gate opened: %+v", got)
	}
	c := flush("c")
	select {
	case <-g.calls:
		t.Fatal("the late retry of c was sent while d used its lane")
	case <-time.After(200 * time.Millisecond):
	}
	close(openD)
	if rc := <-d; rc != FLBOK || stamped("d").producer != base || !slices.Equal(stamped("d").seqs, []uint64{2}) {
		t.Fatalf("d after c's park lapsed: rc %d, stamped %+v, want lane 0 seq 2", rc, stamped("d"))
	}
	if rc := <-c; rc != FLBOK || stamped("c").producer != base || !slices.Equal(stamped("c").seqs, []uint64{1}) {
		t.Fatalf("late retry of c: rc %d, stamped %+v, want lane 0 seq 1", rc, stamped("c"))
	}
}
