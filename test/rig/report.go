package rig

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/agentobs/agentobs/indexer/trace"
	"github.com/elastic/go-elasticsearch/v8"
)

// Report is what a run wrote and what Elasticsearch holds of it, exactly.
type Report struct {
	WrittenFiles, WrittenPlugin, WrittenAgents int64 // records written by the file load generator, the plugin corpus, the live agents
	FilesDocs, FilesDistinct                   int64 // documents of the file run, distinct seq among them
	PluginDocs, PluginDistinct                 int64
	AgentDocs                                  int64 // documents from the live agents (service.instance.id of this run)
	AgentSpans                                 int64 // span documents from the live agents (OTLP through the shipper), -1 when spans are off
	Traces, ErrorTraces                        int64
	DeadLetters                                float64
	P50, P95, P99                              float64 // after the warm-up, if one was marked
	// Warmup is how long the warm-up ran from the pipeline's start (0: none
	// marked), WarmP* its latencies.
	Warmup                    time.Duration
	WarmP50, WarmP95, WarmP99 float64
	FailingTrace              *trace.View
}

// Written is every record written.
func (r Report) Written() int64 { return r.WrittenFiles + r.WrittenPlugin + r.WrittenAgents }

// Lost is written minus found (distinct).
func (r Report) Lost() int64 {
	lost := (r.WrittenFiles - r.FilesDistinct) + (r.WrittenPlugin - r.PluginDistinct)
	if d := r.WrittenAgents - r.AgentDocs; d > 0 {
		lost += d
	}
	return lost
}

// Duplicates is documents beyond one per record.
func (r Report) Duplicates() int64 {
	d := (r.FilesDocs - r.FilesDistinct) + (r.PluginDocs - r.PluginDistinct)
	if x := r.AgentDocs - r.WrittenAgents; x > 0 {
		d += x
	}
	return d
}

// Collect counts the run in Elasticsearch (after a refresh).
func (p *Pipeline) Collect(ctx context.Context, cl *elasticsearch.Client) (Report, error) {
	r := Report{AgentSpans: -1}
	files, plugin, err := p.LoadgenReports()
	if err != nil {
		return r, fmt.Errorf("load generator report: %w", err)
	}
	r.WrittenFiles, r.Traces, r.ErrorTraces = files.Records, files.Traces, files.ErrorTraces
	if plugin != nil {
		r.WrittenPlugin = plugin.Records
		r.Traces += plugin.Traces
		r.ErrorTraces += plugin.ErrorTraces
	}
	if r.WrittenAgents, err = p.AgentLines(); err != nil {
		return r, err
	}
	alias := p.opt.Names.Alias
	if err := Refresh(ctx, cl, alias); err != nil {
		return r, err
	}
	t, err := CountRun(ctx, cl, alias, p.opt.RunID)
	if err != nil {
		return r, err
	}
	r.FilesDocs, r.FilesDistinct = t.Docs, t.Distinct
	if plugin != nil {
		t, err := CountRun(ctx, cl, alias, p.opt.RunID+"-fb")
		if err != nil {
			return r, err
		}
		r.PluginDocs, r.PluginDistinct = t.Docs, t.Distinct
	}
	if len(p.Agents) > 0 {
		var ids []string
		for _, a := range p.Agents {
			ids = append(ids, fmt.Sprintf("%q", p.opt.RunID+"-"+a.Name))
		}
		var res struct {
			Hits struct {
				Total struct {
					Value int64 `json:"value"`
				} `json:"total"`
			} `json:"hits"`
		}
		// The agents stamp their instance id (-id) as gen_ai.agent.id on every line.
		q := `{"size":0,"track_total_hits":true,"query":{"terms":{"gen_ai.agent.id":[` + strings.Join(ids, ",") + `]}}}`
		if err := esJSON(ctx, cl, alias, q, &res); err != nil {
			return r, err
		}
		r.AgentDocs = res.Hits.Total.Value
		if sa := p.opt.Names.SpansAlias; p.opt.Names.SpansTopic != "" {
			// The agents export their instance id as the service.instance.id resource attribute.
			q := `{"size":0,"track_total_hits":true,"query":{"terms":{"service.instance.id":[` + strings.Join(ids, ",") + `]}}}`
			if err := Refresh(ctx, cl, sa); err != nil {
				return r, err
			}
			if err := esJSON(ctx, cl, sa, q, &res); err != nil {
				return r, err
			}
			r.AgentSpans = res.Hits.Total.Value
		}
	}
	s := p.Status(ctx)
	r.DeadLetters = s.DeadLetter
	if m, err := Scrape(ctx, "http://"+p.opt.IndexerAddr+"/metrics"); err == nil {
		r.P50, r.P95, r.P99 = p.latency(m, 0.50), p.latency(m, 0.95), p.latency(m, 0.99)
	}
	p.warm.mu.Lock()
	r.Warmup, r.WarmP50, r.WarmP95, r.WarmP99 = p.warm.took, p.warm.p50, p.warm.p95, p.warm.p99
	p.warm.mu.Unlock()
	return r, nil
}

// Drain waits until every written record is in Elasticsearch or timeout
// passes, showing progress through tick; it returns the last Report.
func (p *Pipeline) Drain(ctx context.Context, cl *elasticsearch.Client, timeout time.Duration, tick func(Report)) (Report, error) {
	deadline := time.Now().Add(timeout)
	for {
		r, err := p.Collect(ctx, cl)
		if err == nil && r.Lost() <= 0 {
			return r, nil
		}
		if err == nil && tick != nil {
			tick(r)
		}
		if time.Now().After(deadline) {
			if err != nil {
				return r, err
			}
			return r, fmt.Errorf("after %s, %d of %d records are not in Elasticsearch", timeout, r.Lost(), r.Written())
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// FailingTrace finds a failing trace of this run that crosses the most
// services and returns its lookup from the indexer.
func (p *Pipeline) FailingTrace(ctx context.Context) (*trace.View, error) {
	c := trace.Client{BaseURL: "http://" + p.opt.IndexerAddr}
	list, err := c.List(ctx, trace.ListQuery{Errors: true, Limit: 200, Since: p.started.Add(-time.Minute)})
	if err != nil {
		return nil, fmt.Errorf("list failing traces: %w", err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("no failing trace found")
	}
	if p.opt.Names.SpansTopic != "" && len(p.Agents) > 0 {
		if v := p.failingWithSpans(ctx, c, list); v != nil {
			return v, nil
		}
	}
	return c.Trace(ctx, widest(list).TraceID, trace.Page{Size: 200})
}

// failingWithSpans is the widest failing trace of the live agents whose
// spans are stored (the load generators write logs only), or nil.
func (p *Pipeline) failingWithSpans(ctx context.Context, c trace.Client, list []trace.Summary) *trace.View {
	agents := map[string]bool{}
	for _, a := range p.Agents {
		agents[strings.TrimSuffix(a.Name, "-canary")] = true
	}
	var cands []trace.Summary
	for _, s := range list {
		if slices.ContainsFunc(s.Services, func(svc string) bool { return agents[svc] }) {
			cands = append(cands, s)
		}
	}
	for tries := 0; tries < 5 && len(cands) > 0; tries++ {
		best := widest(cands)
		cands = slices.DeleteFunc(cands, func(s trace.Summary) bool { return s.TraceID == best.TraceID })
		if v, err := c.Trace(ctx, best.TraceID, trace.Page{Size: 200}); err == nil && v.Spans != nil && v.Spans.SpanCount > 0 {
			return v
		}
	}
	return nil
}

// widest is the trace that crosses the most services (then has the most
// records): the one that shows the most of what happened.
func widest(list []trace.Summary) trace.Summary {
	best := list[0]
	for _, t := range list {
		if len(t.Services) > len(best.Services) || (len(t.Services) == len(best.Services) && t.RecordCount > best.RecordCount) {
			best = t
		}
	}
	return best
}

// Write prints the report for people.
func (r Report) Write(w io.Writer) {
	fmt.Fprintf(w, "\n  records written        %10d  (shipper files %d, plugin %d, live agents %d)\n", r.Written(), r.WrittenFiles, r.WrittenPlugin, r.WrittenAgents)
	fmt.Fprintf(w, "  records indexed        %10d\n", r.FilesDistinct+r.PluginDistinct+min(r.AgentDocs, r.WrittenAgents))
	fmt.Fprintf(w, "  lost                   %10d\n", r.Lost())
	fmt.Fprintf(w, "  duplicated             %10d\n", r.Duplicates())
	fmt.Fprintf(w, "  dead letters           %10.0f\n", r.DeadLetters)
	fmt.Fprintf(w, "  traces (load gen)      %10d  (%d failing)\n", r.Traces, r.ErrorTraces)
	if r.AgentSpans >= 0 {
		fmt.Fprintf(w, "  spans (live agents)    %10d  (OTLP/HTTP → shipper → Kafka → indexer)\n", r.AgentSpans)
	}
	if r.Warmup == 0 {
		fmt.Fprintf(w, "  e2e latency            p50 %s  p95 %s  p99 %s  (write → searchable)\n", fmtLatency(r.P50), fmtLatency(r.P95), fmtLatency(r.P99))
		return
	}
	fmt.Fprintf(w, "  e2e latency            p50 %s  p95 %s  p99 %s  (write → searchable, after the warm-up)\n", fmtLatency(r.P50), fmtLatency(r.P95), fmtLatency(r.P99))
	fmt.Fprintf(w, "    during the warm-up   p50 %s  p95 %s  p99 %s  (the first %s: pipeline just started, servers perhaps too)\n",
		fmtLatency(r.WarmP50), fmtLatency(r.WarmP95), fmtLatency(r.WarmP99), r.Warmup.Round(time.Second))
}
