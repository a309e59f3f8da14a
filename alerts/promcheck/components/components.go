// Package components lists the metric series every agentobs component
// exports, from the real registries: each component's metric constructor,
// built the way its binary builds it (telemetry.NewRegistry, the shared-core
// producer and edge metrics, the readiness gauge). It is the one answer to
// "which metric names exist" for the alert rules' test (alerts/) and the
// dashboards' test (dashboards/gen). A rule or a panel reading a name not in
// this set reads nothing, forever.
//
// It lives apart from alerts/promcheck so that the rule lint
// (cmd/rulelint, installed on its own in users' CI) does not pull in
// every component.
package components

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentobs/agentobs/agent/agentmetrics"
	"github.com/agentobs/agentobs/alerts/promcheck"
	"github.com/agentobs/agentobs/collector/collectormetrics"
	indexer "github.com/agentobs/agentobs/indexer/app"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/internal/telemetry"
	"github.com/agentobs/agentobs/internal/tracing"
	shipper "github.com/agentobs/agentobs/shipper/app"
)

// Names are the components, as in agentobs_<component>_… metric names.
var Names = []string{"agent", "collector", "shipper", "indexer"}

// Registry builds component's registry as its binary does, with one series
// of every vector whose label values are open (topic, partition, service,
// output) so that Gather returns them. Nothing is connected or started.
func Registry(component string) (*prometheus.Registry, error) {
	reg := telemetry.NewRegistry() // go_* and process_*, as every component has them
	discard := slog.New(slog.DiscardHandler)
	switch component {
	case "agent":
		// agent/serve.go: agent.New registers agentmetrics on the registry
		// served by the telemetry server, which exports readiness.
		agentmetrics.New(reg, agentmetrics.Release{Version: "dev", Track: "stable"}, func() float64 { return 0 })
		// agent/serve.go: tracing.Setup registers the span export counters
		if _, _, err := tracing.SpanExportCounters(reg, "agent"); err != nil {
			return nil, err
		}
		if err := telemetry.NewServer("", reg, discard).ExportReadiness(reg, "agent"); err != nil {
			return nil, err
		}
	case "collector":
		// collector/internal/plugin.Process: one registry per Fluent Bit
		// process, readiness on the first Metrics_Addr listener.
		m := collectormetrics.New(reg, record.DefaultContentFields)
		m.ForOutput("agentobs.0")
		if err := telemetry.NewServer("", reg, discard).ExportReadiness(reg, "collector"); err != nil {
			return nil, err
		}
	case "shipper":
		cfg := shipper.DefaultConfig()
		cfg.HTTP.Ingest = true // an input; New only builds, it opens nothing
		if cfg.HTTPAddr == "" {
			return nil, fmt.Errorf("shipper: default -http.addr is empty, its server and readiness metric would not be built")
		}
		if _, err := shipper.New(cfg, shipper.Settings{Logger: discard, Registry: reg}); err != nil {
			return nil, fmt.Errorf("shipper app.New: %w", err)
		}
	case "indexer":
		a, err := indexer.New(indexer.DefaultConfig(), indexer.Settings{Logger: discard, Registry: reg})
		if err != nil {
			return nil, fmt.Errorf("indexer app.New: %w", err)
		}
		m := a.Metrics()
		m.Consumed.WithLabelValues("agentobs-logs", "0")
		m.LagRecords.WithLabelValues("agentobs-logs", "0")
		m.LagSeconds.WithLabelValues("agentobs-logs", "0")
		m.WithoutTrace.WithLabelValues("checkout")
		m.Records.WithLabelValues("checkout")
		m.Span.Spans.WithLabelValues("checkout", "error")
		a.Canary().Metrics().Age.WithLabelValues("shipper/host-0")
	default:
		return nil, fmt.Errorf("unknown component %q (want one of %v)", component, Names)
	}
	return reg, nil
}

// Exported is every series name the components export, each with its
// source ("collector registry"), plus the series Prometheus writes itself
// (promcheck.WellKnown).
func Exported() (promcheck.Exported, error) {
	e := promcheck.Exported{}
	for _, c := range Names {
		reg, err := Registry(c)
		if err != nil {
			return nil, err
		}
		if err := e.AddGatherer(reg, c+" registry"); err != nil {
			return nil, err
		}
	}
	for _, n := range promcheck.WellKnown {
		e.Add(n, "Prometheus")
	}
	return e, nil
}
