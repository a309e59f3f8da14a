package report

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// PlotFiles are the plots WritePlots draws, in README order.
var PlotFiles = []string{"throughput.png", "ratios.png", "latency.png", "size.png", "scale.png"}

const plotW, plotH = 6 * vg.Inch, 3.6 * vg.Inch

// WritePlots draws every plot whose data exists into dir.
func WritePlots(r *Results, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	steps := []func(*Results, string) error{throughputPlot, ratioPlot, latencyPlot, sizePlot, scalePlot}
	for i, f := range steps {
		if err := f(r, filepath.Join(dir, PlotFiles[i])); err != nil {
			return fmt.Errorf("%s: %w", PlotFiles[i], err)
		}
	}
	return nil
}

// throughputPlot: per stage, the component's median records/s beside its reference's.
func throughputPlot(r *Results, path string) error {
	var names []string
	var comp, ref plotter.Values
	for _, f := range r.Figures {
		if f.Unit != "records/s" && f.Unit != "docs/s" || f.Err != "" {
			continue
		}
		names = append(names, f.ID)
		comp = append(comp, f.Value.Median)
		ref = append(ref, f.Ref.Median)
	}
	p := plot.New()
	p.Title.Text = "Throughput per stage (median), component vs reference"
	p.Y.Label.Text = "records/s"
	if len(names) == 0 {
		return save(p, path)
	}
	w := vg.Points(14)
	a, err := plotter.NewBarChart(comp, w)
	if err != nil {
		return err
	}
	b, err := plotter.NewBarChart(ref, w)
	if err != nil {
		return err
	}
	a.Color, b.Color = plotutil.Color(0), plotutil.Color(1)
	a.Offset, b.Offset = -w/2, w/2
	p.Add(a, b)
	p.Legend.Add("agentobs", a)
	p.Legend.Add("reference", b)
	p.Legend.Top = true
	p.NominalX(names...)
	return save(p, path)
}

// ratioPlot: each figure's ratio with its goal.
func ratioPlot(r *Results, path string) error {
	var names []string
	var ratio, goal plotter.Values
	for _, f := range r.Figures {
		if f.Err != "" {
			continue
		}
		names = append(names, f.ID)
		ratio = append(ratio, f.Ratio)
		goal = append(goal, f.Goal)
	}
	p := plot.New()
	p.Title.Text = "Ratio to the reference (bars) and goal (line)"
	p.Y.Label.Text = "ratio"
	if len(names) == 0 {
		return save(p, path)
	}
	bars, err := plotter.NewBarChart(ratio, vg.Points(20))
	if err != nil {
		return err
	}
	bars.Color = plotutil.Color(0)
	pts := make(plotter.XYs, len(goal))
	for i, g := range goal {
		pts[i] = plotter.XY{X: float64(i), Y: g}
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return err
	}
	sc.Color = color.RGBA{R: 200, A: 255}
	sc.Radius = vg.Points(4)
	p.Add(bars, sc)
	p.Legend.Add("goal", sc)
	p.NominalX(names...)
	return save(p, path)
}

// latencyPlot: the CDF of R5's write-to-searchable latency.
func latencyPlot(r *Results, path string) error {
	p := plot.New()
	p.Title.Text = "R5 write → searchable latency (CDF)"
	p.X.Label.Text = "seconds"
	p.Y.Label.Text = "fraction of probes"
	if r.Latency == nil || len(r.Latency.Samples) == 0 {
		return save(p, path)
	}
	s := slices.Clone(r.Latency.Samples)
	slices.Sort(s)
	pts := make(plotter.XYs, len(s))
	for i, v := range s {
		pts[i] = plotter.XY{X: v, Y: float64(i+1) / float64(len(s))}
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color = plotutil.Color(0)
	p.Add(l, plotter.NewGrid())
	p.Legend.Add(fmt.Sprintf("p50 %.2fs p99 %.2fs", r.Latency.P50, r.Latency.P99), l)
	p.Legend.Top, p.Legend.Left = false, false
	return save(p, path)
}

func sizePlot(r *Results, path string) error {
	p := plot.New()
	p.Title.Text = "Throughput vs record size"
	p.X.Label.Text = "record size (bytes, log scale)"
	p.Y.Label.Text = "MB/s"
	if len(r.SizeCurve) > 0 { // a log axis without data panics
		p.X.Scale = plot.LogScale{}
		var ticks []plot.Tick
		for _, pt := range r.SizeCurve {
			ticks = append(ticks, plot.Tick{Value: pt.X, Label: pt.Label})
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
	}
	return curves(p, r.SizeCurve, func(pt Point) float64 { return pt.MBps }, path)
}

func scalePlot(r *Results, path string) error {
	p := plot.New()
	p.Title.Text = "Indexer throughput vs partitions × instances"
	p.X.Label.Text = "configuration"
	p.Y.Label.Text = "docs/s"
	var labels []string
	for _, pt := range r.ScaleCurve {
		if !slices.Contains(labels, pt.Label) {
			labels = append(labels, pt.Label)
		}
	}
	pts := make([]Point, len(r.ScaleCurve))
	for i, pt := range r.ScaleCurve {
		pt.X = float64(slices.Index(labels, pt.Label))
		pts[i] = pt
	}
	if len(labels) > 0 {
		p.NominalX(labels...)
	}
	return curves(p, pts, func(pt Point) float64 { return pt.Rate.Median }, path)
}

// curves draws one line with points per series.
func curves(p *plot.Plot, pts []Point, y func(Point) float64, path string) error {
	var series []string
	for _, pt := range pts {
		if !slices.Contains(series, pt.Series) {
			series = append(series, pt.Series)
		}
	}
	for i, s := range series {
		var xy plotter.XYs
		for _, pt := range pts {
			if pt.Series == s && y(pt) > 0 {
				xy = append(xy, plotter.XY{X: pt.X, Y: y(pt)})
			}
		}
		if len(xy) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		l.Color, sc.Color = plotutil.Color(i), plotutil.Color(i)
		sc.Shape = plotutil.Shape(i)
		p.Add(l, sc)
		p.Legend.Add(s, l, sc)
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return save(p, path)
}

// plainTicks are the default ticks labelled without trailing zeros.
type plainTicks struct{}

func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'g', -1, 64)
		}
	}
	return ts
}

func save(p *plot.Plot, path string) error {
	p.Y.Min = 0
	p.Y.Tick.Marker = plainTicks{}
	p.Legend.Left = true
	return p.Save(plotW, plotH, path)
}
