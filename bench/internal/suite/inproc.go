package suite

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/agentobs/agentobs/indexer/app"
	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/internal/telemetry"
	"github.com/prometheus/client_golang/prometheus"
)

// gathered sums the counters named metric in reg.
func gathered(reg *prometheus.Registry, names ...string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	t := 0.0
	for _, mf := range mfs {
		for _, n := range names {
			if mf.GetName() == n {
				for _, m := range mf.GetMetric() {
					t += m.GetCounter().GetValue()
				}
			}
		}
	}
	return t
}

// runIndexerInProc runs the indexer in this process (app.New + Run, or the
// benchmark-only RunBenchMode) on topic until n documents are in; with
// profile set it writes a CPU profile of that time.
// inProcConfig is the config of an in-process indexer on topic writing
// names: the stack's servers, a fresh group, the record pipeline alone.
func (s *Suite) inProcConfig(topic string, names schema.Names) app.Config {
	cfg := app.DefaultConfig()
	cfg.Kafka.Brokers = s.env.Brokers
	cfg.ES.Addresses = []string{s.env.ESURL}
	cfg.Topic, cfg.DLQTopic, cfg.Group = topic, s.dlq, s.env.Name("g", fmt.Sprint(s.seq()))
	cfg.SpansTopic = "" // R1 measures the record pipeline alone
	cfg.SessionTimeout = 6 * time.Second
	cfg.Names = names
	cfg.Index.Replicas = 0
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.LogLevel = "warn"
	return cfg
}

func (s *Suite) runIndexerInProc(ctx context.Context, topic string, n int, mode app.BenchMode, profile, step string) (indexRun, error) {
	names := s.env.Names("ip", fmt.Sprint(s.seq()))
	defer s.env.DropIndices(s.es, names)
	cfg := s.inProcConfig(topic, names)
	reg := telemetry.NewRegistry()
	a, err := app.New(cfg, app.Settings{Logger: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), Registry: reg, ShutdownTimeout: 30 * time.Second})
	if err != nil {
		return indexRun{}, err
	}
	defer a.Close(context.Background())
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	espid := StackPID("elasticsearch")
	e0, u0 := TreeCPU(espid), Self()
	go func() { done <- a.RunBenchMode(rctx, mode) }()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			cancel()
			return indexRun{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			cancel()
			return indexRun{}, err
		}
		defer pprof.StopCPUProfile()
	}
	// Progress is read from a registry of just the three counters: the
	// app's registry also runs the process collector (it reads /proc), and
	// polling that every 20 ms was a fifth of the profile taken here.
	am := a.Metrics()
	progress := prometheus.NewRegistry()
	progress.MustRegister(am.Indexed, am.Duplicates, am.Consumed)
	count := func() float64 {
		return gathered(progress, "agentobs_indexer_documents_indexed_total", "agentobs_indexer_duplicates_total")
	}
	alive := func() error {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("indexer stopped: %v", err)
		default:
			return nil
		}
	}
	s.prog.Step(step, float64(n), count)
	fetched := func() float64 { return gathered(progress, "agentobs_indexer_records_consumed_total") }
	rate, err := measureRate(ctx, float64(n), count, fetched, alive, 10*time.Minute)
	cancel()
	<-done
	u1 := Self()
	if err != nil {
		return indexRun{}, err
	}
	r := indexRun{Rate: rate, Usage: Usage{CPU: u1.CPU - u0.CPU, PeakRSS: u1.PeakRSS}, ES: TreeCPU(espid) - e0}
	s.prog.Logf("indexer in-process %+v: %.0f docs/s, CPU %.1fs", mode, rate, r.Usage.CPU.Seconds())
	return r, nil
}
