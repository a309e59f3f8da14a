package report

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Human formats a rate the way the table shows it: 12 345, 1.23 M.
func Human(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 100:
		s := fmt.Sprintf("%.0f", v)
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteString(" ")
			}
			b.WriteRune(c)
		}
		return b.String()
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func stat(s Stat, unit string) string {
	if len(s.Samples) == 0 {
		return "–"
	}
	return fmt.Sprintf("%s %s ±%.0f%%", Human(s.Median), unit, 50*s.Spread)
}

// Verdict says whether the goal was met, and by how much it was missed.
func (f Figure) Verdict() string {
	switch {
	case f.Err != "":
		return "not measured: " + f.Err
	case f.Met():
		return "met"
	default:
		return fmt.Sprintf("**missed by %.0f%%** (%.2f of %.2f)", 100*(f.Goal-f.Ratio)/f.Goal, f.Ratio, f.Goal)
	}
}

// WriteTable writes the summary table: one row per figure with the
// component's median, the reference's median, their ratio and the goal.
// Spread is ±half the relative range of the repetitions.
func WriteTable(w io.Writer, figs []Figure) {
	fmt.Fprintln(w, "| id | figure | measured (median ±½ range) | reference (same run) | ratio | goal | verdict |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, f := range figs {
		ratio := "–"
		if f.Err == "" && f.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", f.Ratio)
		}
		name := f.Name
		if f.Note != "" {
			name += " (" + f.Note + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s: %s | %s | ≥ %.2f | %s |\n", f.ID, name, stat(f.Value, f.Unit),
			f.RefName, stat(f.Ref, f.Unit), ratio, f.Goal, f.Verdict())
	}
}

// WriteSummary writes the whole Markdown summary: machine, sizes, the table,
// latency, resources, scaling, plots and the notes on missed goals.
func WriteSummary(w io.Writer, r *Results, plotDir string) {
	m, p := r.Machine, r.Params
	mode := "full"
	if p.Quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "# make bench — %s on %s (%s mode)\n\n", r.Started.Format("2006-01-02 15:04 MST"), m.Host, mode)
	fmt.Fprintf(w, "Machine: %d CPUs (%s), %.1f GiB RAM, %s; Go %s, Java %s, Kafka %s, Elasticsearch %s (local stack, one node each, on the same cores); commit %s. Run took %.0f s.\n\n",
		m.NProc, m.CPU, m.MemGiB, m.Kernel, m.Go, m.Java, m.Kafka, m.ES, m.Commit, r.Elapsed)
	fmt.Fprintf(w, "Corpus: internal/loadgen, seed %d; %d records per figure at 1 KiB (fewer at 4 KiB: same bytes), sizes %v B; %d repetitions after a warm-up; topics with %d partitions, acks=all, lz4.\n\n",
		p.Seed, p.Records, p.Sizes, p.Reps, p.Partitions)
	WriteTable(w, r.Figures)
	if l := r.Latency; l != nil {
		fmt.Fprintf(w, "\nR5 latency, write to searchable: agent lines written at %s records/s (80 %% of the sustained end-to-end rate %s/s; the far end indexed %s/s meanwhile): p50 %.2f s, p90 %.2f s, p99 %.2f s, max %.2f s over %d probes, one every few hundred records (%d never seen).\n",
			Human(l.Achieved), Human(l.Sustained), Human(l.FarEnd), l.P50, l.P90, l.P99, l.Max, l.Probes, l.Missing)
		if l.Edge.N > 0 {
			fmt.Fprintf(w, "Where it goes (p50 / p99 of each part over %d probes; parts of one percentile do not add up): write → sent to Kafka %.2f / %.2f s (the shipper's tail, batching and linger, to the produce request the record's timestamp comes from); sent → found by a search %.2f / %.2f s (the broker's append, the indexer's fetch and bulk, Elasticsearch's indexing and its refresh every `-index.refresh-interval`), of which the finding search itself took %.2f / %.2f s.\n",
				l.Edge.N, l.Edge.P50, l.Edge.P99, l.Index.P50, l.Index.P99, l.Search.P50, l.Search.P99)
		}
		if l.MeanAcked > 0 {
			fmt.Fprintf(w, "Means: write → sent to Kafka %.2f s; → acknowledged by Elasticsearch %.2f s (the indexer's histogram over every record; one bulk request took %.2f s on average); → found by a search %.2f s, so the wait for the refresh and the search's polling was %.2f s on average.\n",
				l.MeanEdge, l.MeanAcked, l.MeanBulk, l.MeanFound, l.MeanFound-l.MeanAcked)
		}
	}
	if len(r.Components) > 0 {
		fmt.Fprint(w, "\n## Cost per component at full rate\n\n")
		fmt.Fprintln(w, "| component | measured in | peak RSS | CPU s / 1 000 000 records |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, c := range r.Components {
			rss := fmt.Sprintf("%.0f MiB", c.PeakRSSMiB)
			if c.InProcess {
				rss += " (bench process)"
			}
			if c.PeakRSSMiB == 0 {
				rss = "–"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %.1f |\n", c.Name, c.Figure, rss, c.CPUSecPerMillion)
		}
	}
	writeCurve(w, "Throughput vs record size", "record size (B)", r.SizeCurve)
	writeCurve(w, "Throughput vs partitions and indexer instances", "partitions × instances", r.ScaleCurve)
	if plotDir != "" {
		fmt.Fprint(w, "\n## Plots\n\n")
		for _, f := range PlotFiles {
			fmt.Fprintf(w, "![%s](%s/%s)\n", strings.TrimSuffix(f, ".png"), plotDir, f)
		}
	}
	var missed []Figure
	for _, f := range r.Figures {
		if !f.Met() {
			missed = append(missed, f)
		}
	}
	if len(missed) > 0 || len(r.Profiles) > 0 || len(r.Notes) > 0 {
		fmt.Fprintln(w, "\n## Notes")
		for _, f := range missed {
			fmt.Fprintf(w, "\n- %s %s: %s.", f.ID, f.Name, f.Verdict())
			for _, pr := range r.Profiles {
				if pr.Figure == f.ID {
					fmt.Fprintf(w, " CPU profile of %s (`%s`), top costs: %s.", pr.Component, pr.File, strings.Join(pr.Top, "; "))
				}
			}
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "\n- %s", n)
		}
		fmt.Fprintln(w)
	}
}

func writeCurve(w io.Writer, title, x string, pts []Point) {
	if len(pts) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## %s\n\n| series | %s | records/s | MB/s |\n|---|---|---|---|\n", title, x)
	for _, p := range pts {
		fmt.Fprintf(w, "| %s | %s | %s | %.1f |\n", p.Series, p.Label, stat(p.Rate, ""), p.MBps)
	}
}
