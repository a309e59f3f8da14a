package chaos_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/test/chaos"
	"github.com/agentobs/agentobs/test/harness"
)

// Randomized mode: a seeded schedule of operations and faults over one run
// of the pipeline, with the same ledger and checks as every scenario plus
// the health watch (health_test.go). The seed list is fixed, so make test
// runs the same schedules every time; AGENTOBS_CHAOS_SEED=1,2 runs the
// given seeds and AGENTOBS_CHAOS_OPS=kill-shipper,freeze-es the given
// operations (the defaults depend on the mode).
var (
	shortSeeds = []uint64{2, 4} // together they draw every short operation, an 18 s Elasticsearch freeze too
	fullSeeds  = []uint64{1, 2, 3, 4, 5, 6}
	// shortOps are the operations the short run draws from: those that
	// pass on main, except slow-clients (each step holds 40 s; it runs in
	// make chaos and found-slow-clients). make chaos draws from every
	// operation, also those that fail until their fix lands (broker
	// restart and freeze, partition growth) and copytruncate while the
	// shipper is down (lossy by design: the loss must be reported);
	// README.md lists each with its evidence.
	shortOps = []chaos.Op{chaos.KillShipper, chaos.KillIndexer, chaos.Rotate, chaos.RotateWhileDown, chaos.RestartES, chaos.FreezeES}
)

// scheduled is the rig of every scheduled run: a private broker (frozen,
// killed, grown), the shipper tailing *.log with HTTP ingest on (the slow
// clients' target) and, in full mode, a private Elasticsearch node (frozen
// and killed for real; the short mode reaches the shared node through the
// fault proxy, whose black hole and cut stand in for a freeze and a restart).
func scheduled(extra rigOptions) func(t *testing.T) rigOptions {
	return func(t *testing.T) rigOptions {
		o := extra
		o.private = harness.StartKafka(t, harness.KafkaServerOptions{Partitions: 6})
		o.glob, o.ingest, o.spans = "*.log", true, true
		o.indexerArgs = append([]string{"-health.stall-timeout", stallTimeout.String()}, o.indexerArgs...)
		if full {
			o.es = privateES.Get(t, "private Elasticsearch", func() (*harness.ESServer, func(), error) {
				s, err := harness.LaunchES(harness.ESServerOptions{PlainHTTP: true})
				if err != nil {
					return nil, nil, err
				}
				return s, s.Close, nil
			})
			if !o.es.Running() { // a failed run may have left it killed
				if err := o.es.Start(); err != nil {
					t.Fatal(err)
				}
			}
		}
		return o
	}
}

// privateES is the full mode's Elasticsearch node, one for every scheduled
// run (each has its own indices; starting a node costs a minute).
var privateES harness.Shared[*harness.ESServer]

// scheduledScenario wraps a schedule into a scenario whose load is the
// controlled log file at rate records/s until the schedule's span plus
// tail has passed.
func scheduledScenario(name string, s chaos.Schedule, rate int, tail time.Duration, extra rigOptions) scenario {
	s2 := s
	return scenario{name: name, fault: s.Summary(), schedule: &s2, rate: rate,
		records: int64((s.Span + tail).Seconds() * float64(rate)),
		opts:    scheduled(extra),
		load:    func(r *chaosRig, cfg loadgen.Config) <-chan loadgen.Report { return r.scheduledLoad(cfg) }}
}

// replayCommand is what reruns a failed scheduled scenario.
func replayCommand(sc scenario) string {
	mode := ""
	if full {
		mode = "AGENTOBS_CHAOS=full "
	}
	if sc.schedule.Seed == 0 { // a fixed issue-18 scenario
		return fmt.Sprintf("%sAGENTOBS_CHAOS_FOUND=%s go test -count=1 -v -run 'TestChaosFound/%s$' ./test/chaos/", mode, sc.name, sc.name)
	}
	return fmt.Sprintf("%sAGENTOBS_CHAOS_SEED=%d AGENTOBS_CHAOS_OPS=%s go test -count=1 -v -run 'TestChaosRandom' ./test/chaos/",
		mode, sc.schedule.Seed, opList(sc.schedule.Ops))
}

func opList(ops []chaos.Op) string {
	var s string
	for i, o := range ops {
		if i > 0 {
			s += ","
		}
		s += string(o)
	}
	return s
}

// randomPlan is the mode's seeds, operations, load and schedule length.
func randomPlan(t *testing.T) (seeds []uint64, ops []chaos.Op, rate int, span, tail time.Duration, steps int) {
	seeds, ops = shortSeeds, shortOps
	rate, span, tail, steps = 1000, 60*time.Second, 15*time.Second, 5
	if full {
		seeds, ops = fullSeeds, chaos.AllOps
		rate, span, tail, steps = 2000, 150*time.Second, 30*time.Second, 10
	}
	if v := os.Getenv("AGENTOBS_CHAOS_SEED"); v != "" {
		var err error
		if seeds, err = chaos.ParseSeeds(v); err != nil {
			t.Fatal(err)
		}
	}
	if v := os.Getenv("AGENTOBS_CHAOS_OPS"); v != "" {
		var err error
		if ops, err = chaos.ParseOps(v); err != nil {
			t.Fatal(err)
		}
	}
	return seeds, ops, rate, span, tail, steps
}

// TestChaosRandom runs one seeded schedule per seed.
func TestChaosRandom(t *testing.T) {
	if testing.Short() {
		t.Skip("system suite: make test and make chaos run it")
	}
	harness.RequireES(t)
	harness.RequireKafka(t)
	seeds, ops, rate, span, tail, steps := randomPlan(t)
	for _, seed := range seeds {
		s := chaos.NewSchedule(seed, span, ops, steps, full)
		t.Logf("seed %d schedule: %s", seed, s)
		sc := scheduledScenario(fmt.Sprintf("random-seed-%d", seed), s, rate, tail, rigOptions{})
		t.Run(sc.name, func(t *testing.T) { run(t, sc) })
	}
}

// fixed builds a schedule by hand (seed 0: not drawn).
func fixed(span time.Duration, steps ...chaos.Step) chaos.Schedule {
	s := chaos.Schedule{Span: span, Steps: steps}
	for _, st := range steps {
		if !slices.Contains(s.Ops, st.Op) {
			s.Ops = append(s.Ops, st.Op)
		}
	}
	return s
}

// found are issue 18's "Found" defects as fixed schedules; short marks
// those whose fixes are on main (the others fail until their fix lands
// and run only in make chaos; README.md lists them).
func found() []struct {
	short bool
	sc    scenario
} {
	type f = struct {
		short bool
		sc    scenario
	}
	st := func(at time.Duration, op chaos.Op, d time.Duration) chaos.Step {
		return chaos.Step{At: at, Op: op, For: d}
	}
	s := time.Second
	return []f{
		{false, scheduledScenario("found-rotation-while-down", fixed(20*s, st(8*s, chaos.RotateWhileDown, 3*s)), 1000, 15*s, rigOptions{})},
		{false, scheduledScenario("found-copytruncate-while-down", fixed(20*s, st(8*s, chaos.CopyTruncateWhileDown, 3*s)), 1000, 15*s, rigOptions{})},
		{false, scheduledScenario("found-topic-late", fixed(10*s), 1000, 20*s, rigOptions{topicLate: 10 * s})},
		{false, scheduledScenario("found-es-freeze", fixed(55*s, st(8*s, chaos.FreezeES, 45*s)), 1000, 15*s, rigOptions{})},
		{false, scheduledScenario("found-broker-freeze", fixed(30*s, st(8*s, chaos.FreezeBroker, 20*s)), 1000, 30*s, rigOptions{})},
		// Seeds 6 and 79's combination: the broker restarted, then frozen
		// while its group coordinator may still be loading the committed
		// offsets (the group used to start again at offset 0). Steps never
		// overlap, so the freeze starts when the restarted broker answers.
		{true, scheduledScenario("found-broker-restart-freeze", fixed(25*s, st(6*s, chaos.RestartBroker, 3*s), st(12*s, chaos.FreezeBroker, 10*s)), 1000, 15*s, rigOptions{})},
		{false, scheduledScenario("found-slow-clients", fixed(55*s, st(5*s, chaos.SlowClients, 45*s)), 1000, 10*s, rigOptions{})},
		// The product's default session timeout, not the suite's 6 s: a
		// dead member's partitions wait for it.
		{false, scheduledScenario("found-three-indexer-kills", fixed(75*s, st(10*s, chaos.KillIndexer, 2*s), st(35*s, chaos.KillIndexer, 2*s),
			st(60*s, chaos.KillIndexer, 2*s)), 1000, 15*s, rigOptions{indexerArgs: []string{"-kafka.session-timeout", "10s"}})},
	}
}

// TestChaosFound runs the issue-18 scenarios: the short ones in make test,
// all in make chaos, and those named in AGENTOBS_CHAOS_FOUND (comma
// separated, or "all") in either mode.
func TestChaosFound(t *testing.T) {
	if testing.Short() {
		t.Skip("system suite: make test and make chaos run it")
	}
	harness.RequireES(t)
	harness.RequireKafka(t)
	named := strings.Split(os.Getenv("AGENTOBS_CHAOS_FOUND"), ",")
	for _, f := range found() {
		if !f.short && !full && !slices.Contains(named, f.sc.name) && !slices.Contains(named, "all") {
			continue
		}
		t.Run(f.sc.name, func(t *testing.T) { run(t, f.sc) })
	}
}
