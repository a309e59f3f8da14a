package hosttest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
)

// fluentBit is one real Fluent Bit process (harness.FluentBit) with the
// plugin built by TestMain loaded into it, run from a config file in its
// own directory. It is killed when the test ends.
type fluentBit struct {
	t    *testing.T
	dir  string
	proc *harness.Proc
}

// newFluentBit writes conf (classic or YAML by name's extension) into dir
// and prepares the process; loadFlag adds `-e plugin.so` (a YAML config
// with a plugins: section loads the plugin itself).
func newFluentBit(t *testing.T, dir, name, conf string, loadFlag bool) *fluentBit {
	t.Helper()
	if testing.Short() {
		// make test (and CI) never pass -short; the quick pre-landing runs do.
		t.Skip("real Fluent Bit end to end: runs in make test, not with -short")
	}
	bin := harness.FluentBit(t)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-c", path}
	if loadFlag {
		args = append([]string{"-e", pluginSO}, args...)
	}
	f := &fluentBit{t: t, dir: dir, proc: &harness.Proc{Name: "fluent-bit", Bin: bin, Args: args,
		LogPath: filepath.Join(dir, "fluent-bit.log"), Env: []string{"HOSTNAME=testhost"}}}
	t.Cleanup(func() {
		if f.proc.Running() {
			f.proc.Kill()
		}
		if t.Failed() {
			t.Logf("fluent-bit log:\n%s", f.proc.Tail(60))
		}
	})
	return f
}

// log is Fluent Bit's whole log so far (its stderr and stdout, and the
// plugin's JSON lines).
func (f *fluentBit) log() string {
	b, _ := os.ReadFile(f.proc.LogPath)
	return string(b)
}

// start starts Fluent Bit and waits until the log holds want "output ready"
// lines in all (cumulative over restarts) and the engine runs.
func (f *fluentBit) start(wantReady int) {
	f.t.Helper()
	if err := f.proc.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.waitLog(`"msg":"output ready"`, wantReady, 30*time.Second)
	f.waitLog("[engine] Shutdown Grace Period", 1, 30*time.Second)
}

// waitLog waits until substr occurs at least n times in the log.
func (f *fluentBit) waitLog(substr string, n int, timeout time.Duration) {
	f.t.Helper()
	err := f.proc.WaitReady(timeout, func() error {
		if c := strings.Count(f.log(), substr); c < n {
			return fmt.Errorf("%q seen %d times, want %d", substr, c, n)
		}
		return nil
	}, f.proc.LogPath)
	if err != nil {
		f.t.Fatal(err)
	}
}

// stop is a graceful SIGTERM; Fluent Bit must exit cleanly. One hang is
// Fluent Bit's and not the plugin's: once in a CI rehearsal 5.1.1 never
// got to its "caught signal (SIGTERM)" line in 30 s (its handler only sets
// a flag; the main loop writes the line when it sees it, and the plugin's
// exit runs only after that). The harness then also sent a SIGCONT with
// every SIGTERM, which makes Fluent Bit dump its engine state from that
// main loop, walking lists the engine changes as it shuts down: the likely
// place the main thread was stuck; the harness now resumes only processes
// it froze. The case is still logged and the process killed (README, open
// bugs); a Fluent Bit that caught the signal and still did not stop fails
// the test.
func (f *fluentBit) stop() {
	f.t.Helper()
	err := f.proc.Stop()
	if err == nil {
		return
	}
	if strings.Contains(err.Error(), "did not stop within") && !strings.Contains(f.log(), "caught signal (SIGTERM)") {
		f.t.Logf("Fluent Bit never handled SIGTERM (a Fluent Bit hang, see the README's open bugs): %v\n%s", err, f.proc.Tail(10))
		return
	}
	f.t.Fatalf("fluent-bit stop: %v\n%s", err, f.proc.Tail(40))
}

// agentLine is line i of an agent's JSON log: unique text, its own trace.
func agentLine(prefix string, i int) string {
	return fmt.Sprintf(`{"level":"info","msg":"%s line %d","service":"planner","trace_id":"%032x","span_id":"%016x","seq":%d,"pad":"%s"}`,
		prefix, i, uint64(0xfb000000+i)+uint64(len(prefix))<<40, uint64(i+1), i, strings.Repeat("x", 200))
}

// dockerLine wraps an agent line the way Docker's json-file driver writes it.
func dockerLine(line string) string {
	b, _ := json.Marshal(map[string]string{"log": line + "\n", "stream": "stdout", "time": time.Now().UTC().Format(time.RFC3339Nano)})
	return string(b)
}

// appendLines appends lines from..to-1 of prefix to path (wrap: dockerLine or nil).
func appendLines(t *testing.T, path, prefix string, from, to int, wrap func(string) string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := from; i < to; i++ {
		l := agentLine(prefix, i)
		if wrap != nil {
			l = wrap(l)
		}
		b.WriteString(l + "\n")
	}
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// delivery is what a topic holds for the lines of one prefix.
type delivery struct {
	messages int               // messages read (copies included)
	byText   map[string]string // message text → event.id
	field    map[string]string // message text → value of a field asked for
	canaries int               // canary records seen (not counted in messages)
}

// delivered reads topic (of the cluster conf) until the lines prefix 0..n-1
// are all there or timeout passes, and asserts the exactly-once contract
// the indexer relies on: every line arrived, nothing else did, and every
// copy of a line carries the same event.id (a copy is then the same
// Elasticsearch document). Copies are counted, not failed: callers that
// staged no fault assert there are none.
func delivered(t *testing.T, conf kafkaclient.Config, topic, prefix string, n int, timeout time.Duration, field string) delivery {
	t.Helper()
	deadline := time.Now().Add(timeout)
	want := n
	for {
		d := delivery{byText: map[string]string{}, field: map[string]string{}}
		msgs := harness.ConsumeFrom(t, conf, topic, want, time.Until(deadline)+time.Second)
		d.messages = len(msgs)
		for _, m := range msgs {
			var doc map[string]any
			if err := json.Unmarshal(m.Value, &doc); err != nil {
				t.Fatalf("value is not JSON: %v: %.200s", err, m.Value)
			}
			if doc[record.FieldCanary] != nil {
				d.messages--
				d.canaries++ // the plugin's end-to-end canary shares the topic by design
				continue
			}
			text, _ := doc[record.FieldMessage].(string)
			if !strings.HasPrefix(text, prefix+" line ") {
				t.Fatalf("unexpected record in %s: %.300s", topic, m.Value)
			}
			id := kafkaclient.Header(m, publish.HeaderEventID)
			if prev, ok := d.byText[text]; ok && prev != id {
				t.Fatalf("%q arrived twice with different event.ids %s and %s: a duplicate in Elasticsearch", text, prev, id)
			}
			d.byText[text] = id
			if field != "" {
				d.field[text] = fmt.Sprint(doc[field])
			}
		}
		if len(d.byText) >= n || time.Now().After(deadline) {
			for i := range n {
				if _, ok := d.byText[fmt.Sprintf("%s line %d", prefix, i)]; !ok {
					t.Fatalf("%s: %d of %d lines arrived (%d messages); first missing: line %d", topic, len(d.byText), n, d.messages, i)
				}
			}
			if len(d.byText) != n {
				t.Fatalf("%s: %d distinct lines, want %d", topic, len(d.byText), n)
			}
			return d
		}
		// Copies filled the count before every line arrived: read again
		// with room for the lines still missing.
		want = d.messages + d.canaries + n - len(d.byText)
	}
}

// exactlyOnce asserts a run without faults wrote each line once.
func (d delivery) exactlyOnce(t *testing.T, n int) {
	t.Helper()
	if d.messages != n {
		t.Fatalf("%d messages for %d lines: %d copies without any fault", d.messages, n, d.messages-n)
	}
}

// scrape returns the plugin's /metrics text.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// classicConf is a classic config: tail of path (from the head, with a DB
// and filesystem storage in dir) → one agentobs output with props.
func classicConf(dir, path, tag string, httpPort string, outputs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `[SERVICE]
    Flush         1
    Log_Level     info
    Grace         5
    storage.path  %s/storage
    HTTP_Server   On
    HTTP_Listen   127.0.0.1
    HTTP_Port     %s
    Hot_Reload    On

[INPUT]
    Name              tail
    Tag               %s
    Path              %s
    DB                %s/tail.db
    Read_from_Head    On
    Refresh_Interval  1
    storage.type      filesystem
`, dir, httpPort, tag, path, dir)
	for _, o := range outputs {
		b.WriteString("\n[OUTPUT]\n    Name agentobs\n")
		for _, l := range strings.Split(strings.TrimSpace(o), "\n") {
			b.WriteString("    " + strings.TrimSpace(l) + "\n")
		}
	}
	return b.String()
}

func outputProps(match, brokers, topic, dlq string, extra ...string) string {
	return strings.Join(append([]string{"Match " + match, "Brokers " + brokers, "Topic " + topic, "DLQ_Topic " + dlq,
		"Source testhost", "Timeout 5s", "Retry_Limit no_limits"}, extra...), "\n")
}

func httpPort(t *testing.T) string {
	t.Helper()
	p, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(p)
}

// tailSetup is the usual case: the local Kafka's brokers, a fresh topic
// (3 partitions) and dead-letter topic, a directory and the agent log path.
func tailSetup(t *testing.T) (brokers, topic, dlq, dir, logPath string) {
	t.Helper()
	dir = t.TempDir()
	return strings.Join(harness.Brokers(), ","), harness.Topic(t, 3), harness.Topic(t, 1), dir, filepath.Join(dir, "agent.log")
}

// TestFluentBitWorkers: tail → plugin → Kafka inside real Fluent Bit with
// Workers 1 and 2: every line exactly once, no copies, the producer id and
// metrics under the configured Instance.
func TestFluentBitWorkers(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			brokers, topic, dlq, dir, logPath := tailSetup(t)
			const n = 5000
			appendLines(t, logPath, "w", 0, n/2, nil)
			metrics := harness.FreeAddr(t)
			fb := newFluentBit(t, dir, "fluent-bit.conf", classicConf(dir, logPath, "agents", httpPort(t),
				outputProps("agents", brokers, topic, dlq, fmt.Sprintf("Workers %d", workers), "Instance main", "Metrics_Addr "+metrics)), true)
			fb.start(1)
			appendLines(t, logPath, "w", n/2, n, nil)
			d := delivered(t, harness.KafkaConfig(), topic, "w", n, 60*time.Second, "agentobs.producer.id")
			d.exactlyOnce(t, n)
			for text, pid := range d.field {
				if !strings.HasPrefix(pid, "collector/testhost/main/") {
					t.Fatalf("%s: producer id %q", text, pid)
				}
				break
			}
			if m := scrape(t, metrics); !strings.Contains(m, fmt.Sprintf(`agentobs_collector_records_in_total{output="main"} %d`, n)) {
				t.Errorf("records_in for main is not %d:\n%s", n, grepLines(m, "records_in"))
			}
			fb.stop()
		})
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestFluentBitShippedConfigs runs collector/fluent-bit/fluent-bit.yaml and
// fluent-bit.conf themselves, the files users copy, with only paths,
// brokers, topics and ports replaced (each replacement must match, so the
// files keep the shape this test proves): Docker json-file lines tailed
// with the docker/cri multiline parser, the kubernetes filter (which finds
// no cluster here and passes records through), filesystem storage,
// Workers 2 → Kafka, every line exactly once.
func TestFluentBitShippedConfigs(t *testing.T) {
	for _, name := range []string{"fluent-bit.yaml", "fluent-bit.conf"} {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "collector", "fluent-bit", name))
			if err != nil {
				t.Fatal(err)
			}
			topic, dlq := harness.Topic(t, 3), harness.Topic(t, 1)
			dir := t.TempDir()
			logs := filepath.Join(dir, "containers")
			if err := os.MkdirAll(logs, 0o755); err != nil {
				t.Fatal(err)
			}
			logPath := filepath.Join(logs, "planner-0_agents_planner-0123456789abcdef.log")
			appendLines(t, logPath, "shipped", 0, 0, nil) // the file exists before tail starts
			metrics := harness.FreeAddr(t)
			conf := string(src)
			for _, r := range [][2]string{
				{"/var/log/containers/*.log", logs + "/*.log"},
				{"/var/lib/fluent-bit/storage", dir + "/storage"},
				{"/var/lib/fluent-bit/tail.db", dir + "/tail.db"},
				{"kafka:9092", strings.Join(harness.Brokers(), ",")},
				{"agentobs-logs-dlq", dlq},
				{"agentobs-logs\n", topic + "\n"},
				{"0.0.0.0:2021", metrics},
				{"2020", httpPort(t)},
				{"/fluent-bit/plugins/out_agentobs.so", pluginSO},
			} {
				if !strings.Contains(conf, r[0]) {
					if name == "fluent-bit.conf" && r[0] == "/fluent-bit/plugins/out_agentobs.so" {
						continue // the classic file loads the plugin with -e
					}
					t.Fatalf("%s no longer contains %q: update this test with the file", name, r[0])
				}
				conf = strings.ReplaceAll(conf, r[0], r[1])
			}
			fb := newFluentBit(t, dir, name, conf, name == "fluent-bit.conf")
			fb.start(1)
			fb.waitLog("inotify_fs_add", 1, 30*time.Second)
			const n = 3000
			appendLines(t, logPath, "shipped", 0, n, dockerLine)
			d := delivered(t, harness.KafkaConfig(), topic, "shipped", n, 60*time.Second, record.FieldService)
			d.exactlyOnce(t, n)
			for text, svc := range d.field {
				if svc != "planner" {
					t.Fatalf("%s: service.name %q: the JSON line inside the Docker envelope was not parsed", text, svc)
				}
			}
			if m := scrape(t, metrics); !strings.Contains(m, `agentobs_collector_flushes_total{output="agentobs-main",result="ok"}`) {
				t.Errorf("no flush metrics for agentobs-main:\n%s", grepLines(m, "flushes_total"))
			}
			fb.stop()
		})
	}
}

// TestFluentBitHotReload: Hot_Reload On + SIGHUP, three reloads, with and
// without Instance. Fluent Bit 5.x closes every output with FLBPluginExitCtx
// and initialises the reloaded configuration in the same process; it must
// keep running, keep the output's name (metric label, producer id), and
// deliver the lines written before and after each reload exactly once.
//
// Workers: stock Fluent Bit (5.1.1 and before) starts the worker pool of a
// Go output twice (flb_proxy_output_cb_init and flb_output_init_all both
// call flb_output_enable_multi_threading) and stops only the second; the
// first pool's threads outlive a reload and every 1.5 s read the freed
// output instance (cb_thread_sched_timer → flb_upstream_conn_timeouts), so
// a later reload crashes Fluent Bit with SIGSEGV, whatever the plugin does
// (collector/fluent-bit/flb-go-output-workers-once.patch fixes Fluent Bit).
// The plugin's own exit and re-init path is therefore proven three times
// with Workers 0, and with Workers 1 three times only on a Fluent Bit that
// starts one pool; on one with the bug that case reloads once.
func TestFluentBitHotReload(t *testing.T) {
	for _, tc := range []struct {
		name, instance, want string
		workers              int
	}{
		{"instance", "Instance main", "main", 0},
		{"default-name", "", "agentobs.0", 0},
		{"workers", "Instance main", "main", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brokers, topic, dlq, dir, logPath := tailSetup(t)
			metrics := harness.FreeAddr(t)
			props := []string{fmt.Sprintf("Workers %d", tc.workers), "Metrics_Addr " + metrics}
			if tc.instance != "" {
				props = append(props, tc.instance)
			}
			const n = 1000
			appendLines(t, logPath, "r", 0, n, nil)
			fb := newFluentBit(t, dir, "fluent-bit.conf", classicConf(dir, logPath, "agents", httpPort(t),
				outputProps("agents", brokers, topic, dlq, props...)), true)
			fb.start(1)
			reloads := 3
			if pools := strings.Count(fb.log(), "worker #0 started"); tc.workers > 0 && pools > 1 {
				reloads = 1
				t.Logf("this Fluent Bit started the Go output's worker pool %d times (its double-start bug): one reload only", pools)
			}
			delivered(t, harness.KafkaConfig(), topic, "r", n, 60*time.Second, "")
			for reload := 1; reload <= reloads; reload++ {
				if err := fb.proc.Notify(syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
				fb.waitLog("[reload] successful reload done", reload, 30*time.Second)
				fb.waitLog(`"msg":"output ready"`, 1+reload, 30*time.Second)
				appendLines(t, logPath, "r", reload*n, (reload+1)*n, nil)
				d := delivered(t, harness.KafkaConfig(), topic, "r", (reload+1)*n, 60*time.Second, "agentobs.producer.id")
				d.exactlyOnce(t, (reload+1)*n)
				pid := d.field[fmt.Sprintf("r line %d", (reload+1)*n-1)]
				if !strings.HasPrefix(pid, "collector/testhost/"+tc.want+"/") {
					t.Fatalf("after reload %d the producer id is %q, want the name %s kept", reload, pid, tc.want)
				}
				if !fb.proc.Running() {
					t.Fatalf("Fluent Bit exited after reload %d", reload)
				}
			}
			m := scrape(t, metrics)
			if strings.Contains(m, `output="agentobs.1"`) {
				t.Errorf("a reload renamed the output:\n%s", grepLines(m, "records_in"))
			}
			if total := (reloads + 1) * n; !strings.Contains(m, fmt.Sprintf(`agentobs_collector_records_in_total{output=%q} %d`, tc.want, total)) {
				t.Errorf("records_in of %s is not %d:\n%s", tc.want, total, grepLines(m, "records_in"))
			}
			fb.stop()
		})
	}
}
