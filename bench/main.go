// Command bench is `make bench`: it measures every stage of the pipeline on
// the real local stack against a reference run on the same machine in the
// same run (see bench/README.md for the figures), and writes
// bench/results/<date>-<host>.json, a Markdown summary (latest.md) and PNG
// plots, and refreshes the summary in bench/README.md.
//
//	go run ./bench -out bench/results            # full: ~12 min on 2 cores
//	go run ./bench -quick                        # ~3 min, for iteration
//	go run ./bench -only R1,R6 -records 50000
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agentobs/agentobs/bench/internal/report"
	"github.com/agentobs/agentobs/bench/internal/suite"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	out := fs.String("out", "bench/results", "directory of the results (JSON, Markdown summary, plots/, profiles/)")
	readme := fs.String("readme", "bench/README.md", "README whose section between <!-- latest:begin --> and <!-- latest:end --> gets the summary; \"\" leaves it")
	quick := fs.Bool("quick", false, "small corpus, 2 repetitions, short curves (~3 min): for iteration, not for publishing")
	records := fs.Int("records", 0, "records per figure at 1 KiB (default 200000, quick 20000); 4 KiB uses a quarter, 256 B twice as many")
	reps := fs.Int("reps", 0, "repetitions of each figure after a warm-up (default 3, quick 2)")
	scaleReps := fs.Int("scale-reps", 1, "repetitions of each scaling-curve point")
	partitions := fs.Int("partitions", 6, "partitions of the topics of R1-R3, R5, R6")
	seed := fs.Int64("seed", 1, "load generator seed: the corpus is the same for the same seed and sizes")
	only := fs.String("only", "", "comma-separated subset: R1..R7, size, scale, explorer (default all)")
	latency := fs.Duration("latency", 0, "how long R5's paced latency run writes (default 30s, quick 10s)")
	replot := fs.String("replot", "", "only redraw the plots, latest.md and the README section from this results JSON")
	root := fs.String("root", ".", "repository root (scripts/stack.sh, ./shipper, ./indexer, ./collector)")
	r3Workers := fs.String("r3-workers", "", "comma-separated further Workers values of the plugin measured once each beside R3's Workers 2 (e.g. 0,1: what the setting costs)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *replot != "" {
		res, err := report.ReadJSON(*replot)
		if err != nil {
			return err
		}
		return write(res, *out, *readme, "")
	}
	opt := suite.Options{Seed: *seed, Records: 200000, Reps: 3, ScaleReps: *scaleReps, Partitions: *partitions,
		Sizes: []int{256, 1024, 4096}, Scale: [][2]int{{1, 1}, {2, 1}, {2, 2}, {6, 1}, {6, 2}},
		SweepDocs: 50000, SweepFlushMiB: []int{1, 5, 10}, SweepWorkers: []int{1, 2, 4}, LatencyFor: 30 * time.Second}
	if *quick {
		opt.Quick, opt.Records, opt.Reps = true, 20000, 2
		opt.Sizes, opt.Scale = []int{1024, 4096}, [][2]int{{1, 1}, {2, 2}}
		opt.SweepDocs, opt.SweepFlushMiB, opt.SweepWorkers, opt.LatencyFor = 10000, []int{5}, []int{2, 4}, 10*time.Second
	}
	if *records > 0 {
		opt.Records = *records
	}
	if *reps > 0 {
		opt.Reps = *reps
	}
	if *latency > 0 {
		opt.LatencyFor = *latency
	}
	if *only != "" {
		opt.Only = strings.Split(*only, ",")
	}
	if *r3Workers != "" {
		for _, w := range strings.Split(*r3Workers, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(w))
			if err != nil || n < 0 {
				return fmt.Errorf("-r3-workers: %q is not a worker count", w)
			}
			opt.R3Workers = append(opt.R3Workers, n)
		}
	}
	opt.ProfileDir = filepath.Join(*out, "profiles")
	for _, d := range []string{*out, opt.ProfileDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	env, err := suite.NewEnv(*root)
	if err != nil {
		return err
	}
	defer env.Cleanup()
	res := &report.Results{Started: time.Now()}
	m := &res.Machine
	m.Host, m.NProc, m.MemGiB, m.CPU, m.Kernel, m.Go, m.Java, m.Kafka, m.ES, m.Commit, m.Load1 = env.Machine()
	res.Params = report.Params{Seed: opt.Seed, Records: opt.Records, Reps: opt.Reps, Quick: opt.Quick, Sizes: opt.Sizes, Partitions: opt.Partitions}
	runErr := suite.Run(ctx, env, opt, res)
	res.Elapsed = time.Since(res.Started).Seconds()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil && m.Load1 > 0.5 {
		res.Notes = append(res.Notes, fmt.Sprintf("The machine was not idle: load average %.2f at the start (%s at the end), other work shared the cores; spreads are wider than on a quiet machine.",
			m.Load1, strings.Fields(string(b))[0]))
	}

	stamp := res.Started.Format("2006-01-02-1504") + "-" + m.Host
	if err := write(res, *out, *readme, stamp); err != nil {
		return err
	}
	return runErr
}

// write writes the results JSON (when stamp is set), the plots, latest.md
// and the README section, and prints the table.
func write(res *report.Results, out, readme, stamp string) error {
	if stamp != "" {
		if err := res.WriteJSON(filepath.Join(out, stamp+".json")); err != nil {
			return err
		}
	}
	if err := report.WritePlots(res, filepath.Join(out, "plots")); err != nil {
		return err
	}
	var sum bytes.Buffer
	report.WriteSummary(&sum, res, "plots")
	if err := os.WriteFile(filepath.Join(out, "latest.md"), sum.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Println()
	report.WriteTable(os.Stdout, res.Figures)
	fmt.Printf("\nwrote %s (%s.json, latest.md, plots/)\n", out, stamp)
	if readme != "" {
		if err := updateReadme(readme, res, out); err != nil {
			fmt.Fprintln(os.Stderr, "bench: README not updated:", err)
		}
	}
	return nil
}

// updateReadme replaces the README's marked section with the summary, its
// plot links relative to the README.
func updateReadme(path string, res *report.Results, out string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	const begin, end = "<!-- latest:begin -->", "<!-- latest:end -->"
	i, j := bytes.Index(b, []byte(begin)), bytes.Index(b, []byte(end))
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s … %s section", path, begin, end)
	}
	rel, err := filepath.Rel(filepath.Dir(path), filepath.Join(out, "plots"))
	if err != nil {
		return err
	}
	var sum bytes.Buffer
	report.WriteSummary(&sum, res, filepath.ToSlash(rel))
	body := bytes.Replace(sum.Bytes(), []byte("\n# "), []byte("\n### "), 1)
	body = bytes.ReplaceAll(bytes.TrimPrefix(body, []byte("# ")), []byte("\n## "), []byte("\n#### "))
	var nb bytes.Buffer
	nb.Write(b[:i+len(begin)])
	nb.WriteString("\n### ")
	nb.Write(body)
	nb.Write(b[j:])
	return os.WriteFile(path, nb.Bytes(), 0o644)
}
