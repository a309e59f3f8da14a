package suite

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/agentobs/agentobs/bench/internal/report"
	"github.com/agentobs/agentobs/indexer/app"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/segmentio/kafka-go"
)

// Options size the run.
type Options struct {
	Seed       int64
	Records    int // records per figure at 1 KiB
	Reps       int // repetitions of each figure (after one warm-up)
	ScaleReps  int // repetitions of each scaling-curve point
	Quick      bool
	Partitions int
	// Sizes are the record sizes of the size curve; 1024 is the main corpus.
	Sizes []int
	// Scale lists partitions×instances points of the parallel curve.
	Scale [][2]int
	// SweepDocs, SweepFlushMiB, SweepWorkers: the BulkIndexer tuning sweep.
	SweepDocs     int
	SweepFlushMiB []int
	SweepWorkers  []int
	// LatencyFor is how long R5's paced run writes.
	LatencyFor time.Duration
	// Only runs these figure ids (R1..R7, size, scale, explorer); empty: all.
	Only []string
	// ProfileDir receives the CPU profiles of missed goals.
	ProfileDir string
	// R3Workers are further Workers values of the plugin measured once
	// each beside R3's Workers 2 (what Workers costs; empty: none).
	R3Workers []int
}

// Suite is one run.
type Suite struct {
	opt     Options
	env     *Env
	es      *elasticsearch.Client
	prog    *Progress
	res     *report.Results
	dlq     string
	n       int
	corpora map[string]*Corpus
	topics  []string

	// carried between figures
	main      *Corpus // 1 KiB corpus
	warm      *Corpus
	warmTopic string
	srcTopic  string // the shipper's output of main: R1 and R6 input
	srcMsgs   []kafka.Message
	perf      report.Stat // kafka-producer-perf-test: the broker's ceiling line
	perfMBps  float64
	r1Ref     report.Stat
	// r1RefCPU is the CPU R1's reference spent per document, in the bench
	// process and in Elasticsearch (first repetition).
	r1RefCPU time.Duration
}

func (s *Suite) seq() int { s.n++; return s.n }

// topic is a fresh topic name, deleted at the end of the run.
func (s *Suite) topic(what string) string {
	t := s.env.Name(what, fmt.Sprint(s.seq()))
	s.topics = append(s.topics, t)
	return t
}

func (s *Suite) want(id string) bool {
	if len(s.opt.Only) == 0 {
		return true
	}
	for _, o := range s.opt.Only {
		if strings.EqualFold(o, id) {
			return true
		}
	}
	return false
}

// Run measures every figure into res. A figure that fails is recorded with
// its error; the run goes on.
func Run(ctx context.Context, env *Env, opt Options, res *report.Results) error {
	s := &Suite{opt: opt, env: env, res: res, corpora: map[string]*Corpus{}, prog: NewProgress()}
	defer s.prog.Close()
	var err error
	if s.es, err = env.ES(); err != nil {
		return err
	}
	s.dlq = s.topic("dlq")
	defer s.cleanup()
	s.prog.Step("building shipper, indexer, collector plugin and host", 0, nil)
	if err := env.Build(ctx); err != nil {
		return err
	}
	s.prog.Step(fmt.Sprintf("generating the corpus (%d records of ~1 KiB, seed %d)", opt.Records, opt.Seed), 0, nil)
	if s.main, err = s.corpus(1024, opt.Records); err != nil {
		return err
	}
	if s.warm, err = s.corpus(1024, max(opt.Records/4, 1000)); err != nil {
		return err
	}
	steps := []struct {
		id string
		fn func(context.Context) error
	}{
		{"R4", s.r4}, {"R3", s.r3}, {"R2", s.r2}, {"R1", s.r1}, {"R6", s.r6}, {"R7", s.r7}, {"R5", s.r5}, {"size", s.sizeCurve}, {"scale", s.scaleCurve},
		{"explorer", s.explorer},
	}
	for _, st := range steps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !s.want(st.id) {
			continue
		}
		if err := st.fn(ctx); err != nil {
			s.prog.Logf("%s failed: %v", st.id, err)
			if f := res.Figure(st.id); f != nil && f.Err == "" {
				f.Err = oneLine(err.Error())
			} else if f == nil && strings.HasPrefix(st.id, "R") {
				res.Figures = append(res.Figures, report.Figure{ID: st.id, Err: oneLine(err.Error())})
			} else {
				res.Notes = append(res.Notes, fmt.Sprintf("%s: %s", st.id, oneLine(err.Error())))
			}
		}
	}
	sort.SliceStable(res.Figures, func(i, j int) bool { return res.Figures[i].ID < res.Figures[j].ID })
	s.profiles(ctx)
	return nil
}

func (s *Suite) cleanup() {
	s.env.DeleteTopics(s.topics...)
	s.env.dropPrefix(s.es, s.env.RunID)
}

func (s *Suite) component(name, fig string, u Usage, records int, inProc bool) {
	s.res.Components = append(s.res.Components, report.Component{Name: name, Figure: fig, PeakRSSMiB: float64(u.PeakRSS) / (1 << 20),
		CPUSecPerMillion: u.CPU.Seconds() / float64(records) * 1e6, Records: int64(records), InProcess: inProc})
}

func (s *Suite) server(name, fig string, cpu time.Duration, records int) {
	if cpu > 0 {
		s.res.Components = append(s.res.Components, report.Component{Name: name, Figure: fig, CPUSecPerMillion: cpu.Seconds() / float64(records) * 1e6, Records: int64(records)})
	}
}

// r4: record core vs encoding/json, in this process, as Go benchmarks.
func (s *Suite) r4(ctx context.Context) error {
	lines, total, err := corpusLines(s.main, 20000)
	if err != nil {
		return err
	}
	avg := float64(total) / float64(len(lines))
	var core, std []float64
	s.prog.Step("R4 record core parse+encode vs encoding/json (Go benchmarks, ~1 s each)", 0, nil)
	mbps(ParseEncode(lines), avg) // warm-up
	for range s.opt.Reps {
		core = append(core, mbps(ParseEncode(lines), avg))
		std = append(std, mbps(StdlibRoundTrip(lines), avg))
	}
	f := report.Figure{ID: "R4", Name: "record-core parse+encode", Unit: "MB/s", Value: report.Of(core...),
		RefName: "encoding/json map round trip", Ref: report.Of(std...), Goal: 2.0}
	f.Finish()
	s.prog.Logf("record core %.0f MB/s, encoding/json %.0f MB/s: ratio %.2f", f.Value.Median, f.Ref.Median, f.Ratio)
	s.res.Figures = append(s.res.Figures, f)
	return nil
}

// source returns the shipper's output of the main corpus (R1, R6 input).
func (s *Suite) source(ctx context.Context) error {
	if s.srcMsgs != nil {
		return nil
	}
	if s.srcTopic == "" {
		s.srcTopic = s.topic("src")
		if _, err := s.runShipper(ctx, s.main, s.srcTopic, "filling the source topic with the shipper"); err != nil {
			return err
		}
	}
	s.prog.Step("reading the source topic back (the documents of R1's reference)", 0, nil)
	msgs, err := s.env.ReadTopic(ctx, s.srcTopic)
	if err != nil {
		return err
	}
	if len(msgs) != s.opt.Records {
		return fmt.Errorf("source topic holds %d records, want %d", len(msgs), s.opt.Records)
	}
	s.srcMsgs = msgs
	return nil
}

// r1: indexer Kafka → ES vs a tuned esutil.BulkIndexer load of the same documents.
func (s *Suite) r1(ctx context.Context) error {
	if err := s.source(ctx); err != nil {
		return err
	}
	n := len(s.srcMsgs)
	best, sweep, err := s.sweepBulkIndexer(ctx, s.srcMsgs)
	if err != nil {
		return err
	}
	if s.warmTopic != "" {
		if _, err := s.runIndexer(ctx, s.warmTopic, s.warm.Records, 1, "R1 warm-up: indexer"); err != nil {
			return err
		}
	}
	var ix, ref, rss []float64
	var ixFirst, refFirst indexRun // the first repetition's CPU figures
	for i := range s.opt.Reps {
		r, err := s.runIndexer(ctx, s.srcTopic, n, 1, fmt.Sprintf("R1 indexer Kafka → ES, rep %d/%d", i+1, s.opt.Reps))
		if err != nil {
			return err
		}
		ix = append(ix, r.Rate)
		rss = append(rss, float64(r.Usage.PeakRSS)/(1<<20))
		if i == 0 {
			ixFirst = r
			s.component("indexer", "R1", r.Usage, n, false)
			s.server("elasticsearch (while the indexer wrote)", "R1", r.ES, n)
		}
		b, err := s.runBulkIndexer(ctx, s.srcMsgs, best, fmt.Sprintf("R1 reference BulkIndexer %s, rep %d/%d", best, i+1, s.opt.Reps))
		if err != nil {
			return err
		}
		ref = append(ref, b.Rate)
		if i == 0 {
			s.component("esutil.BulkIndexer (in the bench process)", "R1", b.Usage, n, true)
			s.r1RefCPU, refFirst = (b.Usage.CPU+b.ES)/time.Duration(n), b
			s.server("elasticsearch (while the BulkIndexer wrote)", "R1", b.ES, n)
		}
	}
	// What the trace summaries cost: the same load with them off, once.
	// The reference does no summary work; this separates the transport
	// (fetch → bulk → commit) from the correlation the product adds.
	if off, err := s.runIndexer(ctx, s.srcTopic, n, 1, "R1 indexer with -summary.enabled=false", "INDEXER_SUMMARY_ENABLED=false"); err == nil {
		on := report.Of(ix...).Median
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("R1 without trace summaries (-summary.enabled=false, one run): %.0f docs/s (%.2f of the reference; with summaries %.0f), Elasticsearch CPU %.1f s per million documents against %.1f with them.",
			off.Rate, off.Rate/report.Of(ref...).Median, on, off.ES.Seconds()*1e6/float64(n), ixFirst.ES.Seconds()*1e6/float64(n)))
	} else {
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("R1 without trace summaries: %v", oneLine(err.Error())))
	}
	// What the memory bound holds without the runtime's help: the same
	// catch-up with the derived soft memory limit off (-memory.limit=-1),
	// so the peak is what the byte budget, the bulk bodies and the Kafka
	// reader's queue and decompression buffers leave live, times GOGC.
	if nolim, err := s.runIndexer(ctx, s.srcTopic, n, 1, "R1m indexer with -memory.limit=-1", "INDEXER_MEMORY_LIMIT=-1"); err == nil {
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("R1m without the soft memory limit (-memory.limit=-1, one run): peak RSS %d MiB (budget %d MiB; with the limit %.0f MiB), %.0f docs/s.",
			nolim.Usage.PeakRSS>>20, rssBudgetMiB, report.Of(rss...).Median, nolim.Rate))
	} else {
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("R1m without the soft memory limit: %v", oneLine(err.Error())))
	}
	s.r1Ref = report.Of(ref...)
	f := report.Figure{ID: "R1", Name: "indexer Kafka → Elasticsearch", Unit: "docs/s", Value: report.Of(ix...),
		RefName: "esutil.BulkIndexer, best of sweep (" + best.String() + ")", Ref: s.r1Ref, Goal: 0.95}
	f.Finish()
	s.res.Figures = append(s.res.Figures, f)
	// Each R1 run starts the indexer on a topic already holding the whole
	// corpus: its peak RSS is the memory of catching up that backlog at
	// full rate (the case of a restart after an outage).
	m := report.Figure{ID: "R1m", Name: fmt.Sprintf("indexer peak RSS catching up a backlog of %d records at full rate", n), Unit: "MiB",
		Value: report.Of(rss...), RefName: "budget", Ref: report.Of(rssBudgetMiB), Goal: 1, Note: "ratio = budget / peak RSS"}
	if v := m.Value.Median; v > 0 {
		m.Ratio = rssBudgetMiB / v
	}
	s.res.Figures = append(s.res.Figures, m)
	s.res.Notes = append(s.res.Notes, fmt.Sprintf("R1 reference sweep on %d documents: %v", min(n, s.opt.SweepDocs), sweepString(sweep)))
	if note := r1Budget(ixFirst, refFirst, n, f.Goal, runtime.NumCPU()); note != "" {
		s.res.Notes = append(s.res.Notes, note)
	}
	return nil
}

// rssBudgetMiB is the indexer's memory goal at full rate; p99BudgetS the
// end-to-end latency goal at 80 % load.
const (
	rssBudgetMiB = 200
	p99BudgetS   = 1.0
)

func sweepString(sweep []map[string]any) string {
	var parts []string
	for _, p := range sweep {
		parts = append(parts, fmt.Sprintf("%v MiB×%v → %.0f/s", p["flush_mib"], p["workers"], p["docs_per_s"]))
	}
	return strings.Join(parts, ", ")
}

// r6: exactly-once (Run) vs auto ids + unordered commits (RunBenchMode).
func (s *Suite) r6(ctx context.Context) error {
	if err := s.source(ctx); err != nil {
		return err
	}
	n := len(s.srcMsgs)
	loose := app.BenchMode{AutoIDs: true, UnorderedCommits: true}
	if s.warmTopic != "" {
		if _, err := s.runIndexerInProc(ctx, s.warmTopic, s.warm.Records, app.BenchMode{}, "", "R6 warm-up"); err != nil {
			return err
		}
	}
	var eo, lo []float64
	for i := range s.opt.Reps {
		r, err := s.runIndexerInProc(ctx, s.srcTopic, n, app.BenchMode{}, "", fmt.Sprintf("R6 indexer exactly-once (in-process), rep %d/%d", i+1, s.opt.Reps))
		if err != nil {
			return err
		}
		eo = append(eo, r.Rate)
		l, err := s.runIndexerInProc(ctx, s.srcTopic, n, loose, "", fmt.Sprintf("R6 reference: auto ids, unordered commits, rep %d/%d", i+1, s.opt.Reps))
		if err != nil {
			return err
		}
		lo = append(lo, l.Rate)
	}
	f := report.Figure{ID: "R6", Name: "indexer, commit-after-ack + deterministic ids", Unit: "docs/s", Value: report.Of(eo...),
		RefName: "same indexer, auto ids + unordered commits", Ref: report.Of(lo...), Goal: 0.85}
	f.Finish()
	s.res.Figures = append(s.res.Figures, f)
	return nil
}

// r1Budget explains R1 by CPU: the indexer and the reference each share
// the machine's cores with Elasticsearch, so the CPU the indexer spends per
// document beyond what a bare bulk load spends is taken from Elasticsearch
// whenever the cores are busy.
func r1Budget(ix, ref indexRun, docs int, goal float64, cores int) string {
	if docs <= 0 || ix.Rate <= 0 || ref.Rate <= 0 {
		return ""
	}
	per := func(d time.Duration) float64 { return d.Seconds() * 1e6 / float64(docs) }
	busy := func(r indexRun) float64 {
		return (r.Usage.CPU + r.ES).Seconds() / (float64(docs) / r.Rate) / float64(cores) * 100
	}
	ixAll, refAll := per(ix.Usage.CPU+ix.ES), per(ref.Usage.CPU+ref.ES)
	return fmt.Sprintf("R1's CPU, s per million documents: indexer %.1f + Elasticsearch %.1f = %.1f (the %d cores %.0f %% busy) against the reference's BulkIndexer %.1f + Elasticsearch %.1f = %.1f (%.0f %% busy). "+
		"The pair spends %.1f more: the indexer %.1f (fetching and decompressing from Kafka, reading each record's routing fields, the trace summaries), Elasticsearch %+.1f (the summary writes; requests sized by the indexer), on the cores both share; "+
		"if the cores were the only limit, R1 ≥ %.2f would need the pair within %.1f (%s).",
		per(ix.Usage.CPU), per(ix.ES), ixAll, cores, busy(ix), per(ref.Usage.CPU), per(ref.ES), refAll, busy(ref),
		ixAll-refAll, per(ix.Usage.CPU)-per(ref.Usage.CPU), per(ix.ES)-per(ref.ES), goal, refAll/goal, gap(ixAll, refAll/goal))
}

// gap says how a measured cost compares with the most a goal allows.
func gap(measured, allowed float64) string {
	if measured > allowed {
		return fmt.Sprintf("%.1f less than measured", measured-allowed)
	}
	return fmt.Sprintf("%.1f more than measured: CPU is not what holds it back", allowed-measured)
}

// r5Budget explains R5 by CPU: every process shares the machine's cores,
// so a pipeline that keeps them busy indexes at most cores ÷ (its CPU per
// record), and R5's goal (goal × the reference's rate) sets how much CPU
// per record the whole pipeline may spend.
func r5Budget(r e2eRun, records int, refPerDoc time.Duration, refRate, goal float64, cores int) string {
	if records <= 0 || refPerDoc <= 0 || r.Rate <= 0 || refRate <= 0 {
		return ""
	}
	per := func(d time.Duration) float64 { return d.Seconds() * 1e6 / float64(records) }
	total := r.Shipper.CPU + r.Kafka + r.Indexer.CPU + r.ES
	busy := total.Seconds() / (float64(records) / r.Rate) / float64(cores)
	bound := float64(cores) * 1e6 / per(total) // records/s the cores allow at this cost
	allowed := float64(cores) * 1e6 / (goal * refRate)
	return fmt.Sprintf("R5's CPU budget: end to end, CPU s per million records: shipper %.1f + Kafka %.1f + indexer %.1f + Elasticsearch %.1f = %.1f, "+
		"with the %d cores %.0f %% busy: at that cost they allow at most %.0f records/s (measured %.0f). "+
		"R5 ≥ %.2f means %.0f records/s (%.2f × the reference's %.0f), which needs at most %.1f CPU s per million records end to end, %s; "+
		"the reference spends %.1f (BulkIndexer and Elasticsearch: no shipper, broker or fetch).",
		per(r.Shipper.CPU), per(r.Kafka), per(r.Indexer.CPU), per(r.ES), per(total), cores, 100*busy, bound, r.Rate,
		goal, goal*refRate, goal, refRate, allowed, gap(per(total), allowed), refPerDoc.Seconds()*1e6)
}

// r5: the whole pipeline vs R1's reference, and latency at 80 % of its rate.
func (s *Suite) r5(ctx context.Context) error {
	var rates []float64
	var budget e2eRun // the first repetition's CPU figures
	for i := range s.opt.Reps {
		r, err := s.runE2E(ctx, s.main, fmt.Sprintf("R5 end to end file → shipper → Kafka → indexer → ES, rep %d/%d", i+1, s.opt.Reps))
		if err != nil {
			return err
		}
		rates = append(rates, r.Rate)
		if i == 0 {
			s.component("shipper (end to end, sharing the cores)", "R5", r.Shipper, s.main.Records, false)
			s.component("indexer (end to end, sharing the cores)", "R5", r.Indexer, s.main.Records, false)
			s.server("kafka broker (end to end)", "R5", r.Kafka, s.main.Records)
			s.server("elasticsearch (end to end)", "R5", r.ES, s.main.Records)
			budget = r
		}
	}
	f := report.Figure{ID: "R5", Name: "end to end docs/s", Unit: "docs/s", Value: report.Of(rates...),
		RefName: "R1's BulkIndexer", Ref: s.r1Ref, Goal: 0.85}
	f.Finish()
	if note := r5Budget(budget, s.main.Records, s.r1RefCPU, s.r1Ref.Median, f.Goal, runtime.NumCPU()); note != "" {
		s.res.Notes = append(s.res.Notes, note)
	}
	if len(s.r1Ref.Samples) == 0 {
		f.Err = "needs R1's reference"
	}
	s.res.Figures = append(s.res.Figures, f)
	// Sustained is first the backlog-drain rate above; when the pipeline,
	// all stages running at once, cannot index 95 % of 80 % of it, the rate
	// it did index is what it sustains, and the latency is taken again at
	// 80 % of that.
	sustained := f.Value.Median
	lat, err := s.runLatency(ctx, 0.8*sustained, s.opt.LatencyFor)
	if err == nil && lat.FarEnd < 1 {
		// Nothing indexed while writing: a second run at 80 % of 0/s
		// writes nothing and its figures are NaN (which JSON cannot hold).
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("R5: at %.0f/s written the pipeline indexed nothing while the latency run wrote (p99 %.1f s); not measured again.", lat.Achieved, lat.P99))
	} else if err == nil && lat.FarEnd < 0.95*lat.Achieved {
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("R5: at %.0f/s written (80 %% of the drain rate %.0f/s) the pipeline indexed only %.0f/s with every stage running at once (p99 %.1f s); its sustained rate is taken as that, and the latency measured again at 80 %% of it.",
			lat.Achieved, sustained, lat.FarEnd, lat.P99))
		sustained = lat.FarEnd
		lat, err = s.runLatency(ctx, 0.8*sustained, s.opt.LatencyFor)
	}
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	lat.Sustained = sustained
	s.res.Latency = lat
	lf := report.Figure{ID: "R5b", Name: "end-to-end p99 write → searchable at 80 % of sustained rate", Unit: "s",
		Value: report.Of(lat.P99), RefName: "budget", Ref: report.Of(p99BudgetS), Goal: 1,
		Note: fmt.Sprintf("p50 %.2f s; ratio = budget / p99", lat.P50)}
	if lat.P99 > 0 {
		lf.Ratio = p99BudgetS / lat.P99
	}
	if lat.Missing > 0 {
		lf.Note += fmt.Sprintf("; %d probes never searchable", lat.Missing)
	}
	s.res.Figures = append(s.res.Figures, lf)
	return nil
}

// sizeCurve: shipper, perf-test, collector and indexer vs record size.
func (s *Suite) sizeCurve(ctx context.Context) error {
	add := func(series string, size int, st report.Stat, mbps float64) {
		s.res.SizeCurve = append(s.res.SizeCurve, report.Point{Series: series, X: float64(size), Label: fmt.Sprint(size), Rate: st, MBps: mbps})
	}
	for _, size := range s.opt.Sizes {
		if size == 1024 {
			if f := s.res.Figure("R2"); f != nil && f.Err == "" {
				add("shipper", size, f.Value, f.Extra["shipper_mb_per_s"])
				add("kafka-producer-perf-test", size, s.perf, s.perfMBps)
			}
			var col, colMB []float64
			for i := range s.opt.ScaleReps {
				ct := s.topic("col")
				cr, err := s.runCollector(ctx, s.main, s.main.Records, ct, fmt.Sprintf("size curve %d B: collector (flbhost), rep %d", size, i+1))
				s.env.DeleteTopics(ct)
				if err != nil {
					return err
				}
				col, colMB = append(col, cr.Rate), append(colMB, cr.MBps)
			}
			add("collector", size, report.Of(col...), report.Of(colMB...).Median)
			if f := s.res.Figure("R1"); f != nil && f.Err == "" {
				per := float64(s.main.Bytes) / float64(s.main.Records) / 1e6
				add("indexer", size, f.Value, f.Value.Median*per)
			}
			continue
		}
		n := max(s.opt.Records*1024/size, 1000)
		n = min(n, s.opt.Records*2)
		c, err := s.corpus(size, n)
		if err != nil {
			return err
		}
		var sh, shMB, pf, pfMB, col, colMB, ix []float64
		for i := range s.opt.ScaleReps {
			topic := s.topic(fmt.Sprint("size", size))
			r, err := s.runShipper(ctx, c, topic, fmt.Sprintf("size curve %d B: shipper (%d records), rep %d", size, n, i+1))
			if err != nil {
				return err
			}
			sh, shMB = append(sh, r.Rate), append(shMB, r.MBps)
			x, err := s.runIndexer(ctx, topic, n, 1, fmt.Sprintf("size curve %d B: indexer, rep %d", size, i+1))
			s.env.DeleteTopics(topic)
			if err != nil {
				return err
			}
			ix = append(ix, x.Rate)
			pt := s.topic("perf")
			p, err := s.runPerfTest(ctx, c, n, pt, fmt.Sprintf("size curve %d B: perf-test, rep %d", size, i+1))
			s.env.DeleteTopics(pt)
			if err != nil {
				return err
			}
			pf, pfMB = append(pf, p.Rate), append(pfMB, p.MBps)
			ct := s.topic("col")
			cr, err := s.runCollector(ctx, c, n, ct, fmt.Sprintf("size curve %d B: collector, rep %d", size, i+1))
			s.env.DeleteTopics(ct)
			if err != nil {
				return err
			}
			col, colMB = append(col, cr.Rate), append(colMB, cr.MBps)
		}
		per := float64(c.Bytes) / float64(c.Records) / 1e6
		add("shipper", size, report.Of(sh...), report.Of(shMB...).Median)
		add("kafka-producer-perf-test", size, report.Of(pf...), report.Of(pfMB...).Median)
		add("collector", size, report.Of(col...), report.Of(colMB...).Median)
		add("indexer", size, report.Of(ix...), report.Of(ix...).Median*per)
	}
	sort.SliceStable(s.res.SizeCurve, func(i, j int) bool {
		a, b := s.res.SizeCurve[i], s.res.SizeCurve[j]
		return a.Series < b.Series || a.Series == b.Series && a.X < b.X
	})
	return nil
}

// scaleCurve: indexer docs/s vs partitions and instances.
func (s *Suite) scaleCurve(ctx context.Context) error {
	if err := s.source(ctx); err != nil {
		return err
	}
	msgs := s.srcMsgs[:max(len(s.srcMsgs)/2, 1)]
	per := float64(s.main.Bytes) / float64(s.main.Records) / 1e6
	var perInst []string
	for _, pi := range s.opt.Scale {
		parts, inst := pi[0], pi[1]
		var rates []float64
		for i := range s.opt.ScaleReps {
			topic := s.topic(fmt.Sprintf("p%d", parts))
			if err := s.env.CreateTopic(ctx, topic, parts); err != nil {
				return err
			}
			s.prog.Step(fmt.Sprintf("scale curve: producing %d documents into %d partitions", len(msgs), parts), 0, nil)
			if err := s.env.Produce(ctx, topic, msgs); err != nil {
				return err
			}
			r, err := s.runIndexer(ctx, topic, len(msgs), inst, fmt.Sprintf("scale curve: %d partitions × %d indexers, rep %d", parts, inst, i+1))
			s.env.DeleteTopics(topic)
			if err != nil {
				return err
			}
			rates = append(rates, r.Rate)
		}
		st := report.Of(rates...)
		s.res.ScaleCurve = append(s.res.ScaleCurve, report.Point{Series: "indexer", X: float64(parts*10 + inst),
			Label: fmt.Sprintf("%dp×%di", parts, inst), Rate: st, MBps: st.Median * per})
		perInst = append(perInst, fmt.Sprintf("%dp×%di → %.0f/s per instance", parts, inst, st.Median/float64(inst)))
	}
	s.res.Notes = append(s.res.Notes, fmt.Sprintf("Scale curve, throughput per indexer instance (all instances, Kafka and Elasticsearch share the machine's %d cores): %s.",
		runtime.NumCPU(), strings.Join(perInst, ", ")))
	return nil
}

// profiles takes a CPU profile of the component of every missed goal and
// records its top costs.
func (s *Suite) profiles(ctx context.Context) {
	done := map[string]string{}
	for _, f := range s.res.Figures {
		if f.Met() || f.Err != "" {
			continue
		}
		var comp, path string
		var err error
		switch f.ID {
		case "R1", "R6", "R5", "R5b":
			comp, path = "indexer (in-process, exactly-once)", filepath.Join(s.opt.ProfileDir, "indexer.pprof")
			if done[path] == "" {
				if err = s.source(ctx); err == nil {
					_, err = s.runIndexerInProc(ctx, s.srcTopic, len(s.srcMsgs), app.BenchMode{}, path, "profiling the indexer")
				}
			}
		case "R1m":
			continue // memory, not CPU: agentobs_indexer_buffered_bytes and the Go heap show where it goes
		case "R2":
			comp, path = "shipper (-debug.pprof)", filepath.Join(s.opt.ProfileDir, "shipper.pprof")
			expect := time.Duration(float64(s.main.Records) / f.Value.Median * float64(time.Second))
			err = s.profileShipper(ctx, s.main, expect, path)
		case "R4":
			comp, path = "record core", filepath.Join(s.opt.ProfileDir, "record.pprof")
			var lines [][]byte
			if lines, _, err = corpusLines(s.main, 20000); err == nil {
				err = profileBench(ParseEncode(lines), path)
			}
		default:
			s.res.Notes = append(s.res.Notes, f.ID+": no CPU profile is taken (the plugin runs inside Fluent Bit, which serves no pprof for it); see the collector's BenchmarkFlushNoBroker for its Go-side costs.")
			continue
		}
		if err != nil {
			s.res.Notes = append(s.res.Notes, fmt.Sprintf("%s: profiling failed: %v", f.ID, oneLine(err.Error())))
			continue
		}
		done[path] = path
		top, err := TopCosts(path, 8)
		if err != nil {
			s.res.Notes = append(s.res.Notes, fmt.Sprintf("%s: %v", f.ID, err))
			continue
		}
		s.res.Profiles = append(s.res.Profiles, report.Profile{Figure: f.ID, Component: comp, File: filepath.Base(path), Top: top})
		s.prog.Logf("%s profile (%s): %s", f.ID, comp, strings.Join(top, "; "))
	}
}
