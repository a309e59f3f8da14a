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
