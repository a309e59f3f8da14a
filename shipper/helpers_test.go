package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/telemetry"
	"github.com/agentobs/agentobs/shipper/app"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

var shipperBin string

// TestMain builds the shipper binary once for the tests that run it as a
// subprocess (kill -9).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shipper-bin-")
	if err != nil {
		panic(err)
	}
	shipperBin = filepath.Join(dir, "shipper")
	if out, err := exec.Command("go", "build", "-o", shipperBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build shipper: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testConfig is a shipper config for tests: fast polls, a private
// checkpoint dir, no fixed port.
func testConfig(t testing.TB, brokers []string, topic string, include ...string) app.Config {
	cfg := app.DefaultConfig()
	cfg.Host = "test-host"
	cfg.Kafka.Brokers = brokers
	cfg.Edge.Topic = topic
	cfg.Files.Include = include
	cfg.Files.CheckpointDir = filepath.Join(t.TempDir(), "checkpoints")
	cfg.Files.PollInterval = 50 * time.Millisecond
	cfg.Files.CheckpointInterval = 100 * time.Millisecond
	cfg.HTTPAddr = "127.0.0.1:0"
	return cfg
}

// startApp runs the shipper in-process until the test ends.
func startApp(t testing.TB, cfg app.Config) (*app.App, *prometheus.Registry, func()) {
	t.Helper()
	reg := telemetry.NewRegistry()
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	a, err := app.New(cfg, app.Settings{Logger: logger, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	return a, reg, harness.RunStage(t, a)
}

// consume reads topic from the beginning on every partition of brokers
// (harness.ConsumeFrom) until want messages arrived or timeout passed.
func consume(t testing.TB, brokers []string, topic string, want int, timeout time.Duration) []kafka.Message {
	t.Helper()
	conf := kafkaclient.DefaultConfig()
	conf.Brokers = brokers
	return harness.ConsumeFrom(t, conf, topic, want, timeout)
}

// consumeSeqs reads topic until every loadgen seq 1..n arrived at least
// once (re-sent copies, expected after a kill, do not count) or timeout.
func consumeSeqs(t testing.TB, brokers []string, topic string, n int64, timeout time.Duration) []kafka.Message {
	t.Helper()
	conf := kafkaclient.DefaultConfig()
	conf.Brokers = brokers
	seen := map[int64]bool{}
	return harness.ConsumeUntil(t, conf, topic, timeout, func(m kafka.Message) bool {
		var doc struct {
			Seq int64 `json:"seq"`
		}
		if json.Unmarshal(m.Value, &doc) == nil && doc.Seq >= 1 && doc.Seq <= n {
			seen[doc.Seq] = true
		}
		return int64(len(seen)) == n
	})
}

// tally is what arrived, by loadgen seq.
type tally struct {
	records    int            // messages read
	ids        map[string]int // event.id -> copies
	idsBySeq   map[int64]map[string]bool
	missing    []int64
	duplicates int // messages beyond the first copy of an event.id
	conflicts  []int64
}

// check counts messages of one loadgen run (seq 1..n) by seq and event.id.
func check(t testing.TB, msgs []kafka.Message, n int64) tally {
	t.Helper()
	ta := tally{records: len(msgs), ids: map[string]int{}, idsBySeq: map[int64]map[string]bool{}}
	for _, m := range msgs {
		var doc struct {
			EventID string `json:"event.id"`
			Seq     int64  `json:"seq"`
			Canary  any    `json:"agentobs.canary"`
		}
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatalf("bad record %q: %v", m.Value, err)
		}
		if doc.Canary != nil { // the shipper's canary shares the topic by design (canary.interval)
			ta.records--
			continue
		}
		if kafkaclient.Header(m, publish.HeaderEventID) != doc.EventID {
			t.Fatalf("event.id header %q != body %q", kafkaclient.Header(m, publish.HeaderEventID), doc.EventID)
		}
		ta.ids[doc.EventID]++
		if ta.ids[doc.EventID] > 1 {
			ta.duplicates++
		}
		if ta.idsBySeq[doc.Seq] == nil {
			ta.idsBySeq[doc.Seq] = map[string]bool{}
		}
		ta.idsBySeq[doc.Seq][doc.EventID] = true
	}
	for s := int64(1); s <= n; s++ {
		switch len(ta.idsBySeq[s]) {
		case 0:
			ta.missing = append(ta.missing, s)
		case 1:
		default:
			ta.conflicts = append(ta.conflicts, s)
		}
	}
	sort.Slice(ta.missing, func(i, j int) bool { return ta.missing[i] < ta.missing[j] })
	return ta
}

func (ta tally) String() string {
	miss := ta.missing
	if len(miss) > 10 {
		miss = miss[:10]
	}
	return fmt.Sprintf("%d messages, %d distinct event.ids, %d duplicate copies, %d seqs missing (first %v), %d seqs with >1 event.id",
		ta.records, len(ta.ids), ta.duplicates, len(ta.missing), miss, len(ta.conflicts))
}
