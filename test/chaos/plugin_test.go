package chaos_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/agentobs/agentobs/test/rig"
)

var (
	pluginOnce sync.Once
	pluginErr  error
)

// buildPlugin builds the plugin .so, the C host that drives it as Fluent
// Bit's Go proxy does, and flbchunk, once and only when a scenario needs
// them (the c-shared build is the slow one; the short suite never pays it).
func buildPlugin(t *testing.T) {
	t.Helper()
	pluginOnce.Do(func() {
		if bins["plugin"], bins["flbhost"], pluginErr = harness.BuildPlugin(context.Background(), harness.RepoRoot(), binDir); pluginErr != nil {
			return
		}
		bins["flbchunk"] = filepath.Join(binDir, "flbchunk")
		cmd := exec.Command("go", "build", "-o", bins["flbchunk"], "./collector/cmd/flbchunk")
		cmd.Dir = harness.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			pluginErr = fmt.Errorf("build flbchunk: %v\n%s", err, out)
		}
	})
	if pluginErr != nil {
		t.Fatal(pluginErr)
	}
}

// pluginMaxChunks is flbhost's limit of chunks per instance (MAXC), and
// pluginWorkers the flush threads (Fluent Bit's "workers"). A run is cut
// into at most that many chunks: 200 000 records make ~1.2 MiB chunks,
// under Fluent Bit's 2 MiB chunk size.
const pluginMaxChunks, pluginWorkers = 64, 2

// pluginLoad makes the plugin host the front door: the load generator's
// records become Fluent Bit chunks (flbchunk), which flbhost flushes into
// the plugin paced at cfg.Rate. The report is sent once the host has run
// through every chunk after the scenario replayed them (replayed closed).
func (r *chaosRig) pluginLoad(cfg loadgen.Config, replayed <-chan struct{}) <-chan loadgen.Report {
	t := r.t
	buildPlugin(t)
	lines := filepath.Join(r.dir, "plugin-input.ndjson")
	f, err := os.Create(lines)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	// Whole chunks, as many for every worker.
	perChunk := (cfg.Records + pluginMaxChunks - 1) / pluginMaxChunks
	per := perChunk * pluginWorkers
	cfg.Records = (cfg.Records + per - 1) / per * per
	rep, err := loadgen.Generate(cfg, func(line []byte) error { _, err := w.Write(line); return err })
	if err == nil {
		err = w.Flush()
	}
	f.Close()
	if err != nil {
		t.Fatalf("plugin corpus: %v", err)
	}
	chunkDir := filepath.Join(r.dir, "chunks")
	if out, err := exec.Command(bins["flbchunk"], "-in", lines, "-out", chunkDir, "-per-chunk", strconv.FormatInt(perChunk, 10)).CombinedOutput(); err != nil {
		t.Fatalf("flbchunk: %v: %s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(chunkDir, "*.chunk"))
	sort.Strings(files)
	interval := time.Duration(float64(time.Second) * float64(per) / float64(cfg.Rate))
	addr := harness.FreeAddr(t)
	args := []string{bins["plugin"], "-retry-max", "1000", "-retry-wait-ms", "500", "-interval-ms", strconv.Itoa(int(interval / time.Millisecond)),
		"-i", "chaos", "-p", "Brokers=" + strings.Join(r.edgeKafka.Brokers, ","), "-p", "Topic=" + r.topic, "-p", "DLQ_Topic=" + r.dlq,
		"-p", "Metrics_Addr=" + addr, "-p", "Source=chaos-fluent-bit", "-tag", "agents.chaos",
		"-workers", strconv.Itoa(pluginWorkers), "-repeat", strconv.Itoa(len(files) / pluginWorkers)}
	for _, f := range files {
		args = append(args, "-chunk", f)
	}
	r.plugin = &proc{Proc: &rig.Proc{Name: "flbhost", Bin: bins["flbhost"], Args: args, LogPath: filepath.Join(r.dir, "flbhost.log")},
		addr: addr, kind: "collector"}
	r.front = r.plugin
	r.start(r.plugin)
	out := make(chan loadgen.Report, 1)
	go func() {
		<-replayed
		<-r.plugin.Exited()
		want := fmt.Sprintf("done instance=chaos ok=%d error=0 gaveup=0", len(files))
		if !strings.Contains(r.plugin.Tail(5), want) {
			r.ledger.Fail("the replayed host did not end every chunk FLB_OK (want %q):\n%s", want, r.plugin.Tail(10))
		}
		out <- rep
	}()
	return out
}

// killPluginMidFlush SIGKILLs the plugin host while a produce call is in
// flight (records of that chunk may be in Kafka, Fluent Bit was never told
// FLB_OK), then starts it again 2 s later: flbhost over the same chunks
// from the first (replayed is closed then), as Fluent Bit replays its
// filesystem buffer after a crash; real Fluent Bit (replayed nil) on its
// tail DB and filesystem storage, re-flushing what it never saw
// acknowledged. event.id makes the second copies the same documents.
func killPluginMidFlush(replayed chan<- struct{}) func(t *testing.T, r *chaosRig) {
	return func(t *testing.T, r *chaosRig) {
		if replayed != nil {
			defer close(replayed)
		}
		deadline := time.Now().Add(30 * time.Second)
		inFlight := 0.0
		for time.Now().Before(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			m, err := rig.Scrape(ctx, "http://"+r.plugin.addr+"/metrics")
			cancel()
			if err == nil {
				if inFlight = m.Sum("agentobs_collector_produce_in_flight"); inFlight > 0 {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
		r.plugin.Kill()
		if inFlight == 0 {
			r.ledger.Fail("no produce call in flight within 30s: the kill was not mid-flush")
		}
		if replayed != nil {
			r.ledger.Note("flbhost SIGKILLed with %.0f produce call(s) in flight, after %d flushes returned FLB_OK; then every chunk replayed",
				inFlight, strings.Count(readFile(r.plugin.LogPath), "rc=1 "))
		} else {
			r.ledger.Note("Fluent Bit SIGKILLed with %.0f produce call(s) in flight; started again on its tail DB and filesystem storage", inFlight)
		}
		time.Sleep(2 * time.Second)
		r.start(r.plugin)
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
