package report

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOf(t *testing.T) {
	f := func(in []float64, med, lo, hi, spread float64) {
		t.Helper()
		s := Of(in...)
		if s.Median != med || s.Min != lo || s.Max != hi || math.Abs(s.Spread-spread) > 1e-9 {
			t.Errorf("Of(%v) = %+v, want median %v min %v max %v spread %v", in, s, med, lo, hi, spread)
		}
	}
	f(nil, 0, 0, 0, 0)
	f([]float64{5}, 5, 5, 5, 0)
	f([]float64{3, 1, 2}, 2, 1, 3, 1)
	f([]float64{4, 1, 3, 2}, 2.5, 1, 4, 1.2)
	if in := []float64{3, 1, 2}; in[0] != 3 {
		t.Error("Of sorted its input")
	}
}

func TestPercentile(t *testing.T) {
	s := make([]float64, 100)
	for i := range s {
		s[i] = float64(100 - i) // 100..1, unsorted
	}
	for _, c := range []struct{ p, want float64 }{{50, 50}, {99, 99}, {100, 100}, {0, 1}, {1, 1}} {
		if got := Percentile(s, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("empty: want NaN")
	}
}

func TestHuman(t *testing.T) {
	for in, want := range map[float64]string{12345: "12 345", 999: "999", 1234567: "1.23 M", 2.5: "2.5", 100: "100"} {
		if got := Human(in); got != want {
			t.Errorf("Human(%v) = %q, want %q", in, got, want)
		}
	}
}

func sample() *Results {
	r := &Results{Started: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), Machine: Machine{Host: "h", NProc: 2},
		Params: Params{Records: 1000, Reps: 3, Sizes: []int{256, 1024}}}
	met := Figure{ID: "R1", Name: "indexer", Unit: "docs/s", Value: Of(95, 90, 100), RefName: "BulkIndexer", Ref: Of(100, 100, 100), Goal: 0.9}
	missed := Figure{ID: "R2", Name: "shipper", Unit: "records/s", Value: Of(50, 50), RefName: "perf-test", Ref: Of(100), Goal: 0.8}
	failed := Figure{ID: "R3", Name: "collector", Unit: "records/s", Goal: 0.8, Err: "no gcc"}
	for _, f := range []*Figure{&met, &missed, &failed} {
		f.Finish()
		r.Figures = append(r.Figures, *f)
	}
	r.Latency = &Latency{P50: 0.5, P99: 1.5, Samples: []float64{0.4, 0.5, 1.5}}
	r.SizeCurve = []Point{{Series: "shipper", X: 256, Label: "256", Rate: Of(10), MBps: 2.5}, {Series: "shipper", X: 1024, Label: "1024", Rate: Of(5), MBps: 5}}
	r.ScaleCurve = []Point{{Series: "indexer", Label: "1×1", Rate: Of(10)}, {Series: "indexer", Label: "6×2", Rate: Of(15)}}
	r.Components = []Component{{Name: "shipper", Figure: "R2", PeakRSSMiB: 40, CPUSecPerMillion: 12}}
	r.Profiles = []Profile{{Figure: "R2", Component: "shipper", File: "r2.pprof", Top: []string{"compress 30%"}}}
	return r
}

func TestTable(t *testing.T) {
	r := sample()
	if !r.Figures[0].Met() || r.Figures[1].Met() || r.Figures[2].Met() {
		t.Fatalf("verdicts: %v %v %v", r.Figures[0].Met(), r.Figures[1].Met(), r.Figures[2].Met())
	}
	var b bytes.Buffer
	WriteSummary(&b, r, "plots")
	out := b.String()
	for _, want := range []string{
		"| R1 | indexer | 95 docs/s ±5% | BulkIndexer: 100 docs/s ±0% | 0.95 | ≥ 0.90 | met |",
		"| R2 | shipper | 50 records/s ±0% | perf-test: 100 records/s ±0% | 0.50 | ≥ 0.80 | **missed by 38%** (0.50 of 0.80) |",
		"not measured: no gcc",
		"top costs: compress 30%",
		"![ratios](plots/ratios.png)",
		"| shipper | R2 | 40 MiB | 12.0 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	r := sample()
	if err := WritePlots(r, dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range PlotFiles {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if err := WritePlots(&Results{}, filepath.Join(dir, "empty")); err != nil {
		t.Errorf("empty results: %v", err)
	}
	path := filepath.Join(dir, "r.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Figure("R2").Ratio != 0.5 || back.Latency.P99 != 1.5 {
		t.Errorf("round trip: %+v", back.Figures)
	}
}
