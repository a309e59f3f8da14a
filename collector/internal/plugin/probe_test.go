package plugin

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/agentobs/agentobs/collector/collectormetrics"
)

// TestProbeGate: flushes pass while Kafka answers; after one that did not,
// none tries for probeCooldown, then one at a time tries Kafka and the
// others are turned away until a flush reaches Kafka again; a concurrent
// flush's verdict counts too.
func TestProbeGate(t *testing.T) {
	g := &probeGate{cooldown: probeCooldown}
	now := time.Unix(1000, 0)
	enter := func(wantTry, wantProbe bool) bool {
		t.Helper()
		try, probe := g.enter(now)
		if try != wantTry || probe != wantProbe {
			t.Fatalf("at %v: enter = %v, %v, want %v, %v", now.Unix(), try, probe, wantTry, wantProbe)
		}
		return probe
	}
	leave := func(probe, reached, wantChanged bool) {
		t.Helper()
		if changed := g.leave(probe, reached, now); changed != wantChanged {
			t.Fatalf("leave(%v, %v) changed = %v, want %v", probe, reached, changed, wantChanged)
		}
	}
	a, b := enter(true, false), enter(true, false) // two flushes in flight
	leave(a, true, false)
	leave(b, false, true) // Kafka did not answer: down
	enter(false, false)   // cooling down: a worker's queue drains at once
	now = now.Add(probeCooldown)
	p := enter(true, true)
	enter(false, false) // turned away while the probe runs
	now = now.Add(5 * time.Second)
	enter(false, false)
	leave(p, false, false) // still down
	enter(false, false)
	now = now.Add(probeCooldown / 2)
	enter(false, false)
	now = now.Add(probeCooldown / 2)
	p = enter(true, true)
	leave(p, true, true) // up again
	enter(true, false)
	enter(true, false)

	// Down while a flush that started before is still in flight: its
	// success opens the gate, and the probe's later failure closes it.
	g = &probeGate{cooldown: probeCooldown}
	a = enter(true, false)
	b = enter(true, false)
	leave(b, false, true)
	now = now.Add(probeCooldown)
	p = enter(true, true)
	leave(a, true, true)
	enter(true, false) // open again, a probe still running
	leave(p, false, true)
	enter(false, false)
	now = now.Add(probeCooldown)
	p = enter(true, true)
	enter(false, false)
	leave(p, true, true)
}

// TestFlushWhileKafkaDownIsDeferred: after a flush Kafka did not answer,
// the flushes of the next probeCooldown return FLB_RETRY without reaching
// the sender (counted as deferred and as retries); after it one tries
// again, and once Kafka answers every flush goes through.
func TestFlushWhileKafkaDownIsDeferred(t *testing.T) {
	down := true
	s := &fakeSender{reply: func(int, []kafka.Message) error {
		if down {
			return context.DeadlineExceeded
		}
		return nil
	}}
	o := newTestOutput(t, s, nil)
	o.gate.cooldown = probeCooldown
	c := chunk(map[string]any{"log": "a"})
	flush := func(want, wantCalls int) {
		t.Helper()
		if rc := o.Flush(context.Background(), append([]byte(nil), c...), "app"); rc != want {
			t.Fatalf("rc %d, want %d", rc, want)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.calls) != wantCalls {
			t.Fatalf("%d sends, want %d", len(s.calls), wantCalls)
		}
	}
	flush(FLBRetry, 1) // Kafka does not answer
	flush(FLBRetry, 1) // deferred: nothing sent
	flush(FLBRetry, 1)
	if d, r := testutil.ToFloat64(o.m.Deferred), testutil.ToFloat64(o.m.Flushes[collectormetrics.ResultRetry]); d != 2 || r != 3 {
		t.Errorf("deferred %v, retries %v, want 2 and 3", d, r)
	}
	time.Sleep(probeCooldown)
	down = false
	flush(FLBOK, 2) // the probe: Kafka answers
	flush(FLBOK, 3)
}

// hangingSender is a Kafka that does not answer: every send waits until
// its context ends.
type hangingSender struct{}

func (hangingSender) Send(ctx context.Context, _ []kafka.Message) error {
	<-ctx.Done()
	return ctx.Err()
}
func (hangingSender) Close() error { return nil }

// TestCloseWhileKafkaDownIsBrief: an instance closing after a flush Kafka
// did not answer tries its final mark for closeTry, not for the whole
// budget Fluent Bit gives its exit (or a hot reload), which it would only
// delay.
func TestCloseWhileKafkaDownIsBrief(t *testing.T) {
	o := newTestOutput(t, hangingSender{}, MapConfig{"Timeout": "200ms"})
	if rc := o.Flush(context.Background(), chunk(map[string]any{"log": "a"}), "app"); rc != FLBRetry {
		t.Fatalf("rc %d, want FLB_RETRY", rc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_ = o.Close(ctx)
	if took := time.Since(start); took > 10*closeTry {
		t.Errorf("Close took %s with Kafka away, want about closeTry (%s)", took.Round(time.Millisecond), closeTry)
	}
}
