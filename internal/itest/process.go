package itest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrUnavailable marks a private server that cannot be started on this
// machine because its binaries are missing (not installed by the stack
// script): the test is skipped, or fails under CI=true.
var ErrUnavailable = errors.New("server binaries not available")

// RepoRoot is the module root (found from this file's location).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	stackEnvOnce sync.Once
	stackEnv     map[string]string
)

// stackVar reads a variable from the environment or else from
// `scripts/stack.sh env` (where the stack installed Kafka and Elasticsearch).
func stackVar(name string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	stackEnvOnce.Do(func() {
		stackEnv = map[string]string{}
		out, err := exec.Command("bash", filepath.Join(RepoRoot(), "scripts", "stack.sh"), "env").Output()
		if err != nil {
			return
		}
		for _, l := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				stackEnv[k] = v
			}
		}
	})
	return stackEnv[name]
}

// JavaHome is the Java 17 the stack uses (JAVA17_HOME, else the usual paths).
func JavaHome() (string, error) {
	cands := []string{os.Getenv("JAVA17_HOME"), "/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk-arm64", "/usr/lib/jvm/java-17-openjdk"}
	for _, d := range cands {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "bin", "java")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: no Java 17 (set JAVA17_HOME or run scripts/stack.sh install)", ErrUnavailable)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func freePorts(n int) ([]int, error) {
	// Hold every listener until all are chosen so the ports differ.
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// proc is one server process: started, stopped, killed and restarted with
// the same command line, its output appended to one log file.
type proc struct {
	name    string
	argv    []string
	env     []string
	logFile string
	cred    *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s is already running (pid %d)", p.name, p.cmd.Process.Pid)
		}
	}
	lf, err := os.OpenFile(p.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = lf, lf
	// Own process group: Stop and Kill reach the server's children too
	// (Elasticsearch's launcher runs the server as a child). Pdeathsig:
	// a test binary that dies (timeout, panic) takes its servers along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: p.cred}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		lf.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// stop sends SIGTERM to the process group and waits up to grace, then kills.
func (p *proc) stop(grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// tail returns the last n lines of a log file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log %s: %v)", path, err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return path + ":\n" + strings.Join(lines, "\n")
}

// waitReady polls ready every 250ms until it succeeds, the process exits or
// timeout passes; errors carry the tail of the server logs.
func waitReady(p *proc, timeout time.Duration, ready func() error, logs ...string) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = ready(); last == nil {
			return nil
		}
		var why string
		select {
		case <-p.exited():
			why = "exited during start-up"
		default:
			if time.Now().After(deadline) {
				why = fmt.Sprintf("not ready after %s", timeout)
			}
		}
		if why != "" {
			var b strings.Builder
			fmt.Fprintf(&b, "%s %s (last check: %v)", p.name, why, last)
			for _, l := range logs {
				b.WriteString("\n" + tail(l, 40))
			}
			return errors.New(b.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Shared holds one private server per test binary: the first test that
// needs it starts it, later tests reuse it, and TestMain closes it after
// m.Run. A server that cannot start fails (or skips, outside CI, when its
// binaries are missing) every test that asks for it, with the same error.
type Shared[T any] struct {
	once  sync.Once
	v     T
	err   error
	close func()
}

// Get starts the server with start on first use.
func (s *Shared[T]) Get(t testing.TB, what string, start func() (T, func(), error)) T {
	t.Helper()
	s.once.Do(func() { s.v, s.close, s.err = start() })
	if s.err != nil {
		if errors.Is(s.err, ErrUnavailable) {
			unavailable(t, what, s.err)
		}
		t.Fatalf("%s: %v", what, s.err)
	}
	return s.v
}

// Close stops the server if it was started.
func (s *Shared[T]) Close() {
	if s.close != nil {
		s.close()
	}
}
