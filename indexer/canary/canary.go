// Package canary is the indexer's end-to-end canary prober. Every front
// door (the shipper, each Fluent Bit plugin instance) injects a canary
// record through its own publish path every canary.interval
// (internal/publish, canary.go); the indexer indexes it like any record.
// This prober asks Elasticsearch, every probe interval, for the newest
// searchable canary per source and exports its age
// (agentobs_indexer_canary_age_seconds{source}): a path that stalls
// anywhere between a front door and a searchable document shows as an age
// that grows, and AgentobsCanaryStale fires.
//
// Sources come and go (a shipper scaled down, a Fluent Bit reloaded): a
// source whose newest canary is marked final (a clean stop) is dropped at
// once, and a source without any canary for Forget is dropped too, so a
// vanished front door alerts for Forget minus the alert's threshold and
// then stops. While Elasticsearch cannot be asked, the ages keep growing
// from the last canaries seen: nothing newer is searchable then either.
package canary

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/agentobs/agentobs/internal/record"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is the prober's configuration.
type Config struct {
	// Interval between probes; 0 turns the prober off. Default 15s.
	Interval time.Duration `yaml:"interval"`
	// Forget drops a source whose newest canary is older than this (a
	// front door gone without a clean stop). Default 15m.
	Forget time.Duration `yaml:"forget"`
	// MaxSources bounds the sources asked for and exported. Default 1000.
	MaxSources int `yaml:"max_sources"`
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{Interval: 15 * time.Second, Forget: 15 * time.Minute, MaxSources: 1000}
}

// RegisterFlags binds c to canary.probe-interval, canary.forget and
// canary.max-sources under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.Interval, prefix+"canary.probe-interval", c.Interval,
		"how often the newest searchable canary record per front door is looked up in Elasticsearch (0: off)")
	fs.DurationVar(&c.Forget, prefix+"canary.forget", c.Forget,
		"a front door whose newest canary is older than this is forgotten (its age series removed); one that stopped cleanly is forgotten at once")
	fs.IntVar(&c.MaxSources, prefix+"canary.max-sources", c.MaxSources, "most canary sources tracked")
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < 100*time.Millisecond) {
		errs = append(errs, fmt.Errorf("canary.probe-interval: %s, want 0 (off) or >= 100ms", c.Interval))
	}
	if c.Interval > 0 && c.Forget <= c.Interval {
		errs = append(errs, fmt.Errorf("canary.forget: %s, want longer than canary.probe-interval %s", c.Forget, c.Interval))
	}
	if c.MaxSources < 1 {
		errs = append(errs, fmt.Errorf("canary.max-sources: %d, want >= 1", c.MaxSources))
	}
	return errors.Join(errs...)
}

// Metrics of the prober.
type Metrics struct {
	Age     *prometheus.GaugeVec // source
	Sources prometheus.Gauge
	Errors  prometheus.Counter
}

// NewMetrics registers the prober's metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "agentobs_indexer_canary_"
	m := &Metrics{
		Age: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "age_seconds",
			Help: "Seconds since the newest searchable end-to-end canary record of each front door (source) was emitted."}, []string{"source"}),
		Sources: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "sources",
			Help: "Front doors whose canaries the prober tracks (not forgotten, not stopped cleanly)."}),
		Errors: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "probe_errors_total",
			Help: "Canary probes that could not ask Elasticsearch (the ages keep growing from the last canaries seen)."}),
	}
	if reg != nil {
		reg.MustRegister(m.Age, m.Sources, m.Errors)
	}
	return m
}

// Prober looks up the newest canary per source. Probe and Run are safe
// for concurrent use.
type Prober struct {
	cfg   Config
	es    *elasticsearch.Client
	index string
	m     *Metrics
	log   *slog.Logger
	now   func() time.Time

	mu     sync.Mutex
	newest map[string]time.Time // emit time of the newest canary seen, per source
}

// New builds a prober over index (the log alias); no I/O.
func New(cfg Config, es *elasticsearch.Client, index string, m *Metrics, log *slog.Logger) (*Prober, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Prober{cfg: cfg, es: es, index: index, m: m, log: log.With("component", "canary"), now: time.Now, newest: map[string]time.Time{}}, nil
}

// Run probes every Interval until ctx ends.
func (p *Prober) Run(ctx context.Context) {
	if p.cfg.Interval <= 0 {
		return
	}
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	failing := false
	for {
		err := p.Probe(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && !failing:
			failing = true
			p.log.Warn("canary probe failed; canary ages keep growing until it succeeds", "err", err)
		case err == nil && failing:
			failing = false
			p.log.Info("canary probe recovered")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Metrics are the prober's metrics.
func (p *Prober) Metrics() *Metrics { return p.m }

// Ages returns the current age per tracked source (tests, the CLI).
func (p *Prober) Ages() map[string]time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	out := make(map[string]time.Duration, len(p.newest))
	for s, t := range p.newest {
		out[s] = max(now.Sub(t), 0)
	}
	return out
}

// Probe asks Elasticsearch once and updates the ages. On error the ages
// are still advanced (from the canaries seen before) and the error counted.
func (p *Prober) Probe(ctx context.Context) error {
	found, err := p.search(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if err != nil {
		p.m.Errors.Inc()
	} else {
		for s, c := range found {
			if c.final {
				delete(p.newest, s)
				continue
			}
			if c.at.After(p.newest[s]) {
				p.newest[s] = c.at
			}
		}
	}
	for s, t := range p.newest {
		if now.Sub(t) > p.cfg.Forget {
			delete(p.newest, s)
		}
	}
	// Series of sources no longer tracked are removed, not left at their
	// last value: a forgotten or stopped front door must not alert.
	p.m.Age.Reset()
	for s, t := range p.newest {
		p.m.Age.WithLabelValues(s).Set(max(now.Sub(t), 0).Seconds())
	}
	p.m.Sources.Set(float64(len(p.newest)))
	return err
}

type newestCanary struct {
	at    time.Time
	final bool
}

// search returns the newest canary of every source with one in the last
// Forget: a terms aggregation on the canary's source with its newest hit.
func (p *Prober) search(ctx context.Context) (map[string]newestCanary, error) {
	body := fmt.Sprintf(`{"size":0,"query":{"bool":{"filter":[{"exists":{"field":%q}},{"range":{%q:{"gte":"now-%ds"}}}]}},`+
		`"aggs":{"s":{"terms":{"field":%q,"size":%d},"aggs":{"last":{"top_hits":{"size":1,"_source":false,`+
		`"sort":[{%q:{"order":"desc"}}],"fields":[{"field":%q,"format":"strict_date_optional_time_nanos"},%q]}}}}}}`,
		record.FieldCanary, record.FieldTimestamp, int64(p.cfg.Forget.Seconds()),
		record.FieldCanary, p.cfg.MaxSources, record.FieldTimestamp, record.FieldTimestamp, record.FieldCanaryFinal)
	res, err := p.es.Search(p.es.Search.WithContext(ctx), p.es.Search.WithIndex(p.index), p.es.Search.WithBody(strings.NewReader(body)),
		p.es.Search.WithIgnoreUnavailable(true), p.es.Search.WithAllowNoIndices(true))
	if err != nil {
		return nil, fmt.Errorf("canary search %s: %w", p.index, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		return nil, fmt.Errorf("canary search %s: %s: %s", p.index, res.Status(), b)
	}
	var r struct {
		Aggregations struct {
			S struct {
				Buckets []struct {
					Key  string `json:"key"`
					Last struct {
						Hits struct {
							Hits []struct {
								Fields map[string][]json.RawMessage `json:"fields"`
							} `json:"hits"`
						} `json:"hits"`
					} `json:"last"`
				} `json:"buckets"`
			} `json:"s"`
		} `json:"aggregations"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("canary search %s: decode: %w", p.index, err)
	}
	out := make(map[string]newestCanary, len(r.Aggregations.S.Buckets))
	for _, b := range r.Aggregations.S.Buckets {
		if len(b.Last.Hits.Hits) == 0 {
			continue
		}
		f := b.Last.Hits.Hits[0].Fields
		var ts string
		if v := f[record.FieldTimestamp]; len(v) > 0 {
			_ = json.Unmarshal(v[0], &ts)
		}
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return nil, fmt.Errorf("canary search %s: source %q: emit time %q: %w", p.index, b.Key, ts, err)
		}
		var final bool
		if v := f[record.FieldCanaryFinal]; len(v) > 0 {
			_ = json.Unmarshal(v[0], &final)
		}
		out[b.Key] = newestCanary{at: at, final: final}
	}
	return out, nil
}
