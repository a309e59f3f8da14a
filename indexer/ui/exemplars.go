package ui

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/agentobs/agentobs/indexer/trace"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Exemplars: an alert's traces from Prometheus. Alertmanager passes on the
// rule's generatorURL (Prometheus' /graph?g0.expr=<the rule's expression>);
// /api/v1/query_exemplars over that expression and the alert's window
// returns the exemplars of every series it selects, and the metrics of this
// stack put the trace id of an observation on its histogram bucket (the
// agent's latency histograms, the indexer's end-to-end latency). Only the
// configured Prometheus is asked, never the host a webhook body names.

// exemplarLabels are the exemplar label names that carry a trace id.
var exemplarLabels = []model.LabelName{"trace_id", "traceID", "trace.id", "traceId"}

const (
	maxExemplarTraces = 5               // trace links per alert
	exemplarTimeout   = 3 * time.Second // per alert: the page must not hang on Prometheus
	exemplarParallel  = 4
	alertLookback     = 5 * time.Minute // before the alert started: what made it fire
)

// expression is the PromQL of an alert's generator URL ("" when it has none).
func expression(generatorURL string) string {
	u, err := url.Parse(generatorURL)
	if err != nil {
		return ""
	}
	return u.Query().Get("g0.expr")
}

// exemplarTraces asks Prometheus for the exemplars of expr in [from, to]
// and returns their distinct trace ids, newest first, at most n.
func exemplarTraces(ctx context.Context, prom promv1.API, expr string, from, to time.Time, n int) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, exemplarTimeout)
	defer cancel()
	res, err := prom.QueryExemplars(ctx, expr, from, to)
	if err != nil {
		return nil, fmt.Errorf("query_exemplars: %w", err)
	}
	type ex struct {
		id string
		at model.Time
	}
	var all []ex
	for _, r := range res {
		for _, e := range r.Exemplars {
			for _, l := range exemplarLabels {
				if id := string(e.Labels[l]); id != "" {
					all = append(all, ex{id, e.Timestamp})
					break
				}
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].at > all[j].at })
	var ids []string
	for _, e := range all {
		if len(ids) == n {
			break
		}
		if !slices.Contains(ids, e.id) {
			ids = append(ids, e.id)
		}
	}
	return ids, nil
}

func newPrometheus(base string) (promv1.API, error) {
	if base == "" {
		return nil, nil
	}
	c, err := api.NewClient(api.Config{Address: base})
	if err != nil {
		return nil, fmt.Errorf("ui: prometheus URL %q: %w", base, err)
	}
	return promv1.NewAPI(c), nil
}

// alertTraces fills each row's traces: the trace the alert names; else the
// exemplars of its expression over its window from Prometheus; else the
// error traces of its service since alertLookback before it started.
// Prometheus is asked for several alerts at once, each bounded in time.
func (h *Handler) alertTraces(ctx context.Context, rows []alertRow) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, exemplarParallel)
	for i := range rows {
		row := &rows[i]
		if row.Trace.ID != "" {
			row.Traces, row.Why = []trace.Summary{{TraceID: row.Trace.ID}}, "named by the alert"
			continue
		}
		expr := expression(row.GeneratorURL)
		if h.prom == nil || expr == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			from, to := parseTime(row.StartsAt).Add(-alertLookback), time.Now()
			if end := parseTime(row.EndsAt); !end.IsZero() && end.Before(to) && row.Status == "resolved" {
				to = end
			}
			ids, err := exemplarTraces(ctx, h.prom, expr, from, to, maxExemplarTraces)
			if err != nil {
				row.PromErr = err.Error()
				return
			}
			for _, id := range ids {
				row.Traces = append(row.Traces, trace.Summary{TraceID: id})
			}
			if len(ids) > 0 {
				row.Why, row.Exemplars = "exemplars of the alert's expression from Prometheus", true
			}
		}()
	}
	wg.Wait()
	for i := range rows {
		row := &rows[i]
		if len(row.Traces) > 0 {
			continue
		}
		if row.Service.Name == "" {
			// Recording rules carry no exemplars: an alert on one (the
			// ingestion SLO burn rates) has none to show.
			row.Why = "none found: no trace id or service label, and no exemplars for its expression"
			continue
		}
		since := parseTime(row.StartsAt).Add(-alertLookback)
		var err error
		if row.Traces, err = h.l.List(ctx, trace.ListQuery{Service: row.Service.Name, Errors: true, Since: since, Limit: maxExemplarTraces}); err != nil {
			return err
		}
		row.Why = "error traces of " + row.Service.Name + " since the alert started"
	}
	return nil
}
