package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/telemetry"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

// runLoadgen writes n records into path at rate, rotating by rename every
// rotate bytes, in the background; the returned channel yields the report.
func runLoadgen(t *testing.T, path string, n int64, rate int, rotate int64) <-chan loadgen.Report {
	t.Helper()
	cfg := loadgen.DefaultConfig()
	cfg.Records, cfg.Rate, cfg.RotateBytes, cfg.RunID = n, rate, rotate, filepath.Base(t.Name())
	out := make(chan loadgen.Report, 1)
	go func() {
		rep, err := loadgen.RunFile(context.Background(), cfg, path)
		if err != nil {
			t.Errorf("loadgen: %v", err)
		}
		out <- rep
	}()
	return out
}

// Lines written while the file rotates (rename + create) arrive exactly
// once: the glob also matches the rotated names (app.log.1, …), so the
// shipper must recognise them by device+inode and not read them again.
func TestFilesExactlyOnceWithRotation(t *testing.T) {
	brokers := harness.RequireKafka(t).Brokers
	topic := harness.Topic(t, 3)
	dir := t.TempDir()
	const n = 30_000
	cfg := testConfig(t, brokers, topic, filepath.Join(dir, "app.log*"))
	_, reg, stop := startApp(t, cfg)
	rep := <-runLoadgen(t, filepath.Join(dir, "app.log"), n, 20_000, 1<<20)
	if len(rep.Files) < 4 {
		t.Fatalf("want several rotations, loadgen wrote %v", rep.Files)
	}
	msgs := consumeSeqs(t, brokers, topic, n, 60*time.Second)
	ta := check(t, msgs, n)
	t.Logf("rotated files %d: %s", len(rep.Files), ta)
	if ta.records != n || len(ta.ids) != n || len(ta.missing) != 0 || len(ta.conflicts) != 0 {
		t.Fatalf("want exactly %d records once each: %s", n, ta)
	}
	if got := testutil.ToFloat64(metric(t, reg, "agentobs_shipper_rotations_total", "kind", "rename")); got < 1 {
		t.Errorf("rotations_total{kind=rename} = %v, want >= 1", got)
	}
	stop()
}

// kill -9 in the middle of a stream, then a restart from the checkpoints:
// no line is missing, and a line shipped twice has the same event.id both
// times (the indexer keeps one). The glob takes the rotated names too, as
// the README advises: the generator rotates every ~0.3 s, so on busy cores
// a whole file can be born and renamed while the shipper is down, and no
// tailer can know a file it never saw once it has left the globs (the
// deterministic out-of-glob case is the test below).
func TestKill9AndRestartLosesNothing(t *testing.T) {
	brokers := harness.RequireKafka(t).Brokers
	topic := harness.Topic(t, 3)
	dir := t.TempDir()
	cpDir := filepath.Join(dir, "checkpoints")
	const n = 40_000
	args := []string{"-files.include", filepath.Join(dir, "*.log*"), "-files.checkpoint-dir", cpDir,
		"-files.poll-interval", "50ms", "-files.checkpoint-interval", "200ms", "-kafka.brokers", strings.Join(brokers, ","),
		"-kafka.topic", topic, "-http.addr", "", "-host", "kill9-host"}
	start := func() *exec.Cmd { return startShipper(t, args) }
	repc := runLoadgen(t, filepath.Join(dir, "agent.log"), n, 10_000, 1<<20)
	first := start()
	time.Sleep(2 * time.Second) // mid-stream: about half written
	_ = first.Process.Signal(syscall.SIGKILL)
	_ = first.Wait()
	second := start()
	t.Cleanup(func() { _ = second.Process.Kill(); _ = second.Wait() })
	rep := <-repc
	msgs := consumeSeqs(t, brokers, topic, n, 90*time.Second)
	ta := check(t, msgs, n)
	t.Logf("rotated files %d: %s", len(rep.Files), ta)
	if len(ta.missing) != 0 || len(ta.conflicts) != 0 || len(ta.ids) != n {
		t.Fatalf("after kill -9: %s", ta)
	}
	// A graceful stop: exit 0 after the final flush.
	_ = second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Errorf("SIGTERM exit: %v", err)
	}
}

// Found-1 of issue 18 against real Kafka and the real binary: the shipper
// tails *.log; it is killed (-9) after delivering the first part of
// app.log; while it is down app.log gets more lines and is renamed out of
// the glob (app.log → app.log.1) and a new app.log is written; the
// restarted shipper must deliver every line (it used to drop the renamed
// file's checkpoint and lose the lines written while it was down).
func TestRotationOutOfGlobWhileKilledLosesNothing(t *testing.T) {
	brokers := harness.RequireKafka(t).Brokers
	topic := harness.Topic(t, 3)
	dir := t.TempDir()
	cpDir := filepath.Join(dir, "checkpoints")
	const first, down, after = 3000, 5336, 1000
	args := []string{"-files.include", filepath.Join(dir, "*.log"), "-files.checkpoint-dir", cpDir,
		"-files.poll-interval", "50ms", "-files.checkpoint-interval", "100ms", "-kafka.brokers", strings.Join(brokers, ","),
		"-kafka.topic", topic, "-http.addr", "", "-host", "rot-host"}
	start := func() *exec.Cmd { return startShipper(t, args) }
	app := filepath.Join(dir, "app.log")
	write := func(from, n int) {
		lines := make([]string, n)
		for i := range lines {
			lines[i] = fmt.Sprintf(`{"message":"line %d","seq":%d}`, from+i, from+i)
		}
		f, err := os.OpenFile(app, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	write(1, first)
	sh := start()
	consume(t, brokers, topic, first, 60*time.Second)
	// Wait until the checkpoint covers the whole file, so the lines written
	// next are the only unread ones.
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(cpDir, "checkpoints.json"))
		st, _ := os.Stat(app)
		return st != nil && strings.Contains(string(b), fmt.Sprintf(`"offset": %d`, st.Size())), string(b)
	})
	_ = sh.Process.Signal(syscall.SIGKILL)
	_ = sh.Wait()
	write(first+1, down)
	if err := os.Rename(app, app+".1"); err != nil {
		t.Fatal(err)
	}
	write(first+down+1, after)
	sh = start()
	t.Cleanup(func() { _ = sh.Process.Kill(); _ = sh.Wait() })
	const n = first + down + after
	ta := check(t, consumeSeqs(t, brokers, topic, n, 60*time.Second), n)
	t.Log(ta)
	if len(ta.missing) != 0 || len(ta.conflicts) != 0 || len(ta.ids) != n {
		t.Fatalf("rotation while killed: %s", ta)
	}
	_ = sh.Process.Signal(syscall.SIGTERM)
	if err := sh.Wait(); err != nil {
		t.Errorf("SIGTERM exit: %v", err)
	}
}

// Build-2 of issue 18 at the shipper: a clean stop publishes the
// high-water mark of every producer (here the one file's) to the marks
// topic, after the queue drained, so the audit can tell a clean end from
// loss at the end of the sequence.
func TestCleanStopPublishesHighWaterMarks(t *testing.T) {
	brokers := harness.RequireKafka(t).Brokers
	topic, marks := harness.Topic(t, 1), harness.Topic(t, 1)
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	if err := os.WriteFile(p, []byte("{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, brokers, topic, filepath.Join(dir, "*.log"))
	cfg.Marks.Topic, cfg.Marks.Interval = marks, 0
	_, _, stop := startApp(t, cfg)
	recs := consume(t, brokers, topic, 3, 30*time.Second)
	stop()
	ms := consume(t, brokers, marks, 1, 30*time.Second)
	var producer string
	{
		var d map[string]any
		_ = json.Unmarshal(recs[len(recs)-1].Value, &d)
		producer, _ = d["agentobs.producer.id"].(string)
	}
	found := false
	for _, m := range ms {
		mk, err := publish.ParseMark(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if mk.ProducerID == producer {
			found = true
			if mk.FirstSeq != 1 || mk.LastSeq != 3 || string(m.Key) != producer {
				t.Errorf("mark %+v key %q, want seqs 1..3 keyed by producer", mk, m.Key)
			}
		}
	}
	if !found {
		t.Fatalf("no mark for producer %q in %d marks", producer, len(ms))
	}
}

// TestKill9WithHTTPRequestsInFlightLeavesNoHoles: eight clients POST NDJSON
// requests concurrently and retry each (same Idempotency-Key) until it is
// answered 200; the shipper is killed (-9) mid-stream and restarted. A
// request in flight at the kill is re-sent to the next process, under its
// producer id. With one sequence shared by concurrent requests, its numbers
// became a hole below numbers another request had acknowledged, which the
// loss audit reports as missing; each request in flight now stamps its own
// lane (publish.Lanes) and holds that lane's marks below its numbers, so
// every producer's numbers up to its mark are in Kafka.
func TestKill9WithHTTPRequestsInFlightLeavesNoHoles(t *testing.T) {
	brokers := harness.RequireKafka(t).Brokers
	topic, marks := harness.Topic(t, 3), harness.Topic(t, 1)
	addr := harness.FreeAddr(t)
	args := []string{"-http.addr", addr, "-http.ingest", "-kafka.brokers", strings.Join(brokers, ","), "-kafka.topic", topic,
		"-kafka.marks-topic", marks, "-marks.interval", "200ms", "-host", "kill9-http"}
	start := func() *exec.Cmd { return startShipper(t, args) }
	const clients, perRequest = 32, 40
	first := start()
	ready := func() {
		harness.Eventually(t, 30*time.Second, func() (bool, string) {
			err := telemetry.HealthCheck("http://" + addr + "/readyz")
			return err == nil, fmt.Sprint("shipper not ready: ", err)
		})
	}
	ready()
	var wg sync.WaitGroup
	var stop atomic.Bool
	var sent atomic.Int64 // requests answered 200
	client := &http.Client{Timeout: 10 * time.Second}
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; !stop.Load(); r++ {
				key := fmt.Sprintf("c%d-r%d", c, r)
				var body strings.Builder
				for i := range perRequest {
					fmt.Fprintf(&body, "{\"msg\":\"%s line %d\",\"pad\":\"%s\"}\n", key, i, strings.Repeat("x", 200))
				}
				for {
					req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/ndjson", strings.NewReader(body.String()))
					req.Header.Set("Idempotency-Key", key)
					res, err := client.Do(req)
					if err == nil {
						res.Body.Close()
						if res.StatusCode == http.StatusOK {
							sent.Add(1)
							break
						}
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond) // mid-stream
	_ = first.Process.Signal(syscall.SIGKILL)
	_ = first.Wait()
	second := start()
	t.Cleanup(func() { _ = second.Process.Kill(); _ = second.Wait() })
	ready()
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	_ = second.Process.Signal(syscall.SIGTERM) // the final marks
	if err := second.Wait(); err != nil {
		t.Errorf("SIGTERM exit: %v", err)
	}

	n := int(sent.Load()) * perRequest
	seqs := map[string]map[int64]bool{} // producer id -> seqs in Kafka
	ids := map[string]bool{}
	conf := kafkaclient.DefaultConfig()
	conf.Brokers = brokers
	harness.ConsumeUntil(t, conf, topic, 60*time.Second, func(m kafka.Message) bool {
		var d struct {
			ID     string `json:"agentobs.producer.id"`
			Seq    int64  `json:"agentobs.producer.seq"`
			Canary string `json:"agentobs.canary"`
		}
		if json.Unmarshal(m.Value, &d) != nil || d.Canary != "" {
			return false
		}
		if d.ID != "" {
			if seqs[d.ID] == nil {
				seqs[d.ID] = map[int64]bool{}
			}
			seqs[d.ID][d.Seq] = true
		}
		ids[kafkaclient.Header(m, publish.HeaderEventID)] = true
		return len(ids) == n
	})
	if len(ids) != n {
		t.Fatalf("%d distinct records in Kafka, want %d", len(ids), n)
	}
	marked := map[string]int64{} // the highest mark per producer, as the audit settles it
	for _, m := range harness.ConsumeUntil(t, conf, marks, 5*time.Second, nil) {
		if mk, err := publish.ParseMark(m.Value); err == nil {
			marked[mk.ProducerID] = max(marked[mk.ProducerID], int64(mk.LastSeq))
		}
	}
	// What the audit would report: per producer, the numbers from its
	// first record in Kafka up to the higher of its last one and its mark
	// that are not in Kafka.
	var holes []string
	for id, s := range seqs {
		lo, hi := int64(math.MaxInt64), marked[id]
		for seq := range s {
			lo, hi = min(lo, seq), max(hi, seq)
		}
		missing := 0
		for seq := lo; seq <= hi; seq++ {
			if !s[seq] {
				missing++
			}
		}
		if missing > 0 {
			holes = append(holes, fmt.Sprintf("%s: %d of %d..%d (mark %d)", id, missing, lo, hi, marked[id]))
		}
	}
	t.Logf("%d records over %d producers", n, len(seqs))
	if len(holes) > 0 {
		t.Fatalf("numbers missing below a producer's last record or mark, all records delivered:\n%s", strings.Join(holes, "\n"))
	}
}

// startShipper runs the shipper binary with args; it dies with the test
// process.
func startShipper(t *testing.T, args []string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(shipperBin, args...)
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}
