// Package suite runs the figures of `make bench` against the real local
// stack: the components (shipper, indexer, collector plugin through the host
// program, record core) and, in the same run, the references they are
// measured against (kafka-producer-perf-test, esutil.BulkIndexer,
// encoding/json). It reports into report.Results; main only wires flags.
package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/agentobs/agentobs/test/harness"
)

// Env is where the stack and the built components are.
type Env struct {
	Brokers   []string
	ESURL     string
	KafkaHome string
	Root      string // repository root
	Tmp       string // scratch directory, removed by Cleanup
	Shipper   string // binaries built by Build
	Indexer   string
	Plugin    string
	Host      string // flbhost
	FluentBit string // real Fluent Bit (scripts/fluent-bit.sh); "" when none could be found or built
	RunID     string // prefix of every topic, group and index of this run
}

// NewEnv reads the stack addresses (scripts/stack.sh env) and makes a scratch dir.
func NewEnv(root string) (*Env, error) {
	e := &Env{Root: root, Brokers: []string{"127.0.0.1:9092"}, ESURL: "http://127.0.0.1:9200"}
	out, err := exec.Command(filepath.Join(root, "scripts", "stack.sh"), "env").Output()
	if err != nil {
		return nil, fmt.Errorf("scripts/stack.sh env: %w", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "AGENTOBS_KAFKA_BROKERS":
			e.Brokers = strings.Split(v, ",")
		case "AGENTOBS_ES_URL":
			e.ESURL = v
		case "AGENTOBS_KAFKA_HOME":
			e.KafkaHome = v
		}
	}
	if e.Tmp, err = os.MkdirTemp("", "agentobs-bench-"); err != nil {
		return nil, err
	}
	e.RunID = fmt.Sprintf("bench-%d", time.Now().Unix()%1000000)
	return e, nil
}

// Cleanup removes the scratch directory.
func (e *Env) Cleanup() { os.RemoveAll(e.Tmp) }

// Name is a unique topic, group or index prefix for this run.
func (e *Env) Name(parts ...string) string {
	return strings.ToLower(e.RunID + "-" + strings.Join(parts, "-"))
}

// Build compiles the shipper and indexer binaries, the plugin and the host.
func (e *Env) Build(ctx context.Context) error {
	e.Shipper, e.Indexer = filepath.Join(e.Tmp, "shipper"), filepath.Join(e.Tmp, "indexer")
	steps := [][]string{
		{"go", "build", "-o", e.Shipper, "./shipper"},
		{"go", "build", "-o", e.Indexer, "./indexer"},
	}
	for _, s := range steps {
		cmd := exec.CommandContext(ctx, s[0], s[1:]...)
		cmd.Dir, cmd.Env = e.Root, append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(s, " "), err, out)
		}
	}
	var err error
	if e.Plugin, e.Host, err = harness.BuildPlugin(ctx, e.Root, e.Tmp); err != nil {
		return err
	}
	// R2 and R3 need it; without one they fail and the rest still runs.
	if out, err := exec.CommandContext(ctx, filepath.Join(e.Root, "scripts", "fluent-bit.sh")).Output(); err == nil {
		e.FluentBit = strings.TrimSpace(string(out))
	}
	return nil
}

// Machine describes this machine and the stack's versions.
func (e *Env) Machine() (host string, nproc int, memGiB float64, cpu, kernel, goV, java, kafka, es, commit string, load1 float64) {
	host, _ = os.Hostname()
	nproc = runtime.NumCPU()
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				memGiB = kb / (1 << 20)
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = "Linux " + strings.TrimSpace(string(b))
	}
	goV = strings.TrimPrefix(runtime.Version(), "go")
	if out, err := exec.Command("java", "-version").CombinedOutput(); err == nil {
		java = strings.Trim(strings.Fields(strings.SplitN(string(out), "\n", 2)[0] + " ? ? ?")[2], `"`)
	}
	kafka = strings.TrimPrefix(filepath.Base(e.KafkaHome), "kafka-")
	// GET / is not served by the test distribution (405): ask the nodes API.
	if out, err := exec.Command("curl", "-s", e.ESURL+"/_nodes/_local?filter_path=nodes.*.version").Output(); err == nil {
		var v struct {
			Nodes map[string]struct{ Version string } `json:"nodes"`
		}
		if json.Unmarshal(out, &v) == nil {
			for _, n := range v.Nodes {
				es = n.Version
			}
		}
	}
	if out, err := exec.Command("git", "-C", e.Root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load1, _ = strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	}
	return
}
