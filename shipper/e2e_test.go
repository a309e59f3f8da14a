package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus/testutil"
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
	start := func() *exec.Cmd {
		cmd := exec.Command(shipperBin, args...)
		cmd.Stderr = os.Stderr
		if !testing.Verbose() {
			cmd.Stderr = nil
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
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
	start := func() *exec.Cmd {
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
