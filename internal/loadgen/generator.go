package loadgen

import (
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"time"
)

// Event kinds of a simulated trace, in the order an agent writes them.
const (
	evAccepted = iota
	evPerceived
	evDecided
	evTool
	evDelegated // written by the delegating agent after its peer's records
	evFinished
)

var (
	kinds     = []string{"lookup", "compute", "summarize", "fetch"}
	tools     = []string{"search", "calculator", "http_fetch", "llm_call"}
	preferred = map[string]string{"lookup": "search", "compute": "calculator", "summarize": "llm_call", "fetch": "http_fetch"}
	words     = []string{"the", "agent", "observed", "readings", "above", "threshold", "and", "selected", "a", "tool",
		"result", "summary", "of", "retrieved", "documents", "with", "context", "window", "tokens", "response"}
)

// event is one planned record of a trace.
type event struct {
	kind    int
	svc     int
	span    [8]byte
	step    int
	tool    string
	choice  string
	failed  bool // tool call failed (WARN) / task failed (ERROR)
	peer    int  // evDelegated: the peer service
	in, out int  // llm_call tokens
	depth   int
}

// trace is a task in progress: its planned records and the next to write.
type trace struct {
	id      [16]byte
	taskID  uint64
	kind    string
	events  []event
	next    int
	written bool
}

// Line describes one generated line. Data is valid until the next call to
// Next.
type Line struct {
	Data    []byte
	Seq     int64
	Service string
	Level   string
	// TraceID is the line's trace id (32 lowercase hex), nil for lines
	// without trace; like Data it is valid until the next call to Next.
	TraceID []byte
	// NewTrace is true for the first line of a trace.
	NewTrace bool
}

// Generator produces lines one at a time. It is not safe for concurrent
// use; Generate and Run drive one.
type Generator struct {
	cfg      Config
	rng      *rand.Rand
	active   []*trace
	tasks    uint64
	seq      int64
	start    time.Time
	interval time.Duration
	buf      []byte
	tid      [32]byte
	report   Report
	perSvc   []int64
}

// NewGenerator validates cfg and returns a generator positioned before the
// first line.
func NewGenerator(cfg Config) (*Generator, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(uint64(cfg.Seed), 0x10ad)),
		active: make([]*trace, cfg.Concurrency),
		start:  cfg.Start,
		buf:    make([]byte, 0, max(512, cfg.RecordSize+256)),
		perSvc: make([]int64, len(cfg.Services)),
	}
	if g.start.IsZero() {
		g.start = time.Now()
	}
	g.start = g.start.UTC()
	g.interval = 10 * time.Microsecond
	if cfg.Rate > 0 {
		g.interval = time.Second / time.Duration(cfg.Rate)
	}
	g.report = Report{RunID: cfg.RunID, Seed: cfg.Seed}
	if cfg.TrackTraces {
		g.report.TraceRecords = map[string]int64{}
	}
	return g, nil
}

// Next generates the next line.
func (g *Generator) Next() Line {
	g.seq++
	ts := g.start.Add(time.Duration(g.seq-1) * g.interval)
	if g.cfg.NoTraceRate > 0 && g.rng.Float64() < g.cfg.NoTraceRate {
		return g.untraced(ts)
	}
	slot := g.rng.IntN(len(g.active))
	t := g.active[slot]
	if t == nil || t.next == len(t.events) {
		t = g.newTrace(t)
		g.active[slot] = t
	}
	ev := &t.events[t.next]
	t.next++
	line := g.traced(ts, t, ev)
	if !t.written {
		t.written = true
		line.NewTrace = true
		g.report.Traces++
		if ev := t.events[len(t.events)-1]; ev.failed {
			g.report.ErrorTraces++
		}
		if len(g.report.TraceIDs) < g.cfg.TraceIDSample {
			g.report.TraceIDs = append(g.report.TraceIDs, string(line.TraceID))
		}
	}
	if g.report.TraceRecords != nil {
		g.report.TraceRecords[string(line.TraceID)]++
	}
	return line
}

// Report returns what has been generated so far.
func (g *Generator) Report() Report {
	r := g.report
	r.PerService = make(map[string]int64, len(g.perSvc))
	for i, n := range g.perSvc {
		r.PerService[g.cfg.Services[i]] += n
	}
	r.TraceIDs = append([]string(nil), r.TraceIDs...)
	if g.seq > 0 {
		r.FirstSeq, r.LastSeq = 1, g.seq
	}
	return r
}

func (g *Generator) count(svc int, level string, n int) {
	g.report.Records++
	g.report.Bytes += int64(n)
	g.perSvc[svc]++
	switch level {
	case "ERROR":
		g.report.ErrorRecords++
	case "WARN":
		g.report.WarnRecords++
	}
}

// newTrace plans a task: it enters one service and, with probability 0.7
// when there are several services, is delegated to a second one, which in
// turn delegates to a third with probability 0.4. The slice of the finished
// trace t is reused.
func (g *Generator) newTrace(t *trace) *trace {
	if t == nil {
		t = &trace{events: make([]event, 0, 32)}
	}
	g.tasks++
	t.taskID, t.next, t.written, t.events = g.tasks, 0, false, t.events[:0]
	g.fill(t.id[:])
	t.kind = kinds[g.rng.IntN(len(kinds))]
	failAt := -1 // which hop fails, if the trace fails
	hops := []int{g.rng.IntN(len(g.cfg.Services))}
	if n := len(g.cfg.Services); n > 1 && g.rng.Float64() < 0.7 {
		hops = append(hops, (hops[0]+1+g.rng.IntN(n-1))%n)
		if n > 2 && g.rng.Float64() < 0.4 {
			for {
				s := g.rng.IntN(n)
				if s != hops[0] && s != hops[1] {
					hops = append(hops, s)
					break
				}
			}
		}
	}
	if g.rng.Float64() < g.cfg.ErrorRate {
		failAt = g.rng.IntN(len(hops))
	}
	g.plan(t, hops, 0, failAt)
	return t
}

// plan appends the records of hop i (and, recursively, of its peers) in the
// order they are written: the delegating agent's "delegation finished" comes
// after every record of the peer.
func (g *Generator) plan(t *trace, hops []int, i, failAt int) {
	svc := hops[i]
	var root [8]byte
	g.fill(root[:])
	t.events = append(t.events, event{kind: evAccepted, svc: svc, span: root, depth: i})
	steps := 1 + g.rng.IntN(2)
	failed := false
	for step := 1; step <= steps; step++ {
		var sp [8]byte
		g.fill(sp[:])
		t.events = append(t.events, event{kind: evPerceived, svc: svc, span: sp, step: step, depth: i})
		delegate := step == steps && i+1 < len(hops)
		tool, choice := preferred[t.kind], "exploit"
		if delegate {
			tool, choice = "delegate", "explore"
		} else if g.rng.Float64() < 0.2 {
			tool, choice = tools[g.rng.IntN(len(tools))], "explore"
		}
		g.fill(sp[:])
		t.events = append(t.events, event{kind: evDecided, svc: svc, span: sp, step: step, tool: tool, choice: choice, depth: i})
		g.fill(sp[:])
		if delegate {
			g.plan(t, hops, i+1, failAt)
			t.events = append(t.events, event{kind: evDelegated, svc: svc, span: sp, step: step, peer: hops[i+1],
				failed: failAt > i, depth: i})
			failed = failed || failAt > i
			continue
		}
		ev := event{kind: evTool, svc: svc, span: sp, step: step, tool: tool, depth: i}
		if failAt == i && step == steps {
			ev.failed, failed = true, true
		}
		if tool == "llm_call" {
			ev.in, ev.out = 150+g.rng.IntN(1800), 20+g.rng.IntN(600)
		}
		t.events = append(t.events, ev)
	}
	t.events = append(t.events, event{kind: evFinished, svc: svc, span: root, failed: failed, depth: i, step: steps})
}

func (g *Generator) fill(b []byte) {
	for {
		for i := 0; i < len(b); i += 8 {
			v := g.rng.Uint64()
			for j := i; j < i+8 && j < len(b); j++ {
				b[j] = byte(v)
				v >>= 8
			}
		}
		for _, c := range b {
			if c != 0 {
				return // W3C trace context: all-zero ids are invalid
			}
		}
	}
}

func appendHex(dst []byte, b []byte) []byte {
	return hex.AppendEncode(dst, b)
}

func appendInt(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }
