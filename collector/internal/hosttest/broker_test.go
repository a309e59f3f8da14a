package hosttest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/itest"
	"github.com/agentobs/agentobs/internal/kafkax"
	"github.com/segmentio/kafka-go"
)

// privateBroker is a single-node KRaft broker started for one test, so an
// outage can be staged without touching the shared stack. Clients reach it
// only through a TCP proxy it advertises, so cutting the proxy is a broker
// outage as the plugin sees it (connection refused, connections reset).
type privateBroker struct {
	proxy *proxy
	cmd   *exec.Cmd
}

func (b *privateBroker) Addr() string { return b.proxy.addr }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func kafkaHome(t *testing.T) (java, libs string) {
	t.Helper()
	home := os.Getenv("AGENTOBS_KAFKA_HOME")
	if home == "" {
		home = "/var/cache/agentobs/kafka-4.1.1"
	}
	libs = filepath.Join(home, "libs")
	java = "java"
	for _, d := range []string{os.Getenv("JAVA17_HOME"), "/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk-arm64"} {
		if d != "" {
			if _, err := os.Stat(filepath.Join(d, "bin", "java")); err == nil {
				java = filepath.Join(d, "bin", "java")
				break
			}
		}
	}
	if _, err := os.Stat(libs); err != nil {
		t.Fatalf("kafka libs not found at %s (scripts/stack.sh env prints AGENTOBS_KAFKA_HOME): %v", libs, err)
	}
	return java, libs
}

// startPrivateBroker starts the broker (256 MiB heap) and its proxy and
// stops both when the test ends.
func startPrivateBroker(t *testing.T) *privateBroker {
	t.Helper()
	itest.RequireKafka(t) // the stack's Kafka install must be there
	java, libs := kafkaHome(t)
	_, self, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(self), "..", "..", "..")
	dir := t.TempDir()
	bp, cp, pp := freePort(t), freePort(t), freePort(t)
	props := fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%[2]d
listeners=PLAINTEXT://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[2]d
advertised.listeners=PLAINTEXT://127.0.0.1:%[3]d
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=%[4]s/data
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
`, bp, cp, pp, dir)
	propsFile := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(propsFile, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	log4j := "-Dlog4j2.configurationFile=" + filepath.Join(repo, "stack", "kafka", "log4j2.properties")
	logsDir := "-Dkafka.logs.dir=" + filepath.Join(dir, "logs")
	format := exec.Command(java, "-Xmx256m", "-cp", libs+"/*", log4j, logsDir, "kafka.tools.StorageTool", "format",
		"-t", base64.RawURLEncoding.EncodeToString(id[:]), "-c", propsFile)
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("format private broker: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(java, "-Xms128m", "-Xmx256m", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
		log4j, logsDir, "-cp", libs+"/*", "kafka.Kafka", propsFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &privateBroker{cmd: cmd, proxy: startProxy(t, pp, fmt.Sprintf("127.0.0.1:%d", bp))}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	conn := kafkax.DefaultConfig()
	conn.Brokers = []string{b.Addr()}
	itest.Eventually(t, 90*time.Second, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err := kafkax.Ping(ctx, conn)
		return err == nil, fmt.Sprint("private broker not ready: ", err)
	})
	return b
}

// createTopic creates a topic on the private broker.
func (b *privateBroker) createTopic(t *testing.T, name string, partitions int) {
	t.Helper()
	conn := kafkax.DefaultConfig()
	conn.Brokers = []string{b.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkax.EnsureTopics(ctx, conn, kafkax.TopicSpec{Name: name, Partitions: partitions}); err != nil {
		t.Fatalf("create topic: %v", err)
	}
}

// consume reads topic until at least want messages arrived and one more
// second passed (to catch duplicates beyond want), or timeout.
func (b *privateBroker) consume(t *testing.T, topic string, partitions, want int, timeout time.Duration) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var mu sync.Mutex
	var msgs []kafka.Message
	var wg sync.WaitGroup
	var once sync.Once
	for p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.Addr()}, Topic: topic, Partition: p, MaxWait: 200 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				msgs = append(msgs, m)
				if len(msgs) >= want {
					once.Do(func() { time.AfterFunc(time.Second, cancel) })
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return msgs
}

// proxy forwards TCP from a fixed loopback port to the broker; Cut closes
// the listener and every connection (clients see refused and reset
// connections), Restore listens again on the same port.
type proxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

func startProxy(t *testing.T, port int, target string) *proxy {
	p := &proxy{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port), target: target, conns: map[net.Conn]bool{}}
	p.Restore()
	t.Cleanup(p.Cut)
	return p
}

func (p *proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return
	}
	var err error
	for range 50 { // the port may linger briefly after Cut
		if p.ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Errorf("proxy listen: %v", err)
		return
	}
	go p.accept(p.ln)
}

func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.ln != ln { // cut meanwhile
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, up); up.Close(); c.Close() }()
	}
}
