package chaos_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
	// Hot_Reload On: a SIGHUP reloads (fluent-bit-reload-awaiting-retry).
	service := "[SERVICE]\n    Hot_Reload    On\n"
	for _, l := range r.fbService {
		service += "    " + l + "\n"
	}
	body = strings.Replace(body, "[SERVICE]\n", service, 1)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r.plugin = &proc{Proc: &rig.Proc{Name: "fluent-bit", Bin: fb, Args: []string{"-e", bins["plugin"], "-c", conf},
		LogPath: r.keptLog("fluent-bit.log")}, addr: addr, kind: "collector"}
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
		// A configuration rolled out (SIGHUP, Hot_Reload On) while Kafka is
		// away: the old instance closes with chunks awaiting their retry and
		// cannot publish its final mark, the new one starts without an
		// answer to its topic check, and the chunks are sent again under
		// its producer id once Kafka is back.
		{true, scenario{name: "fluent-bit-reload-awaiting-retry", fault: "Fluent Bit plugin → Kafka link a black hole until flushes return FLB_RETRY; real Fluent Bit reloaded (SIGHUP) meanwhile, the link opened 10s later",
			opts: proxiedBroker, load: fb, inject: reloadFluentBitAwaitingRetry(false)}},
		// The same with Hot_Reload.Ensure_Thread_Safety Off, which a user
		// sets for reloads that do not wait for Kafka: Fluent Bit stops the
		// old configuration after its Grace, with chunks still awaiting
		// their retry in filesystem storage, and the new one takes them.
		{true, scenario{name: "fluent-bit-reload-unsafe-during-outage", fault: "Fluent Bit plugin → Kafka link a black hole until flushes return FLB_RETRY; real Fluent Bit with Hot_Reload.Ensure_Thread_Safety Off reloaded (SIGHUP) meanwhile, the link opened once the new configuration is ready",
			opts: func(t *testing.T) rigOptions {
				o := proxiedBroker(t)
				o.fluentBitService = []string{"Hot_Reload.Ensure_Thread_Safety Off"}
				return o
			}, load: fb, inject: reloadFluentBitAwaitingRetry(true)}},
		// Fluent Bit restarted (a node reboot, a rollout) while Kafka is
		// away: the plugin's init cannot check its topics and must start
		// anyway, and the chunks wait in Fluent Bit's buffers until Kafka
		// is back.
		{true, scenario{name: "fluent-bit-restart-during-outage", fault: "Fluent Bit plugin → Kafka link a black hole until flushes return FLB_RETRY; real Fluent Bit stopped (SIGTERM) and started again while the link is down, the link opened once the new process answered FLB_RETRY too",
			opts: proxiedBroker, load: fb, inject: restartFluentBitDuringOutage}},
		{false, scenario{name: "fluent-bit-kafka-latency", fault: "300ms added to every chunk on the Fluent Bit plugin → Kafka link for 20s",
			opts: proxiedBroker, load: fb, inject: kafkaLatency(300*time.Millisecond, 20*time.Second)}},
	}
}

// pluginMetric reads a counter of the plugin inside the scenario's Fluent
// Bit (NaN when it does not answer).
func (r *chaosRig) pluginMetric(name string, labels ...string) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	m, err := rig.Scrape(ctx, "http://"+r.plugin.addr+"/metrics")
	if err != nil {
		return math.NaN()
	}
	return m.Sum(name, labels...)
}

// pluginLogged counts the lines of Fluent Bit's log (every incarnation's:
// it is appended to) that contain s.
func (r *chaosRig) pluginLogged(s string) int {
	b, _ := os.ReadFile(r.plugin.LogPath)
	return strings.Count(string(b), s)
}

// awaitFor polls ok every 50 ms for at most d; a timeout fails the ledger.
func (r *chaosRig) awaitFor(what string, d time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return true
		}
	}
	r.ledger.Fail("no %s within %s", what, d)
	return false
}

// stallUntilRetry black-holes the plugin's Kafka link until a flush was
// answered FLB_RETRY, then lets more chunks fail for two seconds; it
// returns how many flushes were answered FLB_RETRY.
func (r *chaosRig) stallUntilRetry() float64 {
	retries0 := r.pluginMetric("agentobs_collector_flushes_total", "result", "retry")
	r.kafkaProxy.SetStall(true)
	r.awaitFor("flush answered FLB_RETRY", 30*time.Second, func() bool {
		return r.pluginMetric("agentobs_collector_flushes_total", "result", "retry") > retries0
	})
	time.Sleep(2 * time.Second) // more chunks fail meanwhile
	return r.pluginMetric("agentobs_collector_flushes_total", "result", "retry") - retries0
}

// reloadFluentBitAwaitingRetry black-holes the plugin's Kafka link until
// flushes were answered FLB_RETRY and reloads Fluent Bit (SIGHUP) with the
// link still a black hole. Fluent Bit (Hot_Reload.Ensure_Thread_Safety, on
// by default) starts the new configuration only once the old one flushed
// every chunk, so the reload waits for Kafka: the link opens 10 s later.
// Every record must be indexed once and the audit find no hole: the old
// instance closes after its last chunk was acknowledged, so its final mark
// names every number it stamped.
//
// unsafe: Fluent Bit runs with Hot_Reload.Ensure_Thread_Safety Off, stops
// the old configuration after its Grace with chunks unacknowledged, and the
// new one must be ready while the link is still down; the link opens then.
// The old instance's final mark cannot be published (its records are sent
// again under the new producer id, and the audit must still find no hole).
func reloadFluentBitAwaitingRetry(unsafe bool) func(t *testing.T, r *chaosRig) {
	return func(t *testing.T, r *chaosRig) {
		start := time.Now()
		retries := r.stallUntilRetry()
		ready := func() int { return r.pluginLogged(`"msg":"output ready"`) }
		before := ready()
		hup := time.Now()
		if err := r.plugin.Notify(syscall.SIGHUP); err != nil {
			r.ledger.Fail("SIGHUP: %v", err)
			return
		}
		if unsafe {
			// Without the thread-safety wait the reload must not need
			// Kafka: the new configuration is ready with the link down.
			if !r.awaitFor("new instance ready after the reload, with Kafka away", 60*time.Second, func() bool { return ready() > before }) {
				r.kafkaProxy.SetStall(false)
				return
			}
			took := time.Since(hup).Round(100 * time.Millisecond)
			r.kafkaProxy.SetStall(false)
			r.kafkaProxy.Reset()
			r.ledger.Note("link black-holed for %s: %.0f flushes answered FLB_RETRY; Fluent Bit (Hot_Reload.Ensure_Thread_Safety Off) "+
				"reloaded (SIGHUP) 2s after the first; the new configuration was ready %s after SIGHUP with Kafka away, the link opened then",
				time.Since(start).Round(100*time.Millisecond), retries, took)
		} else {
			time.Sleep(10 * time.Second)
			waited := ready() == before
			r.kafkaProxy.SetStall(false)
			r.kafkaProxy.Reset()
			opened := time.Now()
			if r.awaitFor("new instance ready after the reload", 60*time.Second, func() bool { return ready() > before }) {
				r.ledger.Note("link black-holed for %s: %.0f flushes answered FLB_RETRY; Fluent Bit reloaded (SIGHUP) 2s after the first; "+
					"the new configuration started %s after the link opened (waited for Kafka: %t)",
					opened.Sub(start).Round(100*time.Millisecond), retries, time.Since(opened).Round(100*time.Millisecond), waited)
			}
		}
		if !r.plugin.Running() {
			r.ledger.Fail("Fluent Bit exited after the reload:\n%s", r.plugin.Tail(20))
		}
	}
}

// restartFluentBitDuringOutage black-holes the plugin's Kafka link until
// flushes were answered FLB_RETRY, stops Fluent Bit (SIGTERM: its grace
// period ends with chunks unacknowledged, kept in filesystem storage) and
// starts it again with the link still down: the plugin's init gets no
// answer to its topic check and must start anyway (a plugin that failed
// init would make Fluent Bit exit, and a DaemonSet crash-loop until Kafka
// is back). The link opens once the new process answered FLB_RETRY.
func restartFluentBitDuringOutage(t *testing.T, r *chaosRig) {
	start := time.Now()
	retries := r.stallUntilRetry()
	const unchecked = "could not check that the topics exist"
	before := r.pluginLogged(unchecked)
	stopping := time.Now()
	if err := r.plugin.Stop(); err != nil { // SIGTERM, SIGKILL after 30 s
		r.ledger.Fail("stopping Fluent Bit during the outage: %v", err)
	}
	stopped := time.Since(stopping).Round(100 * time.Millisecond)
	if err := r.startErr(r.plugin); err != nil {
		r.ledger.Fail("Fluent Bit did not start while Kafka was away: %v", err)
		r.kafkaProxy.SetStall(false)
		return
	}
	r.awaitFor(fmt.Sprintf("%q from the restarted plugin", unchecked), 30*time.Second, func() bool { return r.pluginLogged(unchecked) > before })
	r.awaitFor("FLB_RETRY from the restarted Fluent Bit", 60*time.Second, func() bool {
		return r.pluginMetric("agentobs_collector_flushes_total", "result", "retry") > 0
	})
	deferred := r.pluginMetric("agentobs_collector_flushes_deferred_total")
	r.kafkaProxy.SetStall(false)
	r.kafkaProxy.Reset()
	r.ledger.Note("link black-holed for %s: %.0f flushes answered FLB_RETRY before the stop; Fluent Bit exited %s after SIGTERM, "+
		"started again without an answer from Kafka (%.0f flushes deferred by the probe gate since)",
		time.Since(start).Round(100*time.Millisecond), retries, stopped, deferred)
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
	start := time.Now()
	retries := r.stallUntilRetry()
	marks0 := r.pluginMetric("agentobs_collector_marks_total", "outcome", "ok")
	r.kafkaProxy.SetStall(false)
	r.kafkaProxy.Reset()
	r.awaitFor("two marks published after the link came back", 30*time.Second, func() bool {
		return r.pluginMetric("agentobs_collector_marks_total", "outcome", "ok") >= marks0+2
	})
	r.plugin.Kill()
	r.ledger.Note("link black-holed for %s: %.0f flushes answered FLB_RETRY; Fluent Bit SIGKILLed 2 marks after the link came back, started again on its tail DB and filesystem storage",
		time.Since(start).Round(100*time.Millisecond), retries)
	time.Sleep(2 * time.Second)
	r.start(r.plugin)
}
