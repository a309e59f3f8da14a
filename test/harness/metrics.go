package harness

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// MetricValue sums the series of name gathered from g whose labels include
// every label name/value pair given (counters, gauges and untyped series);
// found is false when no series matches.
func MetricValue(t testing.TB, g prometheus.Gatherer, name string, labelPairs ...string) (sum float64, found bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !HasLabels(m, labelPairs...) {
				continue
			}
			found = true
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Untyped != nil:
				sum += m.Untyped.GetValue()
			}
		}
	}
	return sum, found
}

// HasLabels reports whether m carries every label name/value pair given.
func HasLabels(m *dto.Metric, labelPairs ...string) bool {
	for i := 0; i+1 < len(labelPairs); i += 2 {
		ok := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labelPairs[i] && l.GetValue() == labelPairs[i+1] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
