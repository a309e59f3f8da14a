package chaos_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/test/faultproxy"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/agentobs/agentobs/test/rig"
)

// dur picks the short or the full length of a fault.
func dur(short, long time.Duration) time.Duration {
	if full {
		return long
	}
	return short
}

func privateBroker(t *testing.T) rigOptions {
	return rigOptions{private: harness.StartKafka(t, harness.KafkaServerOptions{Partitions: 6})}
}

// proxiedBroker is a private broker that the shipper and the plugin reach
// only through a fault proxy (the broker advertises the proxy's address);
// the indexers and the suite's bookkeeping use its direct listener, so a
// fault on the proxy is a fault on the edge → Kafka link alone.
func proxiedBroker(t *testing.T) rigOptions {
	p, err := faultproxy.New("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	s := harness.StartKafka(t, harness.KafkaServerOptions{Partitions: 6, AdvertisedAddr: p.Addr()})
	p.SetTarget(s.PlainAddr())
	return rigOptions{private: s, kafkaProxy: p}
}

// tinyWriteQueue is a private plain-HTTP Elasticsearch node whose write
// thread pool is one thread with a queue of 2 (static node settings the
// shared node must not get), and an indexer with 16 bulk requests of 250
// documents in flight over 3 shards: far more shard-level writes than the
// node queues, so it answers 429 (es_rejected_execution_exception).
func tinyWriteQueue(t *testing.T) rigOptions {
	es := harness.StartES(t, harness.ESServerOptions{PlainHTTP: true,
		Settings: map[string]string{"node.processors": "1", "thread_pool.write.queue_size": "2"}})
	return rigOptions{es: es, indexerArgs: []string{"-bulk.workers", "16", "-bulk.max-docs", "250", "-index.shards", "3"}}
}

// bulkRetries is the indexers' agentobs_indexer_bulk_retries_total{reason}.
func (r *chaosRig) bulkRetries(reason string) float64 {
	var n float64
	for _, ix := range r.indexers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m, err := rig.Scrape(ctx, "http://"+ix.addr+"/metrics")
		cancel()
		if err != nil {
			r.t.Logf("scrape %s: %v", ix.Name, err)
			continue
		}
		n += m.Sum("agentobs_indexer_bulk_retries_total", "reason", reason)
	}
	return n
}

// pluginSigkill: the Fluent Bit plugin host is the front door and is
// SIGKILLed during a flush, then replays every chunk.
func pluginSigkill() scenario {
	replayed := make(chan struct{})
	return scenario{name: "plugin-sigkill", fault: "Fluent Bit plugin host SIGKILLed mid-flush, restarted after 2s replaying every chunk",
		load:   func(r *chaosRig, cfg loadgen.Config) <-chan loadgen.Report { return r.pluginLoad(cfg, replayed) },
		inject: killPluginMidFlush(replayed)}
}

// brokerOutage stops the private broker for d and starts it again.
func brokerOutage(d time.Duration) func(t *testing.T, r *chaosRig) {
	return func(t *testing.T, r *chaosRig) {
		b := r.broker
		b.Stop()
		time.Sleep(d)
		if err := b.Start(); err != nil {
			t.Fatalf("broker restart: %v", err)
		}
	}
}

// httpLoad is chaosRig.httpLoad as a scenario's load.
func httpLoad(r *chaosRig, cfg loadgen.Config) <-chan loadgen.Report { return r.httpLoad(cfg) }

func restartIndexer(sig string) func(t *testing.T, r *chaosRig) {
	return func(t *testing.T, r *chaosRig) {
		ix := r.indexers[0]
		if sig == "KILL" {
			ix.Kill()
		} else if err := ix.Stop(); err != nil {
			t.Logf("indexer SIGTERM: %v", err)
		}
		time.Sleep(2 * time.Second)
		r.start(ix)
	}
}

// The Kafka-link faults, on the proxy between the front door (shipper or
// plugin) and the private broker.
func kafkaLatency(lat, d time.Duration) func(t *testing.T, r *chaosRig) {
	return func(t *testing.T, r *chaosRig) {
		r.kafkaProxy.SetLatency(lat)
		time.Sleep(d)
		r.kafkaProxy.SetLatency(0)
	}
}

func kafkaResets(d time.Duration) func(t *testing.T, r *chaosRig) {
	return func(t *testing.T, r *chaosRig) {
		for end := time.Now().Add(d); time.Now().Before(end); {
			r.kafkaProxy.Reset()
			time.Sleep(500 * time.Millisecond)
		}
	}
}

// kafkaBlackHole stalls the link for d (requests time out), then resets
// the connections that were open.
func kafkaBlackHole(d time.Duration) func(t *testing.T, r *chaosRig) {
	return func(t *testing.T, r *chaosRig) {
		r.kafkaProxy.SetStall(true)
		time.Sleep(d)
		r.kafkaProxy.SetStall(false)
		r.kafkaProxy.Reset()
	}
}

// scenarios: the short version (make test) runs those marked short.
func scenarios() []struct {
	short bool
	sc    scenario
} {
	type s = struct {
		short bool
		sc    scenario
	}
	// The plugin's scenarios inside real Fluent Bit live in plugin_fluentbit_test.go.
	return append([]s{
		{true, scenario{name: "indexer-sigkill", fault: "indexer SIGKILL mid-batch, restarted after 2s; spans over OTLP beside the records",
			opts: func(*testing.T) rigOptions { return rigOptions{spans: true} }, inject: restartIndexer("KILL")}},
		{false, scenario{name: "indexer-sigterm", fault: "indexer SIGTERM mid-batch, restarted after 2s", inject: restartIndexer("TERM")}},
		{false, scenario{name: "indexer-rebalance", fault: "two indexers, one SIGKILLed (partitions move after the 6s session timeout)",
			opts:   func(*testing.T) rigOptions { return rigOptions{indexers: 2} },
			inject: func(t *testing.T, r *chaosRig) { r.indexers[1].Kill() }}},
		{true, scenario{name: "broker-outage", fault: "private Kafka broker stopped " + dur(10*time.Second, 20*time.Second).String() + ", restarted",
			opts: privateBroker, inject: brokerOutage(dur(10*time.Second, 20*time.Second))}},
		{true, scenario{name: "shipper-http-broker-outage", fault: "private Kafka broker stopped 20s under the shipper's HTTP front door " +
			"(-http.ack-timeout 5s, -queue.size 8: requests answered 503 when Kafka does not acknowledge in time, at once when the queue is full; " +
			"each sent again until answered 200), restarted",
			opts: httpFrontDoor(func(t *testing.T) rigOptions {
				o := privateBroker(t)
				o.shipperArgs = []string{"-http.ack-timeout", "5s", "-queue.size", "8"}
				return o
			}), load: httpLoad,
			inject: brokerOutage(20 * time.Second),
			check: func(t *testing.T, r *chaosRig) {
				if r.auditRefused == 0 {
					t.Error("the audit saw no refused records: no request was refused after its records were stamped")
				}
			}}},
		{true, scenario{name: "es-outage", fault: "Elasticsearch link cut " + dur(15*time.Second, 60*time.Second).String() + " (refused + reset)",
			inject: func(t *testing.T, r *chaosRig) {
				r.esProxy.Cut()
				time.Sleep(dur(15*time.Second, 60*time.Second))
				if err := r.esProxy.Restore(); err != nil {
					t.Fatal(err)
				}
			}}},
		{false, scenario{name: "es-latency", fault: "300ms added to every Elasticsearch chunk for 20s",
			inject: func(t *testing.T, r *chaosRig) {
				r.esProxy.SetLatency(300 * time.Millisecond)
				time.Sleep(20 * time.Second)
				r.esProxy.SetLatency(0)
			}}},
		{false, scenario{name: "es-resets", fault: "Elasticsearch connections reset every 500ms for 15s",
			inject: func(t *testing.T, r *chaosRig) {
				for end := time.Now().Add(15 * time.Second); time.Now().Before(end); {
					r.esProxy.Reset()
					time.Sleep(500 * time.Millisecond)
				}
			}}},
		{false, scenario{name: "es-bandwidth", fault: "Elasticsearch link limited to 256 KiB/s per direction for 20s",
			inject: func(t *testing.T, r *chaosRig) {
				r.esProxy.SetBandwidth(256 << 10)
				time.Sleep(20 * time.Second)
				r.esProxy.SetBandwidth(0)
			}}},
		{false, scenario{name: "es-timeouts", fault: "Elasticsearch link a black hole for 20s (requests time out), open connections reset at the end",
			inject: func(t *testing.T, r *chaosRig) {
				r.esProxy.SetStall(true)
				time.Sleep(20 * time.Second)
				r.esProxy.SetStall(false)
				r.esProxy.Reset()
			}}},
		{false, scenario{name: "es-read-only", fault: "index.blocks.write on the log indices for 20s",
			inject: func(t *testing.T, r *chaosRig) {
				r.block(true)
				time.Sleep(20 * time.Second)
				r.block(false)
			}}},
		{false, scenario{name: "shipper-sigkill", fault: "shipper SIGKILL mid-file, restarted after 2s",
			inject: func(t *testing.T, r *chaosRig) {
				r.shipper.Kill()
				time.Sleep(2 * time.Second)
				r.start(r.shipper)
			}}},
		{true, scenario{name: "shipper-http-sigkill", fault: fmt.Sprintf("shipper SIGKILLed with HTTP requests in flight (bursts of %d "+
			"concurrent requests, each sent again with its Idempotency-Key until answered 200), restarted after 2s", httpClients),
			opts: httpFrontDoor(nil), load: httpLoad,
			inject: func(t *testing.T, r *chaosRig) {
				r.shipper.Kill()
				time.Sleep(2 * time.Second)
				r.start(r.shipper)
			}}},
		{false, scenario{name: "shipper-sigkill-rotation", fault: "shipper SIGKILL while files rotate every 2 MiB, restarted after 2s",
			rotate: 2 << 20,
			inject: func(t *testing.T, r *chaosRig) {
				r.shipper.Kill()
				time.Sleep(2 * time.Second)
				r.start(r.shipper)
			}}},
		{false, scenario{name: "kafka-latency", fault: "300ms added to every chunk on the shipper → Kafka link for 20s",
			opts: proxiedBroker, inject: kafkaLatency(300*time.Millisecond, 20*time.Second)}},
		{true, scenario{name: "kafka-resets", fault: "shipper → Kafka connections reset every 500ms for " + dur(10*time.Second, 15*time.Second).String(),
			opts: proxiedBroker, inject: kafkaResets(dur(10*time.Second, 15*time.Second))}},
		{false, scenario{name: "kafka-bandwidth", fault: "shipper → Kafka link limited to 256 KiB/s per direction for 20s",
			opts: proxiedBroker,
			inject: func(t *testing.T, r *chaosRig) {
				r.kafkaProxy.SetBandwidth(256 << 10)
				time.Sleep(20 * time.Second)
				r.kafkaProxy.SetBandwidth(0)
			}}},
		{false, scenario{name: "kafka-timeouts", fault: "shipper → Kafka link a black hole for 20s (requests time out), open connections reset at the end",
			opts: proxiedBroker, inject: kafkaBlackHole(20 * time.Second)}},
		{false, scenario{name: "es-429", fault: "private Elasticsearch, write pool 1 thread + queue 2, indexer 16 bulks × 250 docs in flight: 429s all run",
			opts: tinyWriteQueue,
			check: func(t *testing.T, r *chaosRig) {
				n := r.bulkRetries("too_many_requests")
				r.ledger.Note("agentobs_indexer_bulk_retries_total{reason=\"too_many_requests\"} = %.0f", n)
				if n == 0 {
					r.ledger.Fail("Elasticsearch never answered 429: the scenario did not test what it claims")
				}
			}}},
		{false, catchUp()},
		{false, pluginSigkill()},
		{true, scenario{name: "poison-mix", fault: "2000 poison records (bad JSON, mapping conflict, oversize, invalid UTF-8) mixed in", poison: 500}},
	}, pluginKafkaScenarios()...)
}

// TestChaos runs every scenario in order and prints the ledger.
func TestChaos(t *testing.T) {
	harness.RequireES(t)
	harness.RequireKafka(t)
	if full {
		t.Run("capacity", measureCapacity)
	}
	for _, s := range scenarios() {
		if !s.short && !full {
			continue
		}
		t.Run(s.sc.name, func(t *testing.T) { run(t, s.sc) })
	}
}

// measureCapacity pushes 100 000 records as fast as the load generator
// writes them and measures how fast they are indexed.
func measureCapacity(t *testing.T) {
	r := newRig(t, "capacity", "none (unthrottled, to measure capacity)", rigOptions{})
	const n = 100000
	runID := harness.Name(t, "cap")
	start := time.Now()
	<-r.writeLoad("app", loadgen.Config{Records: n, RunID: runID, Seed: 1})
	deadline := time.Now().Add(5 * time.Minute)
	for r.count(runID).Distinct < n {
		if time.Now().After(deadline) {
			t.Fatal("capacity run did not finish in 5 minutes")
		}
		time.Sleep(500 * time.Millisecond)
	}
	el := time.Since(start)
	measuredCap = int(float64(n) / el.Seconds())
	t.Logf("capacity: %d records in %s = %d records/s; scenarios run at %d/s", n, el.Round(time.Millisecond), measuredCap, rate())
}

// block sets or clears a write block on the run's log indices (Elasticsearch
// answers 403 cluster_block_exception to every write meanwhile).
func (r *chaosRig) block(on bool) {
	body := `{"index.blocks.write":` + map[bool]string{true: "true", false: "null"}[on] + `}`
	res, err := r.es.Indices.PutSettings(strings.NewReader(body), r.es.Indices.PutSettings.WithIndex(r.names.Alias),
		r.es.Indices.PutSettings.WithContext(context.Background()))
	if err != nil {
		r.t.Fatalf("block %v: %v", on, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		r.t.Fatalf("block %v: %s", on, res.String())
	}
}

// catchUp: the indexer is stopped while the load goes on, so 250 000
// records pile up in Kafka, then started, SIGKILLed 10 s into the
// catch-up and started again (issue 18: 550-641 MiB peak while catching up
// about 250 000 records after restarts). The suite's memory bound (peak
// RSS, VmHWM) is asserted as in every scenario; the note gives the figure
// beside the indexer's own goal.
// shipperBound is the shipper's memory bound in the catch-up scenario:
// its default -queue.max-bytes (8 MiB since 2026-12-01, 32 MiB before)
// under its derived soft memory limit (80 MiB, before 128 MiB), with room
// for what the limit does not cover (stacks, the runtime, a limit is
// soft). Before the limit, runs on a loaded machine peaked at 222 MiB
// (es-429) and 475 MiB (catch-up).
const shipperBound = 192 << 20

func catchUp() scenario {
	const backlog, rate = 250000, 10000
	records := int64(backlog * 3 / 2) // the fault starts a third of the way in
	return scenario{name: "indexer-catch-up", fault: "indexer stopped while 250 000 records pile up, restarted, SIGKILLed 10s into the catch-up, restarted after 2s",
		records: records, rate: rate,
		inject: func(t *testing.T, r *chaosRig) {
			ix := r.indexers[0]
			if err := ix.Stop(); err != nil {
				t.Logf("indexer SIGTERM: %v", err)
			}
			time.Sleep(time.Duration(backlog/rate) * time.Second)
			r.start(ix)
			time.Sleep(10 * time.Second)
			ix.Kill()
			time.Sleep(2 * time.Second)
			r.start(ix)
		},
		check: func(t *testing.T, r *chaosRig) {
			r.mu.Lock()
			peak, shipper := r.ledger.PeakRSS["indexer"], r.ledger.PeakRSS["shipper"]
			r.mu.Unlock()
			r.ledger.Note("indexer peak RSS (VmHWM) while catching up %d records after restarts: %.0f MiB (suite bound %d MiB, indexer goal 200 MiB)",
				backlog, peak/(1<<20), memBound>>20)
			// The shipper reads 10 000 lines/s throughout; what it holds
			// for Kafka is bounded by -queue.max-bytes (32 MiB), the rest is
			// its fixed cost (lz4 compressors, runtime): 71-89 MiB measured.
			r.ledger.Note("shipper peak RSS (VmHWM) writing %d lines/s: %.0f MiB (bound %d MiB: queue.max-bytes 32 MiB plus fixed cost)", rate, shipper/(1<<20), shipperBound>>20)
			if shipper > shipperBound {
				r.ledger.Fail("shipper peak RSS %.0f MiB over its %d MiB bound", shipper/(1<<20), shipperBound>>20)
			}
		}}
}
