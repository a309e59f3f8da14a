package alerts_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// requireTool returns the path of a binary from the Debian packages the
// local stack installs (prometheus, prometheus-alertmanager). Missing, the
// test is skipped on a developer machine and fails in CI or when the stack
// is required (AGENTOBS_REQUIRE_STACK=1, as make test sets).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("AGENTOBS_REQUIRE_STACK") == "1" {
			t.Fatalf("%s not found: run scripts/stack.sh install (Debian packages prometheus, prometheus-alertmanager)", name)
		}
		t.Skipf("%s not found; scripts/stack.sh install provides it", name)
	}
	return p
}

var (
	agentOnce sync.Once
	agentBin  string
	agentErr  error
)

// buildAgent builds the reference agent once per test binary.
func buildAgent(t *testing.T) string {
	t.Helper()
	agentOnce.Do(func() {
		dir, err := os.MkdirTemp("", "alerts-agent-")
		if err != nil {
			agentErr = err
			return
		}
		agentBin = filepath.Join(dir, "agent")
		out, err := exec.Command("go", "build", "-o", agentBin, "../agent").CombinedOutput()
		if err != nil {
			agentErr = &buildError{err, string(out)}
		}
	})
	if agentErr != nil {
		t.Fatal(agentErr)
	}
	return agentBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build ./agent: " + e.err.Error() + "\n" + e.out }

// process is a child process the test owns; stop is idempotent.
type process struct {
	cmd  *exec.Cmd
	once sync.Once
}

func start(t *testing.T, logName string, name string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(name, args...)
	f, err := os.Create(filepath.Join(t.TempDir(), logName+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd}
	t.Cleanup(p.stop)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(f.Name())
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("last output of %s:\n%s", logName, b)
		}
	})
	return p
}

// stop sends SIGTERM and waits (SIGKILL after 10s).
func (p *process) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	})
}

// startAgent runs the agent binary on addr (no simulated traffic unless
// rate > 0) and waits until it is ready.
func startAgent(t *testing.T, addr string, rate string) *process {
	t.Helper()
	p := start(t, "agent-"+addr, buildAgent(t), "serve", "-http.addr", addr, "-env.rate", rate, "-log.level", "warn", "-id", "alerts-test")
	waitHTTP(t, "http://"+addr+"/readyz", 30*time.Second)
	return p
}

func waitHTTP(t *testing.T, url string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not ready after %s (last error %v)", url, d, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
