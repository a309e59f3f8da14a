package plugin

import (
	"sync"
	"time"
)

// probeGate lets one flush at a time try a Kafka that did not answer the
// last flush, and turns the others away at once (FLB_RETRY without trying).
//
// A flush that finds Kafka unreachable waits its whole Timeout (10 s by
// default) before answering FLB_RETRY, and holds one of Fluent Bit's
// output workers meanwhile. During an outage Fluent Bit keeps handing
// chunks to the workers (new ones, and every retry), and a worker runs the
// flushes queued to it one after another: without the gate each waited its
// Timeout in turn, so on SIGTERM Fluent Bit, which stops a worker only once
// its queue is done, stayed up until it was killed (a Kubernetes pod's grace
// period), and a hot reload waited as long. With the gate one flush (the
// probe) waits for Kafka while the others return at once, and for
// probeCooldown after a flush that Kafka did not answer none tries, so a
// worker's queue drains at once; the first flush Kafka answers opens the
// gate.
type probeGate struct {
	cooldown time.Duration // probeCooldown; 0 in tests that retry at once
	mu       sync.Mutex
	down     bool      // the last flush that ended found Kafka unreachable
	probing  bool      // a flush is trying Kafka while down
	until    time.Time // while down, no probe starts before this
}

// probeCooldown is how long after a flush Kafka did not answer no other
// flush tries it: long enough for a worker to drain its queue, short beside
// Fluent Bit's retry backoff (seconds to minutes).
const probeCooldown = time.Second

// closeTry bounds the final canary and high-water mark of an instance
// closing while the gate is down: Kafka did not answer the last flush, and
// waiting the caller's whole budget (Fluent Bit's exit, or a hot reload)
// for it would only delay Fluent Bit. A Kafka that is back answers within
// it.
const closeTry = time.Second

// isDown reports whether the last flush that ended found Kafka unreachable.
func (g *probeGate) isDown() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.down
}

// enter reports whether a flush starting at now may try Kafka, and whether
// it is the probe.
func (g *probeGate) enter(now time.Time) (try, probe bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case !g.down:
		return true, false
	case g.probing || now.Before(g.until):
		return false, false
	}
	g.probing = true
	return true, true
}

// leave records how a flush that tried Kafka ended at now: reached is
// false when Kafka did not acknowledge it (FLB_RETRY). It reports whether
// the gate changed: closed by this flush, or opened again.
func (g *probeGate) leave(probe, reached bool, now time.Time) (changed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if probe {
		g.probing = false
	}
	if !reached {
		g.until = now.Add(g.cooldown)
	}
	changed = g.down == reached
	g.down = !reached
	return changed
}
