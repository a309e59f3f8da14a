// Command demo is `make demo`: it runs the whole pipeline on this machine
// against the local stack — live agents calling each other and a load
// generator write JSON logs; the shipper tails them and the Fluent Bit plugin
// (inside real Fluent Bit when one is given, else through the host program)
// sends a second stream; the indexer writes both
// to Elasticsearch — shows live progress, and ends with a report: records
// written, indexed, lost, duplicated, dead-lettered, latency, and one failing
// trace as a timeline across services. With -canary one more agent runs a
// worse canary release of agent-a, and the report shows the canary alert
// from the local stack's Prometheus and Alertmanager and the failing traces
// of the canary release.
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/agentobs/agentobs/indexer/trace"
	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/esclient"
	"github.com/agentobs/agentobs/test/rig"
	"golang.org/x/term"
)

var cli = config.CLI{Name: "demo", Stdout: os.Stdout,
	Summary: "run the whole pipeline on this machine against the local stack, show progress and a report"}

func main() {
	_, args, err := cli.Route(os.Args[1:])
	if err != nil {
		os.Exit(cli.Exit(os.Stderr, err))
	}
	fs := cli.FlagSet("")
	bin := fs.String("bin", "bin", "directory with agent, shipper, indexer, flbhost, flbchunk and out_agentobs.so")
	work := fs.String("workdir", "/tmp/agentobs-demo", "logs, checkpoints and chunk files of this run")
	dur := fs.Duration("duration", 60*time.Second, "how long traffic flows after the warm-up (Ctrl-C stops earlier)")
	warm := fs.Duration("warmup", 15*time.Second, "shortest traffic before the measured part: its records count as written, lost and duplicated, but its latency is reported on its own line, because the pipeline has just started (0: none)")
	warmMax := fs.Duration("warmup-max", 2*time.Minute, "longest warm-up: after -warmup it lasts until the indexer has caught up (record lag within 2 s of traffic for 5 s in a row), which on freshly started servers takes 30-60 s while their JVMs compile their hot paths")
	rate := fs.Int("rate", 2000, "load generator records/s through the shipper")
	pluginRate := fs.Int("plugin-rate", 1000, "load generator records/s through the Fluent Bit plugin (0: off)")
	agents := fs.Int("agents", 3, "live agents that call each other")
	agentRate := fs.Float64("agent-rate", 2, "tasks/s per live agent")
	brokers := fs.String("kafka.brokers", "127.0.0.1:9092", "Kafka of the local stack")
	es := fs.String("es.url", "http://127.0.0.1:9200", "Elasticsearch of the local stack")
	fluentBit := fs.String("fluent-bit", os.Getenv("AGENTOBS_FLUENT_BIT"), "real Fluent Bit binary to run the plugin in (scripts/demo.sh finds it with scripts/fluent-bit.sh); empty: the flbhost stand-in")
	stack := fs.String("stack-dir", envOr("AGENTOBS_STACK_DIR", "/tmp/agentobs-stack"), "local stack state dir (Prometheus targets)")
	canary := fs.Bool("canary", false, "also run a worse canary release of agent-a (its tools fail half the time) and show the canary alert firing; traffic runs at least "+minCanary.String())
	promURL := fs.String("prometheus.url", "http://127.0.0.1:9090", "Prometheus of the local stack (-canary; the explorer's alert exemplars)")
	amURL := fs.String("alertmanager.url", "http://127.0.0.1:9093", "Alertmanager of the local stack (-canary)")
	if err := cli.Parse(fs, args); err != nil {
		os.Exit(cli.Exit(os.Stderr, err))
	}
	if err := config.NoArgs(fs); err != nil {
		os.Exit(cli.Exit(os.Stderr, err))
	}
	if *canary && *dur < minCanary {
		fmt.Printf("-canary: traffic runs %s (not %s) so the canary alert can gather traffic and pass its 2m for:\n", minCanary, *dur)
		*dur = minCanary
	}
	cv := canaryOpts{on: *canary, promURL: *promURL, amURL: *amURL}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *warmMax < *warm {
		*warmMax = *warm
	}
	if err := run(ctx, *bin, *work, warmup{min: *warm, max: *warmMax}, *dur, *rate, *pluginRate, *agents, *agentRate, *brokers, *es, *stack, *fluentBit, cv); err != nil {
		fmt.Fprintln(os.Stderr, "\ndemo failed:", err)
		os.Exit(1)
	}
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

// minCanary is the shortest traffic phase with -canary: about a minute
// for the canary's first 100 tasks, the alert's 2m for:, and evaluations.
const minCanary = 4 * time.Minute

type canaryOpts struct {
	on             bool
	promURL, amURL string
}

// warmup is how long traffic runs before the measured part: at least min,
// then until the indexer has caught up, at most max.
type warmup struct{ min, max time.Duration }

// caughtUp is how many looks in a row (one a second) the record lag must
// stay within its bound for the warm-up to end.
const caughtUp = 5

// warmupWatch decides, one look at the pipeline at a time, when the
// warm-up ends.
type warmupWatch struct {
	warmup
	bound  float64 // the lag of a pipeline that keeps up, records
	within int     // looks in a row with the lag within bound
}

// look takes one look (elapsed since traffic started, the record lag, the
// documents indexed so far) and says whether the warm-up is over and why.
func (w *warmupWatch) look(elapsed time.Duration, lag, indexed float64) (over bool, why string) {
	if lag <= w.bound && indexed > 0 {
		w.within++
	} else {
		w.within = 0
	}
	switch {
	case elapsed < w.min:
		return false, ""
	case w.within >= caughtUp:
		return true, "the indexer keeps up"
	case elapsed >= w.max:
		return true, fmt.Sprintf("-warmup-max %s reached; the indexer had not caught up (lag %.0f records)", w.max, lag)
	}
	return false, ""
}

func run(ctx context.Context, bin, work string, warm warmup, dur time.Duration, rate, pluginRate, agents int, agentRate float64, brokers, esURL, stack, fluentBit string, cv canaryOpts) error {
	runID := "demo-" + time.Now().UTC().Format("20060102-150405")
	workDir := filepath.Join(work, runID)
	abs := func(n string) string { p, _ := filepath.Abs(filepath.Join(bin, n)); return p }
	opt := rig.Options{
		Bins:    map[string]string{"agent": abs("agent"), "shipper": abs("shipper"), "indexer": abs("indexer"), "flbhost": abs("flbhost"), "flbchunk": abs("flbchunk"), "plugin": abs("out_agentobs.so")},
		WorkDir: workDir, StackDir: stack, Brokers: []string{brokers}, ESURL: esURL, PrometheusURL: cv.promURL, Names: rig.DefaultNames(), RunID: runID,
		Agents: agents, AgentRate: agentRate, Rate: rate, PluginRate: pluginRate, Duration: warm.min + dur, Extend: warm.max - warm.min, Seed: time.Now().UnixNano() % 1e6,
		RotateBytes: 8 << 20, IndexerAddr: "127.0.0.1:9400", ShipperAddr: "127.0.0.1:9401", PluginAddr: "127.0.0.1:9402",
		AgentBasePort: 9410, Register: true, Canary: cv.on, Probe: true,
	}
	if fluentBit != "" {
		opt.Bins["fluent-bit"] = fluentBit
	}
	fmt.Printf("agentobs demo %s: %d live agents, %d rec/s via shipper, %d rec/s via the Fluent Bit plugin, for %s after a warm-up of %s to %s (until the indexer keeps up)\n", runID, agents, rate, pluginRate, dur, warm.min, warm.max)
	fmt.Printf("work dir %s\n", workDir)
	if cv.on {
		if err := rig.EnsureCanaryRules(ctx, cv.promURL); err != nil {
			return err
		}
	}
	p, err := rig.Start(ctx, opt)
	if p != nil && pluginRate > 0 {
		fmt.Printf("plugin host: %s\n", p.PluginHost())
	}
	fmt.Println()
	if p != nil {
		defer func() {
			fmt.Println("\nstopping the pipeline (the local stack stays up; `make stack-down` stops it)")
			_ = p.Close()
		}()
	}
	if err != nil {
		return err
	}
	fmt.Printf("a probe record made the round trip shipper → Kafka → indexer → Elasticsearch in %s; starting traffic\n", p.ProbeTook.Round(10*time.Millisecond))
	cl, err := esclient.Config{Addresses: []string{esURL}, RequestTimeout: 30 * time.Second}.NewClient()
	if err != nil {
		return err
	}
	tty := term.IsTerminal(int(os.Stdout.Fd()))
	show := func(line string, final bool) {
		if tty {
			fmt.Printf("\r\033[K%s", line)
			if final {
				fmt.Println()
			}
		} else {
			fmt.Println(line)
		}
	}

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	started := time.Now()
	var end <-chan time.Time
	warming := warm.min > 0
	if !warming {
		end = time.After(dur)
	}
	// The lag of a pipeline that keeps up: two seconds of traffic.
	watch := warmupWatch{warmup: warm, bound: 2 * float64(rate+pluginRate)}
	every := 0
traffic:
	for {
		select {
		case <-ctx.Done():
			fmt.Println("\ninterrupted: stopping traffic and draining")
			break traffic
		case <-end:
			break traffic
		case <-tick.C:
			every++
			if !warming {
				if tty || every%5 == 0 {
					show(p.Status(context.Background()).Line(), false)
				}
				continue
			}
			st := p.Status(context.Background())
			if tty || every%5 == 0 {
				show(st.Line(), false)
			}
			elapsed := time.Since(started)
			over, why := watch.look(elapsed, st.Lag, st.Indexed)
			if !over {
				continue
			}
			warming = false
			if err := p.EndWarmup(ctx); err != nil {
				return err
			}
			show(fmt.Sprintf("%s  (warm-up over after %s, %s: latency from here on)", p.Status(context.Background()).Line(), elapsed.Round(time.Second), why), true)
			end = time.After(dur)
		}
	}
	p.StopLoadgens()
	show(p.Status(context.Background()).Line(), true)
	// The canary verdict is read while the agents still run: once they
	// stop, their scrapes fail and the alert resolves.
	var verdict *rig.CanaryVerdict
	var verdictErr error
	if cv.on {
		vctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		v, err := p.Canary(vctx, cv.promURL, cv.amURL)
		cancel()
		verdict, verdictErr = &v, err
	}
	p.StopTraffic()
	dctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for !p.LoadgenDone() || !p.PluginDone() {
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Println("traffic stopped; waiting until every record written is searchable…")
	drains := 0
	rep, err := p.Drain(dctx, cl, 2*time.Minute, func(r rig.Report) {
		if drains++; !tty && drains%5 != 0 {
			return
		}
		show(fmt.Sprintf("  draining: %d of %d records searchable", r.Written()-r.Lost(), r.Written()), false)
	})
	fmt.Println()
	rep.Write(os.Stdout)
	if err != nil {
		return err
	}
	failingUI := ""
	if v, terr := p.FailingTrace(dctx); terr == nil {
		fmt.Printf("\none failing trace, as the indexer's trace lookup returns it (GET /v1/traces/%s):\n\n", v.ID)
		trace.WriteTimeline(os.Stdout, v)
		failingUI = "http://" + opt.IndexerAddr + "/ui/traces/" + url.PathEscape(v.ID)
	} else {
		fmt.Println("\nno failing trace to show:", terr)
	}
	if verdict != nil {
		if verdictErr != nil {
			return fmt.Errorf("canary verdict: %w", verdictErr)
		}
		verdict.Write(os.Stdout)
		if verdict.Trace != nil {
			fmt.Printf("\none failing trace of the canary release (GET /v1/traces/%s):\n\n", verdict.Trace.ID)
			trace.WriteTimeline(os.Stdout, verdict.Trace)
		}
	}
	fmt.Printf(`
look further (the local stack stays up until `+"`make stack-down`"+`):
  Prometheus     http://127.0.0.1:9090/alerts      (the repo's alert rules; targets registered by the demo)
  Alertmanager   http://127.0.0.1:9093
  Elasticsearch  curl 'http://127.0.0.1:9200/agentobs-logs/_search?q=loadgen.run_id:%s&size=3&pretty'
  trace lookup   bin/indexer trace <trace-id>       (summary and every record, all services, in order)
  logs           %s/proc/*.log
  with Docker:   docker compose -f compose/docker-compose.yml up  → Grafana http://localhost:3000, Kibana http://localhost:5601
`, runID, workDir)
	if failingUI != "" {
		fmt.Printf("\nthe failing trace in the trace explorer (while an indexer serves %s, e.g. bin/indexer run):\n  %s\n", opt.IndexerAddr, failingUI)
	}
	if rep.Lost() != 0 || rep.Duplicates() != 0 {
		return fmt.Errorf("%d lost, %d duplicated", rep.Lost(), rep.Duplicates())
	}
	if rep.AgentSpans == 0 {
		return fmt.Errorf("the live agents' spans did not arrive: none in %s (see the agents' agentobs_agent_spans_exported_total and %s/proc)", opt.Names.SpansAlias, workDir)
	}
	if verdict != nil && verdict.PromState != "firing" {
		return fmt.Errorf("-canary: %s is %q in Prometheus, want firing", rig.CanaryAlert, verdict.PromState)
	}
	return nil
}
