package env

import (
	"math"
	"testing"
)

func TestPerceiveDropsSpikesAndNonFinite(t *testing.T) {
	f := func(readings []float64, want float64, kept, dropped int) {
		t.Helper()
		p := Perceive(Task{Kind: "compute", Readings: readings})
		if math.Abs(p.Value-want) > 1e-9 || p.Kept != kept || p.Dropped != dropped {
			t.Fatalf("Perceive(%v) = %+v, want value %v kept %d dropped %d", readings, p, want, kept, dropped)
		}
	}
	f([]float64{0.5, 0.5, 0.5}, 0.5, 3, 0)
	f([]float64{0.4, 0.5, 0.6, 40}, 0.5, 3, 1)
	f([]float64{0.5, math.NaN(), math.Inf(1), 0.7}, 0.6, 2, 2)
	f(nil, 0, 0, 0)
}

func TestSourceIsReproducible(t *testing.T) {
	cfg := DefaultConfig()
	a, b := NewSource(cfg, "x"), NewSource(cfg, "x")
	for range 50 {
		ta, tb := a.Next(), b.Next()
		if ta.ID != tb.ID || ta.Kind != tb.Kind || ta.Steps != tb.Steps || len(ta.Readings) != cfg.Readings {
			t.Fatalf("%+v vs %+v", ta, tb)
		}
		for i := range ta.Readings {
			if ta.Readings[i] != tb.Readings[i] {
				t.Fatal("readings differ")
			}
		}
		if ta.Steps < 1 || ta.Steps > cfg.MaxSteps {
			t.Fatalf("steps %d", ta.Steps)
		}
	}
}

func TestFilterRecoversTheTrueLevel(t *testing.T) {
	s := NewSource(Config{Seed: 5, Readings: 16, Noise: 0.05, SpikeRate: 0.1, MaxSteps: 1}, "x")
	for range 200 {
		p := Perceive(s.Next())
		// Spikes reach ±50; a kept spike would pull the mean far outside
		// [0,1). (A robust filter copes with fewer than half outliers.)
		if p.Value < -0.3 || p.Value > 1.3 {
			t.Fatalf("filtered value %v: a spike got through", p.Value)
		}
	}
}
