package promcheck

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetricNames(t *testing.T) {
	f := func(expr string, want ...string) {
		t.Helper()
		got, err := MetricNames(expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", expr, got, want)
		}
	}
	f(`up == 0`, "up")
	f(`sum by (job) (rate(a_total[5m])) / sum by (job) (rate(b_count[5m]))`, "a_total", "b_count")
	f(`histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > scalar(lvl:y:sum)`, "lvl:y:sum", "x_bucket")
	f(`{__name__="z"} offset 1h and z`, "z")
	f(`vector(1)`)
	if _, err := MetricNames(`{__name__=~"agentobs_.*"}`); err == nil {
		t.Error("regex name selector accepted")
	}
	if _, err := MetricNames(`rate(x[5m]`); err == nil {
		t.Error("bad PromQL accepted")
	}
}

func TestExportedExpandsHistograms(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds"}),
		prometheus.NewCounter(prometheus.CounterOpts{Name: "c_total"}),
		prometheus.NewSummary(prometheus.SummaryOpts{Name: "s"}))
	e := Exported{}
	if err := e.AddGatherer(reg, "test"); err != nil {
		t.Fatal(err)
	}
	want := []string{"h_seconds_bucket", "h_seconds_sum", "h_seconds_count", "c_total", "s", "s_sum", "s_count"}
	if m := e.Missing(want); len(m) > 0 {
		t.Errorf("missing %v in %v", m, e)
	}
	if e.Has("h_seconds") {
		t.Error("a histogram's bare name is not a series")
	}
}
