package main

import (
	"testing"

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
			if len(labelValue) == 0 || hasLabel(m, labelValue[0], labelValue[1]) {
				return constCollector{mf, m}
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, labelValue)
	return nil
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

func value(t testing.TB, reg *prometheus.Registry, name string, labelValue ...string) float64 {
	c := metric(t, reg, name, labelValue...).(constCollector)
	switch {
	case c.m.Counter != nil:
		return c.m.Counter.GetValue()
	case c.m.Gauge != nil:
		return c.m.Gauge.GetValue()
	}
	return 0
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
