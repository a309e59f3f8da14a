// Package pipeline runs the whole agentobs pipeline on one machine as real
// processes (agents, shipper, plugin host, indexer) against the local stack:
// the engine behind `make demo`, the end-to-end test and the benchmarks. It
// starts, watches and stops processes, scrapes their metrics, registers
// them with the local Prometheus, and counts what arrived in Elasticsearch.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one child process with its output in a log file.
type Proc struct {
	Name    string
	Bin     string
	Args    []string
	Env     []string
	LogPath string
	// Stdout, when set, receives the child's stdout instead of the log file
	// (agents write their JSON logs to stdout, which the shipper tails).
	Stdout string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start launches the process.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.done != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s already running", p.Name)
		}
	}
	if err := os.MkdirAll(filepath.Dir(p.LogPath), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s log: %w", p.Name, err)
	}
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stderr = logf
	cmd.Stdout = logf
	var outf *os.File
	if p.Stdout != "" {
		outf, err = os.OpenFile(p.Stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			logf.Close()
			return fmt.Errorf("%s stdout: %w", p.Name, err)
		}
		cmd.Stdout = outf
	}
	// Own process group: a Ctrl-C on the demo reaches us, and we stop children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		if outf != nil {
			outf.Close()
		}
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		err := cmd.Wait()
		logf.Close()
		if outf != nil {
			outf.Close()
		}
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}(p.done)
	return nil
}

// Running reports whether the process is alive.
func (p *Proc) Running() bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Signal sends sig and waits up to timeout for the exit; past it the
// process is killed. It returns the exit error (nil for a clean exit).
func (p *Proc) Signal(sig syscall.Signal, timeout time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || done == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not stop within %s after %s; killed", p.Name, timeout, sig)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && sig == syscall.SIGKILL {
		return nil
	}
	return p.err
}

// Stop is a graceful SIGTERM with a 30 s deadline.
func (p *Proc) Stop() error { return p.Signal(syscall.SIGTERM, 30*time.Second) }

// Kill is SIGKILL: no flush, no commit, no checkpoint.
func (p *Proc) Kill() { _ = p.Signal(syscall.SIGKILL, 10*time.Second) }

// Tail returns the last n lines of the process log (for failure messages).
func (p *Proc) Tail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Build compiles the main packages into dir and returns their paths by
// base name (e.g. "indexer" → dir/indexer).
func Build(ctx context.Context, repo, dir string, pkgs ...string) (map[string]string, error) {
	out := map[string]string{}
	args := append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %v: %w\n%s", pkgs, err, b)
	}
	for _, p := range pkgs {
		out[filepath.Base(p)] = filepath.Join(dir, filepath.Base(p))
	}
	return out, nil
}
