package rig

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
)

// Status is one look at the running pipeline, from the components' own
// metrics.
type Status struct {
	Uptime                 time.Duration
	ShipperLines           float64 // lines read by the shipper
	ShipperProduced        float64 // records acknowledged by Kafka, via the shipper
	PluginProduced         float64 // records acknowledged by Kafka, via the plugin
	PluginRetries          float64 // flushes answered FLB_RETRY
	Consumed, Indexed      float64
	Duplicates, DeadLetter float64
	Lag                    float64 // consumer lag of the record topic, records
	SpanLag                float64 // consumer lag of the span topic (0 without spans), spans
	P50, P99               float64 // end-to-end latency, seconds
}

// Status scrapes every component (a component that does not answer counts 0).
func (p *Pipeline) Status(ctx context.Context) Status {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s := Status{Uptime: p.Uptime()}
	if m, err := Scrape(ctx, "http://"+p.opt.ShipperAddr+"/metrics"); err == nil {
		s.ShipperLines = m.Sum("agentobs_shipper_lines_read_total")
		s.ShipperProduced = m.Sum("agentobs_shipper_records_produced_total", "outcome", "ok")
	}
	if p.opt.PluginRate > 0 {
		if m, err := Scrape(ctx, "http://"+p.opt.PluginAddr+"/metrics"); err == nil {
			s.PluginProduced = m.Sum("agentobs_collector_records_produced_total", "outcome", "ok")
			s.PluginRetries = m.Sum("agentobs_collector_flushes_total", "result", "retry")
		}
	}
	if m, err := Scrape(ctx, "http://"+p.opt.IndexerAddr+"/metrics"); err == nil {
		s.Consumed = m.Sum("agentobs_indexer_records_consumed_total")
		s.Indexed = m.Sum("agentobs_indexer_documents_indexed_total")
		s.Duplicates = m.Sum("agentobs_indexer_duplicates_total")
		s.DeadLetter = m.Sum("agentobs_indexer_dead_letters_total")
		// One series per topic and partition: the record pipeline's and
		// the span pipeline's lag are told apart, never added up.
		s.Lag = m.Sum("agentobs_indexer_consumer_lag_records", "topic", p.opt.Names.Topic)
		if p.opt.Names.SpansTopic != "" {
			s.SpanLag = m.Sum("agentobs_indexer_consumer_lag_records", "topic", p.opt.Names.SpansTopic)
		}
		s.P50, s.P99 = p.latency(m, 0.50), p.latency(m, 0.99)
	}
	return s
}

func fmtLatency(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	if v < 1 {
		return fmt.Sprintf("%.0fms", v*1000)
	}
	return fmt.Sprintf("%.2fs", v)
}

// Line renders the status as one compact line for a refreshing display.
func (s Status) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%5.0fs │ shipper read %s produced %s", s.Uptime.Seconds(), human(s.ShipperLines), human(s.ShipperProduced))
	if s.PluginProduced > 0 || s.PluginRetries > 0 {
		fmt.Fprintf(&b, " │ plugin produced %s", human(s.PluginProduced))
	}
	fmt.Fprintf(&b, " │ indexed %s dup %s dlq %s lag %s", human(s.Indexed), human(s.Duplicates), human(s.DeadLetter), human(s.Lag))
	if s.SpanLag > 0 {
		fmt.Fprintf(&b, " (spans %s)", human(s.SpanLag))
	}
	fmt.Fprintf(&b, " │ e2e p50 %s p99 %s", fmtLatency(s.P50), fmtLatency(s.P99))
	return b.String()
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
