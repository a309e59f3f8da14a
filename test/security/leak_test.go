// Package security holds the cross-component secret-leak tests: the real
// shipper and indexer binaries are run with test secrets given through
// environment variables, files and flags, against a private SASL_SSL broker
// and a TLS Elasticsearch endpoint that refuse or accept them, and
// everything they print or serve (-check output, logs, error messages,
// /metrics, /readyz, /healthz) is searched for those secrets.
package security

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/segmentio/kafka-go"
)

var (
	binDir string
	broker harness.Shared[*secureBroker]
)

type secureBroker struct {
	srv  *harness.KafkaServer
	ca   *harness.CA
	pass string // SCRAM user "alice"
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agentobs-security-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	broker.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

var buildOnce sync.Map // package path → *buildResult

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// binary builds ./<pkg> once per run (the components' own packages).
func binary(t *testing.T, pkg string) string {
	t.Helper()
	v, _ := buildOnce.LoadOrStore(pkg, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() {
		b.path = filepath.Join(binDir, pkg)
		cmd := exec.Command("go", "build", "-o", b.path, "./"+pkg)
		cmd.Dir = harness.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./%s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// leaks lists which secrets (or their base64 forms, as a basic-auth or
// API-key header would carry them) occur in out.
func leaks(out string, secrets map[string]string) []string {
	var found []string
	for name, s := range secrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.StdEncoding.EncodeToString([]byte("alice:" + s)),
			base64.StdEncoding.EncodeToString([]byte("agentobs:" + s))} {
			if strings.Contains(out, form) {
				found = append(found, name)
				break
			}
		}
	}
	return found
}

func assertNoLeak(t *testing.T, what, out string, secrets map[string]string) {
	t.Helper()
	if l := leaks(out, secrets); len(l) > 0 {
		t.Errorf("%s shows secrets %v:\n%s", what, l, out)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// -check prints the effective configuration; every secret, whether it came
// from an env var, a flag or a YAML file, shows masked. A configuration
// error message does not repeat a secret either.
func TestCheckMasksSecrets(t *testing.T) {
	kafkaPw, esPw, esKey, token := harness.RandomSecret("kafka"), harness.RandomSecret("es"), harness.RandomSecret("apikey"), harness.RandomSecret("token")
	secrets := map[string]string{"kafka password": kafkaPw, "es password": esPw, "es api key": esKey, "http token": token}
	yaml := writeFile(t, "config.yaml", fmt.Sprintf("kafka:\n  sasl:\n    mechanism: SCRAM-SHA-512\n    username: alice\n    password: %s\nhttp:\n  token: %s\n", kafkaPw, token))
	cases := []struct {
		name, bin string
		args, env []string
		masked    []string // lines that must read key=xxxxx
	}{
		{"shipper env", "shipper", []string{"-stdin", "-check"},
			[]string{"SHIPPER_KAFKA_SASL_MECHANISM=SCRAM-SHA-512", "SHIPPER_KAFKA_SASL_USERNAME=alice", "SHIPPER_KAFKA_SASL_PASSWORD=" + kafkaPw, "SHIPPER_HTTP_TOKEN=" + token},
			[]string{"kafka.sasl.password", "http.token"}},
		{"shipper flags", "shipper", []string{"-stdin", "-check", "-kafka.sasl.mechanism=PLAIN", "-kafka.sasl.username=alice", "-kafka.sasl.password=" + kafkaPw, "-http.token", token}, nil,
			[]string{"kafka.sasl.password", "http.token"}},
		{"shipper yaml", "shipper", []string{"-stdin", "-check", "-config", yaml}, nil, []string{"kafka.sasl.password", "http.token"}},
		{"indexer env basic auth", "indexer", []string{"-check"},
			[]string{"INDEXER_KAFKA_SASL_MECHANISM=SCRAM-SHA-256", "INDEXER_KAFKA_SASL_USERNAME=alice", "INDEXER_KAFKA_SASL_PASSWORD=" + kafkaPw,
				"INDEXER_ES_USERNAME=agentobs", "INDEXER_ES_PASSWORD=" + esPw, "INDEXER_HTTP_TOKEN=" + token},
			[]string{"kafka.sasl.password", "es.password", "http.token"}},
		{"indexer env api key", "indexer", []string{"-check"}, []string{"INDEXER_ES_API_KEY=" + esKey}, []string{"es.api-key"}},
		{"indexer yaml", "indexer", []string{"-check", "-config", yaml}, nil, []string{"kafka.sasl.password", "http.token"}},
		// Invalid: basic auth and an API key together; the error names the keys, not the values.
		{"indexer invalid", "indexer", []string{"-check"}, []string{"INDEXER_ES_PASSWORD=" + esPw, "INDEXER_ES_API_KEY=" + esKey, "INDEXER_KAFKA_SASL_PASSWORD=" + kafkaPw}, nil},
		{"shipper invalid", "shipper", []string{"-stdin", "-check", "-kafka.sasl.mechanism=GSSAPI", "-kafka.sasl.password=" + kafkaPw, "-kafka.brokers=nohost"}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary(t, tc.bin), tc.args...)
			cmd.Env = append(cleanEnv(), tc.env...)
			out, err := cmd.CombinedOutput()
			if tc.masked == nil && err == nil {
				t.Fatalf("want a configuration error, got success:\n%s", out)
			}
			if tc.masked != nil && err != nil {
				t.Fatalf("-check: %v\n%s", err, out)
			}
			assertNoLeak(t, tc.bin+" -check", string(out), secrets)
			for _, k := range tc.masked {
				if !strings.Contains(string(out), "\n"+k+"=xxxxx\n") {
					t.Errorf("-check does not show %s as set and masked:\n%s", k, out)
				}
			}
		})
	}
}

// cleanEnv is the environment without any SHIPPER_/INDEXER_ settings of
// the machine running the tests.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SHIPPER_") && !strings.HasPrefix(kv, "INDEXER_") {
			env = append(env, kv)
		}
	}
	return env
}

// lockedBuffer collects a process's stdout and stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// component is a running shipper or indexer.
type component struct {
	cmd   *exec.Cmd
	out   *lockedBuffer
	addr  string
	stdin io.WriteCloser
	done  chan struct{}
}

func start(t *testing.T, bin string, args, env []string) *component {
	t.Helper()
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c := &component{out: &lockedBuffer{}, addr: fmt.Sprintf("127.0.0.1:%d", port), done: make(chan struct{})}
	c.cmd = exec.Command(binary(t, bin), append([]string{"-http.addr", c.addr}, args...)...)
	c.cmd.Env = append(cleanEnv(), env...)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { c.stop() })
	return c
}

// stop sends SIGTERM and waits (SIGKILL after 20s); it returns all output.
func (c *component) stop() string {
	select {
	case <-c.done:
	default:
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(20 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	return c.out.String()
}

func (c *component) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// get fetches path from the component's HTTP server: status and body.
func (c *component) get(path string) (int, string) {
	hc := &http.Client{Timeout: 3 * time.Second}
	res, err := hc.Get("http://" + c.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	return res.StatusCode, string(b)
}

// served is everything the component serves, for the leak search.
func (c *component) served() string {
	var b strings.Builder
	for _, p := range []string{"/metrics", "/readyz", "/healthz"} {
		code, body := c.get(p)
		fmt.Fprintf(&b, "GET %s → %d\n%s\n", p, code, body)
	}
	return b.String()
}

func secureKafka(t *testing.T) *secureBroker {
	t.Helper()
	return broker.Get(t, "private SASL_SSL Kafka", func() (*secureBroker, func(), error) {
		ca, rmCA, err := harness.TempCA("agentobs security test CA")
		if err != nil {
			return nil, nil, err
		}
		b := &secureBroker{ca: ca, pass: harness.RandomSecret("scram")}
		b.srv, err = harness.LaunchKafka(harness.KafkaServerOptions{SASLSSL: true, CA: ca, ScramUsers: map[string]string{"alice": b.pass}})
		if err != nil {
			rmCA()
			return nil, nil, err
		}
		return b, func() { b.srv.Close(); rmCA() }, nil
	})
}

func (b *secureBroker) kafkaArgs(topic string) []string {
	return []string{"-kafka.brokers", b.srv.Addr(), "-kafka.tls.enabled", "-kafka.tls.ca-file", b.ca.CAFile,
		"-kafka.sasl.mechanism", "SCRAM-SHA-512", "-kafka.sasl.username", "alice", "-kafka.topic", topic, "-kafka.dlq-topic", topic + "-dlq"}
}

// The shipper with the right password (from a file) delivers over
// SASL_SSL; with a wrong one (from the env) it says why, is not ready, and
// in neither case do its logs, errors or endpoints show a secret.
func TestShipperDoesNotLeakSecrets(t *testing.T) {
	b := secureKafka(t)
	token := harness.RandomSecret("token")
	t.Run("right password", func(t *testing.T) {
		topic := harness.Name(t, "leak")
		secrets := map[string]string{"kafka password": b.pass, "http token": token}
		args := append(b.kafkaArgs(topic), "-stdin", "-service", "leak-test", "-shutdown-timeout", "5s",
			"-kafka.sasl.password-file", writeFile(t, "kafka-password", b.pass))
		conn := kafkaclient.DefaultConfig()
		conn.Brokers = []string{b.srv.Addr()}
		conn.TLS = kafkaclient.TLSConfig{Enabled: true, CAFile: b.ca.CAFile}
		conn.SASL = kafkaclient.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "alice", Password: config.Secret(b.pass)}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := kafkaclient.EnsureTopics(ctx, conn, kafkaclient.TopicSpec{Name: topic, Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		c := start(t, "shipper", args, []string{"SHIPPER_HTTP_TOKEN=" + token})
		fmt.Fprintf(c.stdin, "{\"message\":\"hello over SASL_SSL\",\"level\":\"info\"}\n")
		if got := consume(t, conn, topic, 1); !strings.Contains(got, "hello over SASL_SSL") {
			t.Fatalf("record not delivered over SASL_SSL; topic holds %q; shipper output:\n%s", got, c.out.String())
		}
		served := c.served()
		c.stdin.Close()
		out := c.stop()
		assertNoLeak(t, "shipper output", out, secrets)
		assertNoLeak(t, "shipper endpoints", served, secrets)
	})
	t.Run("wrong password", func(t *testing.T) {
		wrong := harness.RandomSecret("wrong")
		secrets := map[string]string{"wrong password": wrong, "right password": b.pass, "http token": token}
		args := append(b.kafkaArgs(harness.Name(t, "leak")), "-stdin", "-service", "leak-test", "-shutdown-timeout", "3s")
		c := start(t, "shipper", args, []string{"SHIPPER_KAFKA_SASL_PASSWORD=" + wrong, "SHIPPER_HTTP_TOKEN=" + token})
		fmt.Fprintf(c.stdin, "{\"message\":\"never delivered\"}\n")
		harness.Eventually(t, 30*time.Second, func() (bool, string) {
			out := c.out.String()
			return strings.Contains(out, "SASL Authentication") || c.exited(), "shipper output so far:\n" + out
		})
		var served string
		if !c.exited() {
			code, body := c.get("/readyz")
			if code == http.StatusOK {
				t.Errorf("shipper /readyz = 200 with a wrong Kafka password (%s)", body)
			}
			served = c.served()
		}
		c.stdin.Close()
		out := c.stop()
		t.Logf("shipper with a wrong password:\n%s", out)
		assertNoLeak(t, "shipper output", out, secrets)
		assertNoLeak(t, "shipper endpoints", served, secrets)
	})
}

func consume(t *testing.T, conn kafkaclient.Config, topic string, want int) string {
	t.Helper()
	d, err := conn.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: conn.Brokers, Topic: topic, Partition: 0, Dialer: d, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	var got []string
	for len(got) < want {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			break
		}
		got = append(got, string(m.Value))
	}
	return strings.Join(got, "\n")
}

// esEndpoint is an HTTPS Elasticsearch endpoint (certificate from the test
// CA) that takes basic auth agentobs:<pass> and passes the request on to
// the local stack's node; anything else gets Elasticsearch's 401.
func esEndpoint(t *testing.T, ca *harness.CA, pass string) string {
	up, _ := url.Parse(harness.ESURL())
	rp := httputil.NewSingleHostReverseProxy(up)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "agentobs" || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="security", charset="UTF-8"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = fmt.Fprintf(w, `{"error":{"type":"security_exception","reason":"unable to authenticate user [%s] for REST request [%s]"},"status":401}`, u, r.URL.Path)
			return
		}
		r.Header.Del("Authorization")
		rp.ServeHTTP(w, r)
	})
	srv := httptest.NewUnstartedServer(h)
	cert, key := ca.IssueServer(t)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// The indexer with wrong Kafka and Elasticsearch passwords (from a file
// and the env) reports both failures without showing either password, the
// right ones, or its API token, in its logs, errors or endpoints.
func TestIndexerDoesNotLeakSecrets(t *testing.T) {
	b := secureKafka(t)
	esPass, wrongES, wrongKafka, token := harness.RandomSecret("es"), harness.RandomSecret("eswrong"), harness.RandomSecret("kafkawrong"), harness.RandomSecret("token")
	secrets := map[string]string{"es password": esPass, "wrong es password": wrongES, "kafka password": b.pass,
		"wrong kafka password": wrongKafka, "http token": token}
	es := esEndpoint(t, b.ca, esPass)
	prefix := harness.Name(t, "leak")
	args := append(b.kafkaArgs(prefix), "-kafka.group", prefix,
		"-es.addresses", es, "-es.ca-file", b.ca.CAFile, "-es.username", "agentobs", "-es.password-file", writeFile(t, "es-password", wrongES),
		"-index.alias", prefix, "-index.pattern", prefix+"-{2006.01.02}", "-index.traces", prefix+"-traces", "-index.alerts", prefix+"-alerts")
	c := start(t, "indexer", args, []string{"INDEXER_KAFKA_SASL_PASSWORD=" + wrongKafka, "INDEXER_HTTP_TOKEN=" + token})
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		out := c.out.String()
		return strings.Contains(out, "401") || strings.Contains(out, "SASL Authentication") || c.exited(), "indexer output so far:\n" + out
	})
	var served string
	if !c.exited() {
		if code, body := c.get("/readyz"); code == http.StatusOK {
			t.Errorf("indexer /readyz = 200 with wrong passwords (%s)", body)
		}
		served = c.served()
	}
	out := c.stop()
	t.Logf("indexer with wrong passwords:\n%s", out)
	assertNoLeak(t, "indexer output", out, secrets)
	assertNoLeak(t, "indexer endpoints", served, secrets)
}
