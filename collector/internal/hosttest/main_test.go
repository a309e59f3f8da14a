package hosttest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/collector/internal/flbchunk"
	"github.com/agentobs/agentobs/test/harness"
)

var (
	pluginSO string // built once per package run
	hostBin  string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agentobs-collector-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		pluginSO, hostBin, err = harness.BuildPlugin(context.Background(), harness.RepoRoot(), dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// hostRun is one finished host process.
type hostRun struct {
	stdout, stderr string
	code           int
}

func (r hostRun) count(substr string) int { return strings.Count(r.stdout, substr) }

// runHost runs the host with args (after the plugin path) to completion.
func runHost(t *testing.T, args ...string) hostRun {
	t.Helper()
	cmd := exec.Command(hostBin, append([]string{pluginSO}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := hostRun{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run host: %v", err)
	}
	t.Logf("host exit %d\n%s", r.code, tail(r.stdout, 30))
	return r
}

// startHost starts the host and streams its stdout lines.
func startHost(t *testing.T, args ...string) (*exec.Cmd, <-chan string, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(hostBin, append([]string{pluginSO}, args...)...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return cmd, lines, &errb
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// writeChunk writes a Fluent Bit chunk file of the given records.
func writeChunk(t *testing.T, format flbchunk.Format, kind flbchunk.TimeKind, recs []map[string]any, base time.Time) string {
	t.Helper()
	b := flbchunk.New(format)
	b.Time = kind
	for i, r := range recs {
		b.Add(base.Add(time.Duration(i)*time.Microsecond), r, nil)
	}
	return writeFile(t, b.Bytes())
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "chunk-*.msgpack")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return f.Name()
}

// agentRecords are n agent log lines of one service, each in its own trace
// with the trace context in the shapes agents use.
func agentRecords(prefix string, n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range n {
		trace := fmt.Sprintf("%032x", uint64(0xabc0000+i)+uint64(len(prefix))<<40)
		span := fmt.Sprintf("%016x", uint64(i+1))
		switch i % 3 {
		case 0: // container runtime line with JSON in "log"
			out[i] = map[string]any{"log": fmt.Sprintf(`{"level":"info","msg":"%s step %d","service":"planner","trace_id":"%s","span_id":"%s"}`, prefix, i, trace, span),
				"stream": "stdout"}
		case 1: // already structured (e.g. parsed by a filter)
			out[i] = map[string]any{"message": fmt.Sprintf("%s step %d", prefix, i), "level": "WARN",
				"service.name": "planner", "traceId": trace, "spanId": span}
		default: // traceparent
			out[i] = map[string]any{"msg": fmt.Sprintf("%s step %d", prefix, i), "severity": "error", "service": "planner",
				"traceparent": "00-" + trace + "-" + span + "-01"}
		}
	}
	return out
}

func commonProps(topic, dlq string) []string {
	return []string{"-p", "Brokers=" + strings.Join(harness.Brokers(), ","), "-p", "Topic=" + topic, "-p", "DLQ_Topic=" + dlq,
		"-p", "Source=testhost", "-p", "Timeout=10s"}
}
