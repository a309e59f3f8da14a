// Package harness runs one child process the way every agentobs harness needs
// it: output appended to a log file (stdout optionally to its own file),
// its own process group so a stop reaches its children too, death with the
// parent, graceful stop with a deadline, SIGKILL, restart with the same
// command line, and the log tail for failure messages. The local pipeline
// (demo, end-to-end test, chaos) and the private test servers (Kafka,
// Elasticsearch) both run on it.
package harness

import (
	"bufio"
	"bytes"
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

// Proc is one child process. Fields are set before Start.
type Proc struct {
	Name    string
	Bin     string
	Args    []string
	Env     []string // added to the current environment (later entries win)
	LogPath string   // stderr, and stdout unless Stdout is set, are appended here
	// Stdout, when set, receives the child's stdout instead of the log file
	// (agents write their JSON logs to stdout, which the shipper tails).
	Stdout string
	// Credential runs the child as another user (Elasticsearch refuses root).
	Credential *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	// frozen: Freeze stopped the group and no Thaw or Signal resumed it.
	frozen bool
}

// Start launches the process; starting a stopped Proc again restarts it
// with the same command line.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s already running (pid %d)", p.Name, p.cmd.Process.Pid)
		}
	}
	p.frozen = false
	if err := os.MkdirAll(filepath.Dir(p.LogPath), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s log: %w", p.Name, err)
	}
	files := []*os.File{logf}
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if p.Stdout != "" {
		outf, err := os.OpenFile(p.Stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			logf.Close()
			return fmt.Errorf("%s stdout: %w", p.Name, err)
		}
		cmd.Stdout = outf
		files = append(files, outf)
	}
	// Own process group: Stop and Kill reach the child's children too
	// (Elasticsearch's launcher runs the server as a child). Pdeathsig: a
	// harness that dies (timeout, panic, Ctrl-C) takes its children along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: p.Credential}
	if err := cmd.Start(); err != nil {
		for _, f := range files {
			f.Close()
		}
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	go func() {
		err := cmd.Wait()
		for _, f := range files {
			f.Close()
		}
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
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

// Exited is closed when the current run ends (nil before the first Start).
func (p *Proc) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Signal sends sig to the process group and waits up to grace for the exit;
// past it the group is killed. It returns the exit error (nil for a clean
// exit, and for the SIGKILL it was asked to send).
func (p *Proc) Signal(sig syscall.Signal, grace time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || done == nil {
		return nil
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	p.mu.Lock()
	frozen := p.frozen
	p.frozen = false
	p.mu.Unlock()
	if sig != syscall.SIGKILL && frozen {
		// A frozen (SIGSTOPped) process handles the signal only once
		// resumed. Only then: a SIGCONT is not harmless to every process
		// (Fluent Bit dumps its engine state on it, from its main thread,
		// walking lists the engine is changing while it shuts down).
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT)
	}
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("%s did not stop within %s after %s; killed", p.Name, grace, sig)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var ee *exec.ExitError
	if sig == syscall.SIGKILL && errors.As(p.err, &ee) {
		return nil
	}
	return p.err
}

// Notify sends sig to the process group and returns at once (SIGHUP for a
// reload, SIGSTOP/SIGCONT for a freeze).
func (p *Proc) Notify(sig syscall.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("%s was never started", p.Name)
	}
	return syscall.Kill(-cmd.Process.Pid, sig)
}

// Freeze stops the process group with SIGSTOP: the process keeps its
// sockets open and answers nothing, like a hung JVM, a long GC pause or a
// VM paused by its hypervisor. Thaw (SIGCONT) resumes it.
func (p *Proc) Freeze() error { return p.setFrozen(syscall.SIGSTOP, true) }

// Thaw resumes a frozen process group (SIGCONT).
func (p *Proc) Thaw() error { return p.setFrozen(syscall.SIGCONT, false) }

func (p *Proc) setFrozen(sig syscall.Signal, frozen bool) error {
	if err := p.Notify(sig); err != nil {
		return err
	}
	p.mu.Lock()
	p.frozen = frozen
	p.mu.Unlock()
	return nil
}

// Stop is a graceful SIGTERM with a 30 s deadline.
func (p *Proc) Stop() error { return p.Signal(syscall.SIGTERM, 30*time.Second) }

// Kill is SIGKILL: no flush, no commit, no checkpoint.
func (p *Proc) Kill() { _ = p.Signal(syscall.SIGKILL, 10*time.Second) }

// Tail returns the last n lines of the log file (for failure messages).
func (p *Proc) Tail(n int) string { return Tail(p.LogPath, n) }

// Tail returns the last n lines of a file.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log %s: %v)", path, err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitReady polls ready every 250 ms until it succeeds, the process exits or
// timeout passes; the error carries the tail of the given logs.
func (p *Proc) WaitReady(timeout time.Duration, ready func() error, logs ...string) error {
	deadline := time.Now().Add(timeout)
	for {
		last := ready()
		if last == nil {
			return nil
		}
		why := ""
		if !p.Running() {
			why = "exited during start-up"
		} else if time.Now().After(deadline) {
			why = fmt.Sprintf("not ready after %s", timeout)
		}
		if why != "" {
			var b strings.Builder
			fmt.Fprintf(&b, "%s %s (last check: %v)", p.Name, why, last)
			for _, l := range logs {
				b.WriteString("\n" + l + ":\n" + Tail(l, 40))
			}
			return errors.New(b.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
}
