package chaos_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/agentobs/agentobs/test/rig"
)

// fluentBitLoad makes real Fluent Bit (scripts/fluent-bit.sh finds it; under
// CI=true a missing one fails the scenario) with the plugin loaded the front
// door: the load generator writes dir/fluent-bit/agents.log at cfg.Rate,
// Fluent Bit tails it into the plugin, and the plugin produces to
// r.edgeKafka, through the Kafka fault proxy when the scenario has one.
// The shipper still runs but tails nothing of this run. The report comes
// once every line is written. The output has Workers 2, the shipped default.
func (r *chaosRig) fluentBitLoad(cfg loadgen.Config) <-chan loadgen.Report {
	t := r.t
	fb := harness.FluentBit(t)
	buildPlugin(t)
	dir := filepath.Join(r.dir, "fluent-bit")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "agents.log")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := harness.FreeAddr(t)
	conf := filepath.Join(dir, "fluent-bit.conf")
	// Marks_Interval 1s: the audit reads a high-water mark at most a second
	// old; Fluent Bit is not stopped before it.
	body := rig.FluentBitConf(dir, logPath, "agents.chaos", "warn", "Source chaos-fluent-bit",
		"Brokers "+strings.Join(r.edgeKafka.Brokers, ","), "Topic "+r.topic, "DLQ_Topic "+r.dlq,
		"Timeout 5s", "Marks_Interval 1s", "Metrics_Addr "+addr)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r.plugin = &proc{Proc: &rig.Proc{Name: "fluent-bit", Bin: fb, Args: []string{"-e", bins["plugin"], "-c", conf},
		LogPath: filepath.Join(dir, "fluent-bit.log")}, addr: addr, kind: "collector"}
	r.front = r.plugin
	r.start(r.plugin)
	out := make(chan loadgen.Report, 1)
	go func() {
		rep, err := loadgen.RunFile(context.Background(), cfg, logPath)
		if err != nil {
			r.ledger.Fail("loadgen into Fluent Bit's file: %v", err)
		}
		out <- rep
	}()
	return out
}

// pluginKafkaScenarios are the Kafka-link faults of the shipper's
// scenarios, under the plugin inside real Fluent Bit: Fluent Bit tails,
// the plugin produces through the fault proxy to a private broker, and the
// indexer (reaching the broker directly) counts every record in
// Elasticsearch. What the plugin must show: FLB_RETRY while Kafka does not
// acknowledge, the chunk kept in Fluent Bit's filesystem buffer, every
// record indexed once when the link is back (re-sent copies carry the same
// event.id, so they collapse into the same documents).
//
// fluent-bit-sigkill kills real Fluent Bit mid-flush and starts it again
// on its tail DB and filesystem storage. flbhost stays the front door of
// plugin-sigkill: it replays every chunk byte for byte after the kill,
// which real Fluent Bit does only for chunks it never saw acknowledged
// (collector/README.md lists what else only flbhost can provoke).
func pluginKafkaScenarios() []struct {
	short bool
	sc    scenario
} {
	fb := func(r *chaosRig, cfg loadgen.Config) <-chan loadgen.Report { return r.fluentBitLoad(cfg) }
	return []struct {
		short bool
		sc    scenario
	}{
		{true, scenario{name: "fluent-bit-kafka-resets", fault: "Fluent Bit plugin → Kafka connections reset every 500ms for " + dur(10*time.Second, 15*time.Second).String(),
			opts: proxiedBroker, load: fb, inject: kafkaResets(dur(10*time.Second, 15*time.Second))}},
		{false, scenario{name: "fluent-bit-kafka-timeouts", fault: "Fluent Bit plugin → Kafka link a black hole for 20s (requests time out), open connections reset at the end",
			opts: proxiedBroker, load: fb, inject: kafkaBlackHole(20 * time.Second)}},
		// Workers 2, the shipped default: the kill leaves each flush lane's
		// in-flight records the tail of its sequence, which its marks (held
		// below them) keep out of the audit, while the next epoch sends them
		// again.
		{true, scenario{name: "fluent-bit-sigkill", fault: "real Fluent Bit (Workers 2) SIGKILLed with a produce call in flight, started again after 2s on its tail DB and filesystem storage",
			load: fb, inject: killPluginMidFlush(nil)}},
		{true, scenario{name: "fluent-bit-sigkill-awaiting-retry", fault: "Fluent Bit plugin → Kafka link a black hole until flushes return FLB_RETRY, then open; real Fluent Bit SIGKILLed two marks later with chunks awaiting their retry, started again after 2s",
			opts: proxiedBroker, load: fb, inject: killFluentBitAwaitingRetry}},
		{false, scenario{name: "fluent-bit-kafka-latency", fault: "300ms added to every chunk on the Fluent Bit plugin → Kafka link for 20s",
			opts: proxiedBroker, load: fb, inject: kafkaLatency(300*time.Millisecond, 20*time.Second)}},
	}
}

// killFluentBitAwaitingRetry black-holes the plugin's Kafka link until
// flushes were answered FLB_RETRY, opens it again, and SIGKILLs Fluent Bit
// as soon as the plugin published two marks since, while Fluent Bit's
// scheduler still holds chunks for their retry (it waits seconds between
// attempts); Fluent Bit starts again 2 s later on its filesystem storage
// and re-sends them under its new producer id. Before the plugin held its
// marks below a chunk awaiting its retry, those marks named the chunk's
// numbers and the audit reported them missing.
func killFluentBitAwaitingRetry(t *testing.T, r *chaosRig) {
	metric := func(name string, labels ...string) float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		m, err := rig.Scrape(ctx, "http://"+r.plugin.addr+"/metrics")
		if err != nil {
			return math.NaN()
		}
		return m.Sum(name, labels...)
	}
	wait := func(what string, ok func() bool) bool {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if ok() {
				return true
			}
		}
		r.ledger.Fail("no %s within 30s", what)
		return false
	}
	start := time.Now()
	retries0 := metric("agentobs_collector_flushes_total", "result", "retry")
	r.kafkaProxy.SetStall(true)
	wait("flush answered FLB_RETRY", func() bool { return metric("agentobs_collector_flushes_total", "result", "retry") > retries0 })
	time.Sleep(2 * time.Second) // more chunks fail meanwhile
	retries := metric("agentobs_collector_flushes_total", "result", "retry") - retries0
	marks0 := metric("agentobs_collector_marks_total", "outcome", "ok")
	r.kafkaProxy.SetStall(false)
	r.kafkaProxy.Reset()
	wait("two marks published after the link came back", func() bool { return metric("agentobs_collector_marks_total", "outcome", "ok") >= marks0+2 })
	r.plugin.Kill()
	r.ledger.Note("link black-holed for %s: %.0f flushes answered FLB_RETRY; Fluent Bit SIGKILLed 2 marks after the link came back, started again on its tail DB and filesystem storage",
		time.Since(start).Round(100*time.Millisecond), retries)
	time.Sleep(2 * time.Second)
	r.start(r.plugin)
}
