// Package testbroker starts a private single-node Kafka (KRaft) for tests
// that must stop and restart the broker, which the shared local stack never
// may. It mirrors scripts/stack.sh start_kafka: StorageTool format, then
// kafka.Kafka with stack/kafka/server.properties rendered on free ports and
// a temporary data directory that survives Stop/Start.
//
// Candidate to move to internal/itest once another component needs it.
package testbroker

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkax"
)

// Broker is a private Kafka broker process.
type Broker struct {
	t        testing.TB
	java     string
	home     string
	repo     string
	dir      string
	Port     int
	ctrlPort int
	cmd      *exec.Cmd
	waitErr  chan error
}

// Start formats a data dir and starts the broker; it is killed when the
// test ends. Skips (or fails under CI) when Java or the Kafka jars are missing.
func Start(t testing.TB) *Broker {
	t.Helper()
	b := &Broker{t: t, repo: repoRoot(), dir: t.TempDir()}
	b.home = os.Getenv("AGENTOBS_KAFKA_HOME")
	if b.home == "" {
		b.home = "/var/cache/agentobs/kafka-4.1.1"
		if out, err := exec.Command(filepath.Join(b.repo, "scripts/stack.sh"), "env").Output(); err == nil {
			for _, l := range strings.Split(string(out), "\n") {
				if v, ok := strings.CutPrefix(l, "AGENTOBS_KAFKA_HOME="); ok {
					b.home = v
				}
			}
		}
	}
	b.java = findJava()
	if _, err := os.Stat(filepath.Join(b.home, "libs")); err != nil || b.java == "" {
		msg := fmt.Sprintf("private Kafka broker needs Java 17 and the Kafka jars (%s/libs): run scripts/stack.sh install", b.home)
		if os.Getenv("CI") == "true" || os.Getenv("AGENTOBS_REQUIRE_STACK") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	b.Port, b.ctrlPort = freePort(t), freePort(t)
	tmpl, err := os.ReadFile(filepath.Join(b.repo, "stack/kafka/server.properties"))
	if err != nil {
		t.Fatal(err)
	}
	props := strings.NewReplacer("@STATE@", b.dir, "@PORT@", fmt.Sprint(b.Port), "@CONTROLLER_PORT@", fmt.Sprint(b.ctrlPort)).Replace(string(tmpl))
	if err := os.WriteFile(b.propsPath(), []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	format := exec.Command(b.java, append(b.jvmArgs(), "kafka.tools.StorageTool", "format", "-t", "q1Sh-9_ISia_zwGINzRvyQ", "-c", b.propsPath())...)
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("kafka storage format: %v\n%s", err, out)
	}
	t.Cleanup(func() { b.Stop(syscall.SIGKILL) })
	b.Start()
	return b
}

func (b *Broker) propsPath() string { return filepath.Join(b.dir, "server.properties") }

func (b *Broker) jvmArgs() []string {
	return []string{"-Xms128m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + filepath.Join(b.repo, "stack/kafka/log4j2.properties"),
		"-Dkafka.logs.dir=" + filepath.Join(b.dir, "logs"), "-cp", filepath.Join(b.home, "libs") + "/*"}
}

// Addr is host:port of the broker.
func (b *Broker) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.Port) }

// Config is a connection config for the broker.
func (b *Broker) Config() kafkax.Config {
	c := kafkax.DefaultConfig()
	c.Brokers = []string{b.Addr()}
	return c
}

// Start (re)starts the broker on its data dir and ports and waits until it
// answers metadata requests.
func (b *Broker) Start() {
	b.t.Helper()
	cmd := exec.Command(b.java, append(b.jvmArgs(), "kafka.Kafka", b.propsPath())...)
	log, err := os.OpenFile(filepath.Join(b.dir, "stdout.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		b.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.cmd = cmd
	b.waitErr = make(chan error, 1)
	go func() { b.waitErr <- cmd.Wait(); log.Close() }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := kafkax.Ping(ctx, b.Config())
		cancel()
		if err == nil {
			return
		}
		select {
		case werr := <-b.waitErr:
			b.t.Fatalf("private kafka exited during start-up: %v\n%s", werr, b.tail())
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("private kafka not ready after 90s: %v\n%s", err, b.tail())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// Stop sends sig (SIGTERM: controlled shutdown; SIGKILL: crash) and waits
// for the process to exit.
func (b *Broker) Stop(sig syscall.Signal) {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(sig)
	select {
	case <-b.waitErr:
	case <-time.After(30 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.waitErr
	}
	b.cmd = nil
}

func (b *Broker) tail() string {
	f, err := os.Open(filepath.Join(b.dir, "logs", "server.log"))
	if err != nil {
		return ""
	}
	defer f.Close()
	var ls []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ls = append(ls, sc.Text())
		if len(ls) > 30 {
			ls = ls[1:]
		}
	}
	return strings.Join(ls, "\n")
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "../../.."))
}

func findJava() string {
	if h := os.Getenv("JAVA17_HOME"); h != "" {
		return filepath.Join(h, "bin/java")
	}
	for _, d := range []string{"/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk-arm64", "/usr/lib/jvm/java-17-openjdk"} {
		if _, err := os.Stat(filepath.Join(d, "bin/java")); err == nil {
			return filepath.Join(d, "bin/java")
		}
	}
	if p, err := exec.LookPath("java"); err == nil {
		return p
	}
	return ""
}
