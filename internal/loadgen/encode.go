package loadgen

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// lorem is the text that pads lines up to RecordSize: words as a model's
// output would have them, cheap to copy.
var lorem = func() string {
	var b strings.Builder
	for i := 0; b.Len() < 8192; i++ {
		b.WriteString(words[(i*7+i/len(words))%len(words)])
		b.WriteByte(' ')
	}
	return b.String()
}()

var medianMS = map[string]float64{"search": 80, "calculator": 2, "http_fetch": 150, "llm_call": 600, "delegate": 900}

// head writes the fields every line starts with, in the order the agent's
// slog JSON handler writes them: time, level, msg, then the logger's own
// attributes.
func (g *Generator) head(ts time.Time, level, msg string, svc, instance int) {
	b := g.buf[:0]
	b = append(b, `{"time":"`...)
	b = ts.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, level...)
	b = append(b, `","msg":"`...)
	b = append(b, msg...)
	b = append(b, `","service.name":"`...)
	b = append(b, g.cfg.Services[svc]...)
	b = append(b, `","gen_ai.agent.id":"`...)
	b = append(b, g.cfg.Services[svc]...)
	b = append(b, '-')
	b = appendInt(b, int64(instance))
	b = append(b, '"')
	g.buf = b
}

func (g *Generator) str(key, val string) {
	g.buf = append(g.buf, `,"`...)
	g.buf = append(g.buf, key...)
	g.buf = append(g.buf, `":"`...)
	g.buf = append(g.buf, val...)
	g.buf = append(g.buf, '"')
}

func (g *Generator) num(key string, v int64) {
	g.buf = append(g.buf, `,"`...)
	g.buf = append(g.buf, key...)
	g.buf = append(g.buf, `":`...)
	g.buf = appendInt(g.buf, v)
}

func (g *Generator) float(key string, v float64) {
	g.buf = append(g.buf, `,"`...)
	g.buf = append(g.buf, key...)
	g.buf = append(g.buf, `":`...)
	g.buf = strconv.AppendFloat(g.buf, v, 'f', 3, 64)
}

// duration draws a log-normal latency in milliseconds around a median.
func (g *Generator) duration(median float64) float64 {
	return math.Round(median*math.Exp(0.5*g.rng.NormFloat64())*1000) / 1000
}

// tail pads the line to RecordSize with padKey, writes the run id, seq and
// (for traced lines) trace_id and span_id last, as the trace handler
// appends them, and closes the line.
func (g *Generator) tail(padKey string, traceID, spanID []byte) {
	g.str("loadgen.run_id", g.cfg.RunID)
	g.num("seq", g.seq)
	if g.cfg.RecordSize > 0 {
		rest := 2 // "}\n"
		if traceID != nil {
			rest += len(`,"trace_id":"","span_id":""`) + 2*len(traceID) + 2*len(spanID)
		}
		pad := g.cfg.RecordSize - len(g.buf) - rest - len(`,"":""`) - len(padKey)
		if pad > 0 {
			g.buf = append(g.buf, `,"`...)
			g.buf = append(g.buf, padKey...)
			g.buf = append(g.buf, `":"`...)
			off := int(g.seq % 97)
			for pad > 0 {
				n := min(pad, len(lorem)-off)
				g.buf = append(g.buf, lorem[off:off+n]...)
				pad -= n
				off = 0
			}
			g.buf = append(g.buf, '"')
		}
	}
	if traceID != nil {
		g.buf = append(g.buf, `,"trace_id":"`...)
		g.buf = appendHex(g.buf, traceID)
		g.buf = append(g.buf, `","span_id":"`...)
		g.buf = appendHex(g.buf, spanID)
		g.buf = append(g.buf, '"')
	}
	g.buf = append(g.buf, "}\n"...)
}

func (g *Generator) traced(ts time.Time, t *trace, ev *event) Line {
	level, msg, pad := "INFO", "", "detail"
	switch ev.kind {
	case evAccepted:
		msg = "task accepted"
	case evPerceived:
		level, msg = "DEBUG", "perceived"
	case evDecided:
		msg = "decided"
	case evTool:
		msg, pad = "tool call finished", "gen_ai.tool.call.result"
		if ev.failed {
			level, msg = "WARN", "tool call failed"
		}
	case evDelegated:
		msg = "delegation finished"
		if ev.failed {
			level, msg = "WARN", "delegation failed"
		}
	case evFinished:
		msg = "task finished"
		if ev.failed {
			level, msg = "ERROR", "task failed"
		}
	}
	g.head(ts, level, msg, ev.svc, int((t.taskID+uint64(ev.depth))%3))
	if ev.step > 0 && ev.kind != evFinished {
		g.num("agent.step", int64(ev.step))
	}
	switch ev.kind {
	case evAccepted:
		source := "env"
		if ev.depth > 0 {
			source = "peer"
		}
		g.taskID(t, ev.depth)
		g.str("task.kind", t.kind)
		g.str("task.source", source)
		g.num("task.depth", int64(ev.depth))
	case evPerceived:
		g.str("task.kind", t.kind)
		g.float("percept.value", g.rng.Float64())
		g.num("percept.kept", int64(7+g.rng.IntN(2)))
		g.num("percept.dropped", int64(g.rng.IntN(2)))
	case evDecided:
		policy := "threshold"
		if ev.svc%2 == 1 {
			policy = "epsilon_greedy"
		}
		g.str("policy", policy)
		g.str("decision.choice", ev.choice)
		g.str("decision.action", ev.tool)
	case evTool:
		g.str("component", "executor")
		g.str("gen_ai.tool.name", ev.tool)
		g.buf = append(g.buf, `,"gen_ai.tool.call.id":"call_`...)
		g.buf = appendInt(g.buf, int64(t.taskID*8+uint64(ev.step)))
		g.buf = append(g.buf, '"')
		outcome := "success"
		if ev.failed {
			outcome = "error"
		}
		g.str("outcome", outcome)
		g.float("duration_ms", g.duration(medianMS[ev.tool]))
		if ev.in > 0 {
			g.num("gen_ai.usage.input_tokens", int64(ev.in))
			g.num("gen_ai.usage.output_tokens", int64(ev.out))
		}
		if ev.failed {
			g.str("error.type", "error")
			g.buf = append(g.buf, `,"error.message":"`...)
			g.buf = append(g.buf, ev.tool...)
			g.buf = append(g.buf, `: simulated failure"`...)
		}
	case evDelegated:
		g.str("component", "executor")
		g.str("peer", g.cfg.Services[ev.peer])
		outcome := "success"
		if ev.failed {
			outcome = "error"
			g.str("error.type", "error")
		}
		g.str("outcome", outcome)
		g.float("duration_ms", g.duration(medianMS["delegate"]))
	case evFinished:
		g.taskID(t, ev.depth)
		outcome := "success"
		if ev.failed {
			outcome = "error"
			g.str("error.message", "a tool call failed")
		}
		g.str("outcome", outcome)
		g.num("steps", int64(ev.step))
		g.float("duration_ms", g.duration(medianMS["delegate"]*float64(1+ev.step)))
	}
	g.tail(pad, t.id[:], ev.span[:])
	g.count(ev.svc, level, len(g.buf))
	return Line{Data: g.buf, Seq: g.seq, Service: g.cfg.Services[ev.svc], Level: level, TraceID: appendHex(g.tid[:0], t.id[:])}
}

// taskID writes the id the agent gives a task: a delegated sub-task gets
// the parent's id plus "/d<depth>".
func (g *Generator) taskID(t *trace, depth int) {
	g.buf = append(g.buf, `,"task.id":"`...)
	g.buf = append(g.buf, g.cfg.RunID...)
	g.buf = append(g.buf, "-t"...)
	g.buf = appendInt(g.buf, int64(t.taskID))
	for d := 1; d <= depth; d++ {
		g.buf = append(g.buf, "/d"...)
		g.buf = appendInt(g.buf, int64(d))
	}
	g.buf = append(g.buf, '"')
}

// untraced writes a line outside any trace: the agent's periodic
// housekeeping, which real fleets interleave with request logs.
func (g *Generator) untraced(ts time.Time) Line {
	svc := g.rng.IntN(len(g.cfg.Services))
	level, msg := "INFO", "heartbeat"
	switch r := g.rng.IntN(10); {
	case r < 3:
		level, msg = "DEBUG", "queue stats"
	case r == 3:
		level, msg = "WARN", "slow metrics scrape"
	}
	g.head(ts, level, msg, svc, g.rng.IntN(3))
	g.num("queue_depth", int64(g.rng.IntN(64)))
	g.num("tasks_in_flight", int64(g.rng.IntN(5)))
	g.tail("detail", nil, nil)
	g.count(svc, level, len(g.buf))
	g.report.NoTraceRecords++
	return Line{Data: g.buf, Seq: g.seq, Service: g.cfg.Services[svc], Level: level}
}
