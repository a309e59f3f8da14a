package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
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

// FreePort returns a loopback TCP port that was free a moment ago and that
// this process has not been given before.
func FreePort() (int, error) {
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// FreeAddr is FreePort as a loopback address ("127.0.0.1:port"); it fails t
// when no port is free.
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// handedOut is every port freePorts returned in this process. The kernel
// may give a just-closed port to the next bind of port 0, so two calls in a
// row could return one port for two listeners (a test's Fluent Bit HTTP
// server and its plugin's metrics listener did collide that way).
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePortRange returns the first of n consecutive loopback ports that were
// free a moment ago, none handed out before in this process (a rig numbers
// its agents' ports from a base).
func FreePortRange(n int) (int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		ls, base, ok := listenRange(n)
		for _, l := range ls {
			l.Close()
		}
		if ok {
			for p := base; p < base+n; p++ {
				handedOut.ports[p] = true
			}
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free loopback ports", n)
}

// listenRange listens on n consecutive ports from one the kernel picks;
// ok when all were free and none handed out. Called with handedOut held.
func listenRange(n int) (ls []net.Listener, base int, ok bool) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, false
	}
	ls = append(ls, l)
	base = l.Addr().(*net.TCPAddr).Port
	for p := base; p < base+n; p++ {
		if handedOut.ports[p] {
			return ls, 0, false
		}
		if p == base {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return ls, 0, false
		}
		ls = append(ls, l)
	}
	return ls, base, true
}

// freePorts returns n distinct free loopback ports, none handed out before.
func freePorts(n int) ([]int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	// Hold every listener until all are chosen so the ports differ.
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for len(ports) < n {
		if len(ls) > n+1000 {
			return nil, fmt.Errorf("no free loopback port after %d tries", len(ls))
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		port := l.Addr().(*net.TCPAddr).Port
		if handedOut.ports[port] {
			continue
		}
		handedOut.ports[port] = true
		ports = append(ports, port)
	}
	return ports, nil
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

// BuildPlugin builds the Fluent Bit output plugin of the tree at root
// (collector/build.sh, the one place its build flags live) and flbhost, the
// C program that drives it as Fluent Bit's Go proxy does, into dir.
func BuildPlugin(ctx context.Context, root, dir string) (so, host string, err error) {
	so, host = filepath.Join(dir, "out_agentobs.so"), filepath.Join(dir, "flbhost")
	for _, c := range [][]string{
		{filepath.Join(root, "collector", "build.sh"), so},
		{"gcc", "-O2", "-Wall", "-pthread", "-o", host, filepath.Join(root, "collector", "host", "flbhost.c"), "-ldl"},
	} {
		cmd := exec.CommandContext(ctx, c[0], c[1:]...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("%s: %w\n%s", strings.Join(c, " "), err, out)
		}
	}
	return so, host, nil
}
