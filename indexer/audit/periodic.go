package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the periodic audit. No producer label: producer ids are
// unbounded (one per file generation); the per-producer detail is in the
// CLI and GET /v1/audit.
type Metrics struct {
	Missing   prometheus.Gauge
	Refused   prometheus.Gauge
	Producers prometheus.Gauge
	Runs      *prometheus.CounterVec // outcome = ok, error
	Duration  prometheus.Gauge
}

// NewMetrics registers the audit metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "agentobs_indexer_"
	m := &Metrics{
		Missing: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "records_missing",
			Help: "Records missing at the last audit: producer sequence numbers found neither in Elasticsearch nor in the dead-letter topic (audit.window, minus audit.grace)."}),
		Refused: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "records_refused",
			Help: "Records refused to their clients at the last audit: sequence numbers a front door stamped and then answered 429 or 503 for (the client sends them again under new numbers), found nowhere; not counted as missing."}),
		Producers: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "audit_producers",
			Help: "Producers (front-door instances and inputs) seen by the last audit."}),
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "audit_runs_total",
			Help: "Periodic loss audits, by outcome."}, []string{"outcome"}),
		Duration: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "audit_duration_seconds",
			Help: "How long the last audit took."}),
	}
	m.Runs.WithLabelValues("ok")
	m.Runs.WithLabelValues("error")
	if reg != nil {
		reg.MustRegister(m.Missing, m.Refused, m.Producers, m.Runs, m.Duration)
	}
	return m
}

// Loop audits every cfg.Interval until ctx ends (the first audit after one
// interval: a fresh indexer has nothing to say yet).
func (a *Auditor) Loop(ctx context.Context, cfg Config, m *Metrics, log *slog.Logger) {
	if cfg.Interval <= 0 {
		return
	}
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		r, err := a.Run(ctx, cfg.Window, cfg.Grace)
		m.Duration.Set(time.Since(start).Seconds())
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.setLast(Last{At: start, Err: err})
			m.Runs.WithLabelValues("error").Inc()
			log.Warn("loss audit failed", "err", err)
			continue
		}
		m.Runs.WithLabelValues("ok").Inc()
		a.setLast(Last{At: start, Report: r})
		m.Missing.Set(float64(r.Missing))
		m.Refused.Set(float64(r.Refused))
		m.Producers.Set(float64(len(r.Producers)))
		if r.Missing > 0 {
			log.Warn("loss audit found missing records", "missing", r.Missing, "producers", len(r.Producers),
				"worst_producer", r.Producers[0].ID, "worst_missing", r.Producers[0].Missing)
		}
	}
}

// Last is the periodic audit's last run: its report, or why it failed.
type Last struct {
	At     time.Time
	Report Report
	Err    error
}

func (a *Auditor) setLast(l Last) {
	a.mu.Lock()
	a.last = &l
	a.mu.Unlock()
}

// LastRun is the periodic audit's last run (nil: none yet), for the
// explorer's health page.
func (a *Auditor) LastRun() *Last {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == nil {
		return nil
	}
	l := *a.last
	return &l
}

// Handler answers GET /v1/audit?since=1h&grace=2m with the report as JSON.
func (a *Auditor) Handler(def Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		since, grace := def.Window, def.Grace
		for _, p := range []struct {
			name string
			dst  *time.Duration
		}{{"since", &since}, {"grace", &grace}} {
			if v := r.URL.Query().Get(p.name); v != "" {
				d, err := time.ParseDuration(v)
				if err != nil || d < 0 {
					http.Error(w, fmt.Sprintf("%s: want a duration such as 1h", p.name), http.StatusBadRequest)
					return
				}
				*p.dst = d
			}
		}
		if since <= grace {
			http.Error(w, "since must be longer than grace", http.StatusBadRequest)
			return
		}
		rep, err := a.Run(r.Context(), since, grace)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rep)
	})
}

// WriteTable prints a report for people: producers with missing records
// first, then the others, then the totals.
func WriteTable(w io.Writer, r Report) {
	fmt.Fprintf(w, "audit %s .. %s (records newer than the end are in flight and left out)\n\n",
		r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PRODUCER\tFIRST\tLAST\tMARKED\tINDEXED\tDEAD-LETTERED\tREFUSED\tMISSING\tSURPLUS\t")
	for _, p := range r.Producers {
		marked := "-"
		if p.MarkedSeq > 0 {
			marked = fmt.Sprint(p.MarkedSeq)
			if p.Ended {
				marked += " (ended)"
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t\n", p.ID, p.FirstSeq, p.LastSeq, marked, p.Indexed, p.DeadLettered, p.Refused, p.Missing, p.Surplus)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nproducers=%d indexed=%d dead_lettered=%d refused=%d missing=%d unattributed_dead_letters=%d\n",
		len(r.Producers), r.Indexed, r.DeadLettered, r.Refused, r.Missing, r.Unattributed)
}
