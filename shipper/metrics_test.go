package main

import (
	"testing"

	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metric finds one series in reg (name and one label pair, or none).
func metric(t testing.TB, reg *prometheus.Registry, name string, labelValue ...string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if harness.HasLabels(m, labelValue...) {
				return constCollector{mf, m}
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, labelValue)
	return nil
}

func value(t testing.TB, reg *prometheus.Registry, name string, labelValue ...string) float64 {
	t.Helper()
	v, ok := harness.MetricValue(t, reg, name, labelValue...)
	if !ok {
		t.Fatalf("metric %s%v not found", name, labelValue)
	}
	return v
}

// constCollector replays one gathered series (for testutil.ToFloat64).
type constCollector struct {
	mf *dto.MetricFamily
	m  *dto.Metric
}

func (c constCollector) Describe(ch chan<- *prometheus.Desc) {}
func (c constCollector) Collect(ch chan<- prometheus.Metric) {
	v := 0.0
	vt := prometheus.CounterValue
	if c.m.Counter != nil {
		v = c.m.Counter.GetValue()
	} else if c.m.Gauge != nil {
		v, vt = c.m.Gauge.GetValue(), prometheus.GaugeValue
	}
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(c.mf.GetName(), "", nil, nil), vt, v)
}
