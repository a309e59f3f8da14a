package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Op is one kind of operation or fault the randomized mode schedules. Each
// is something that happens to a real pipeline in production: a process
// killed by the OOM killer or a node reboot, a log rotated while its reader
// was down, a topic grown by an operator, a server that hangs (SIGSTOP
// models a stop-the-world pause or a hung disk: sockets stay open, nothing
// answers), a client that trickles its request.
type Op string

// The operations. Broker and Elasticsearch faults act on the run's private
// servers (test/harness) or on the fault proxy in front of them, never on
// the shared local stack.
const (
	// KillShipper: SIGKILL the shipper; restart it after the step's length.
	KillShipper Op = "kill-shipper"
	// RotateWhileDown: SIGKILL the shipper, rename the tailed file out of
	// its glob (app.log → app.log.N, as logrotate does), restart it.
	RotateWhileDown Op = "rotate-while-shipper-down"
	// CopyTruncateWhileDown: SIGKILL the shipper, copy the tailed file to
	// app.log.N and truncate it (logrotate's copytruncate), restart it.
	CopyTruncateWhileDown Op = "copytruncate-while-shipper-down"
	// Rotate: rename the tailed file out of the glob while the shipper runs.
	Rotate Op = "rotate"
	// KillIndexer: SIGKILL the indexer; restart it after the step's length.
	KillIndexer Op = "kill-indexer"
	// FreezeBroker: SIGSTOP the private broker for the step's length, then SIGCONT.
	FreezeBroker Op = "freeze-broker"
	// RestartBroker: SIGKILL the private broker, start it again after the
	// step's length (same data, same ports).
	RestartBroker Op = "restart-broker"
	// FreezeES: SIGSTOP the private Elasticsearch node (without one: the
	// fault proxy in front of Elasticsearch becomes a black hole) for the
	// step's length.
	FreezeES Op = "freeze-es"
	// RestartES: SIGKILL the private Elasticsearch node and start it again
	// (without one: the proxy refuses and resets connections) after the
	// step's length.
	RestartES Op = "restart-es"
	// GrowPartitions: add partitions to the records topic while everything runs.
	GrowPartitions Op = "grow-partitions"
	// SlowClients: open connections to the shipper's and the indexer's HTTP
	// servers that send one byte a second, for the step's length.
	SlowClients Op = "slow-clients"
)

// AllOps lists every operation, in the order they are documented.
var AllOps = []Op{KillShipper, RotateWhileDown, CopyTruncateWhileDown, Rotate, KillIndexer,
	FreezeBroker, RestartBroker, FreezeES, RestartES, GrowPartitions, SlowClients}

// length is how long each operation may last (shortest, longest): the
// outage of a killed process, the freeze of a server, the trickle of a
// slow client. Instant operations have zero.
func length(op Op, long bool) (lo, hi time.Duration) {
	scale := time.Duration(1)
	if long {
		scale = 2
	}
	switch op {
	case KillShipper, RotateWhileDown, CopyTruncateWhileDown, KillIndexer:
		return time.Second, 5 * time.Second * scale
	case FreezeBroker, FreezeES:
		return 5 * time.Second, 20 * time.Second * scale
	case RestartBroker, RestartES:
		return 2 * time.Second, 8 * time.Second * scale
	case SlowClients:
		// Long enough to see whether the servers let go: the suite's
		// bound for a trickled request body is 30 s.
		return 40 * time.Second, 45 * time.Second
	}
	return 0, 0
}

// ParseOps reads a comma-separated list of operations ("" → nil).
func ParseOps(s string) ([]Op, error) {
	var ops []Op
	var errs []error
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.Contains(AllOps, Op(f)) {
			errs = append(errs, fmt.Errorf("unknown chaos operation %q (known: %s)", f, joinOps(AllOps)))
			continue
		}
		ops = append(ops, Op(f))
	}
	return ops, errors.Join(errs...)
}

func joinOps(ops []Op) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = string(o)
	}
	return strings.Join(s, ",")
}

// ParseSeeds reads a comma-separated list of seeds.
func ParseSeeds(s string) ([]uint64, error) {
	var seeds []uint64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("chaos seed %q: %w", f, err)
		}
		seeds = append(seeds, v)
	}
	return seeds, nil
}

// Step is one operation of a schedule: it starts At after the run began
// and lasts For (zero for instant operations).
type Step struct {
	At  time.Duration
	Op  Op
	For time.Duration
}

func (s Step) String() string {
	if s.For == 0 {
		return fmt.Sprintf("+%s %s", s.At.Round(100*time.Millisecond), s.Op)
	}
	return fmt.Sprintf("+%s %s for %s", s.At.Round(100*time.Millisecond), s.Op, s.For.Round(100*time.Millisecond))
}

// End is when the step's fault is over.
func (s Step) End() time.Duration { return s.At + s.For }

// Schedule is a seeded sequence of operations over a run. The same seed,
// operations, span and step count always give the same schedule, so a
// failing run is replayed by its seed (AGENTOBS_CHAOS_SEED).
type Schedule struct {
	Seed  uint64
	Span  time.Duration // faults start and end within [0, Span)
	Ops   []Op          // the operations it drew from
	Long  bool          // long mode: longer outages and freezes
	Steps []Step
}

// NewSchedule draws n steps from ops with a PCG generator seeded by seed.
// Each step gets a random length in its operation's range; steps do not
// overlap (each fault's health checks and recovery are its own), start
// after a settling time of 5 s, are at least 3 s apart and end before
// span; the free time is spread between them at random. When the span
// cannot hold n steps, the last ones are dropped (at least one is kept,
// shortened to fit).
func NewSchedule(seed uint64, span time.Duration, ops []Op, n int, long bool) Schedule {
	s := Schedule{Seed: seed, Span: span, Ops: slices.Clone(ops), Long: long}
	if len(ops) == 0 || n <= 0 {
		return s
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed_c4a05))
	const settle, gap = 5 * time.Second, 3 * time.Second
	room := span - settle
	var steps []Step
	var used time.Duration
	for range n {
		op := ops[rng.IntN(len(ops))]
		lo, hi := length(op, long)
		d := lo
		if hi > lo {
			d += time.Duration(rng.Int64N(int64(hi - lo)))
		}
		d = d.Round(100 * time.Millisecond)
		steps = append(steps, Step{Op: op, For: d})
		used += d + gap
	}
	for len(steps) > 1 && used > room {
		last := steps[len(steps)-1]
		used -= last.For + gap
		steps = steps[:len(steps)-1]
	}
	if used > room { // one step longer than the span: shorten it
		steps[0].For = max(room-gap, 0).Round(100 * time.Millisecond)
		used = steps[0].For + gap
	}
	// Spread the free time: cut it at len(steps) random points; step i
	// waits the i-th piece (plus the gap) after the previous one ended.
	free := room - used
	cuts := make([]time.Duration, len(steps))
	for i := range cuts {
		if free > 0 {
			cuts[i] = time.Duration(rng.Int64N(int64(free)))
		}
	}
	slices.Sort(cuts)
	at, prevCut := settle, time.Duration(0)
	for i := range steps {
		if i > 0 {
			at += gap
		}
		at += cuts[i] - prevCut
		prevCut = cuts[i]
		steps[i].At = at.Round(100 * time.Millisecond)
		at = steps[i].At + steps[i].For
	}
	s.Steps = steps
	return s
}

// String is the whole schedule on one line per step, headed by what
// replays it.
func (s Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, span %s, ops %s", s.Seed, s.Span, joinOps(s.Ops))
	for _, st := range s.Steps {
		b.WriteString("\n  " + st.String())
	}
	return b.String()
}

// Summary names the operations in order, for a ledger's fault column.
func (s Schedule) Summary() string {
	parts := make([]string, len(s.Steps))
	for i, st := range s.Steps {
		parts[i] = string(st.Op)
	}
	return fmt.Sprintf("seed %d: %s", s.Seed, strings.Join(parts, ", "))
}
