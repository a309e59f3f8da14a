package rig

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// latencyMetric is the indexer's write → searchable histogram (log records only).
const latencyMetric = "agentobs_indexer_e2e_latency_seconds"

// warmup is the end of a run's warm-up: the indexer's latency histogram as
// it stood then, so later quantiles count only what came after, and the
// warm-up's own quantiles for the report.
type warmup struct {
	mu            sync.Mutex
	base          Metrics
	took          time.Duration
	p50, p95, p99 float64
}

// EndWarmup marks the end of the warm-up (traffic that ran while the
// servers and the pipeline were freshly started): Status and Report give
// the latency of what is indexed from now on, and the report shows the
// warm-up's beside it. Records written during the warm-up still count in
// written, lost and duplicated.
func (p *Pipeline) EndWarmup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := Scrape(ctx, "http://"+p.opt.IndexerAddr+"/metrics")
	if err != nil {
		return fmt.Errorf("end of warm-up: %w", err)
	}
	w := &p.warm
	w.mu.Lock()
	defer w.mu.Unlock()
	w.base, w.took = m, p.Uptime()
	w.p50, w.p95, w.p99 = m.Quantile(latencyMetric, 0.50), m.Quantile(latencyMetric, 0.95), m.Quantile(latencyMetric, 0.99)
	return nil
}

// latency is quantile q of the latencies observed since the warm-up ended
// (all of them when it was not marked).
func (p *Pipeline) latency(m Metrics, q float64) float64 {
	p.warm.mu.Lock()
	base := p.warm.base
	p.warm.mu.Unlock()
	return m.QuantileSince(latencyMetric, q, base)
}
