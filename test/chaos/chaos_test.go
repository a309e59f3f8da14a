package chaos_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/test/chaos"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/agentobs/agentobs/test/rig"
	"github.com/segmentio/kafka-go"
)

var (
	bins     map[string]string
	binDir   string
	full     = os.Getenv("AGENTOBS_CHAOS") == "full"
	ledgerMu sync.Mutex
	ledgers  []*chaos.Ledger
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chaos-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	bins = map[string]string{}
	for _, b := range []string{"shipper", "indexer"} {
		bins[b] = filepath.Join(dir, b)
		cmd := exec.Command("go", "build", "-o", bins[b], "./"+b)
		cmd.Dir = harness.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	privateES.Close()
	os.RemoveAll(dir)
	if len(ledgers) > 0 {
		var b bytes.Buffer
		chaos.WriteTable(&b, ledgers)
		fmt.Printf("\nchaos ledger (%s mode):\n%s", modeName(), b.String())
		// LEDGER.md is the whole suite's; a -run subset only prints its rows.
		if full && measuredCap > 0 {
			writeLedgerFile(b.String())
		}
	}
	os.Exit(code)
}

func modeName() string {
	if full {
		return "full"
	}
	return "short"
}

func writeLedgerFile(table string) {
	var b strings.Builder
	fmt.Fprintf(&b, "# Latest chaos ledger\n\nWritten by `make chaos` (AGENTOBS_CHAOS=full) on %s.\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Records per scenario: %d at %d records/s (half the measured capacity), fault injected a third of the way in.\n\n", records(), rate())
	b.WriteString(table)
	_ = os.WriteFile(filepath.Join(harness.RepoRoot(), "test", "chaos", "LEDGER.md"), []byte(b.String()), 0o644)
}

// records per scenario: 200 000 in full mode (the floor), 30 000 short.
func records() int64 {
	if full {
		return 200000
	}
	return 30000
}

var (
	capOnce     sync.Once
	measuredCap int
)

// rate is half the measured capacity (full mode measures it once with an
// unthrottled baseline run); the short version uses a fixed 3 000/s, well
// under what this pipeline does on two shared cores.
func rate() int {
	if !full || measuredCap == 0 {
		return 3000
	}
	return measuredCap / 2
}

// poisonDocLimit is the indexer's -bulk.max-doc-bytes in the suite: small,
// so oversize poison stays cheap.
const poisonDocLimit = 16 << 10

// Poison kinds and the dead-letter reason each must end with.
var poisonReasons = map[string]string{
	"bad_json":         "invalid_json",
	"mapping_conflict": "mapping_conflict",
	"oversize":         "too_large",
	"invalid_utf8":     "invalid_json",
}

// poisonMsg builds the i-th poison record of a kind, as a foreign or buggy
// producer would write it straight into the topic.
func poisonMsg(topic, runID, kind string, i int) kafka.Message {
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	id := fmt.Sprintf("poison-%s-%s-%d", runID, kind, i)
	var v []byte
	switch kind {
	case "bad_json":
		v = fmt.Appendf(nil, `{"@timestamp":%q,"event.id":%q,"message":"cut off`, ts, id)
	case "mapping_conflict": // log.offset is a long in the template
		v = fmt.Appendf(nil, `{"@timestamp":%q,"event.id":%q,"message":"conflict","chaos.poison":%q,"log.offset":"not-a-number-%d"}`, ts, id, runID, i)
	case "oversize":
		v = fmt.Appendf(nil, `{"@timestamp":%q,"event.id":%q,"chaos.poison":%q,"message":%q}`, ts, id, runID, strings.Repeat("x", poisonDocLimit+4096))
	case "invalid_utf8":
		v = fmt.Appendf(nil, `{"@timestamp":%q,"event.id":%q,"chaos.poison":%q,"message":"bad \xff\xfe bytes %d"}`, ts, id, runID, i)
	}
	return kafka.Message{Topic: topic, Key: []byte(id), Value: v}
}

// injectPoison spreads n poison records per kind over d.
func (r *chaosRig) injectPoison(runID string, n int, d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	pc := kafkaclient.DefaultProducerConfig()
	pc.BatchBytes = 4 << 20
	prod, err := kafkaclient.NewProducer(r.kafka, pc, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	kinds := []string{"bad_json", "mapping_conflict", "oversize", "invalid_utf8"}
	for _, k := range kinds {
		r.ledger.Poison[k] = int64(n)
	}
	go func() {
		defer close(done)
		defer prod.Close()
		const rounds = 20
		for round := range rounds {
			var msgs []kafka.Message
			for _, k := range kinds {
				for i := round * n / rounds; i < (round+1)*n/rounds; i++ {
					msgs = append(msgs, poisonMsg(r.topic, runID, k, i))
				}
			}
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := prod.Send(ctx, msgs)
				cancel()
				if err == nil {
					break
				}
				r.t.Logf("poison produce (retrying): %v", err)
				time.Sleep(time.Second)
			}
			time.Sleep(d / rounds)
		}
	}()
	return done
}

// scenario is one fault, injected a third of the way into a run.
type scenario struct {
	name, fault string
	opts        func(t *testing.T) rigOptions
	poison      int   // poison records per kind
	rotate      int64 // loadgen RotateBytes
	// inject runs at a third of the run and returns when the fault is over.
	inject func(t *testing.T, r *chaosRig)
	// load replaces the default front door (loadgen → file → shipper).
	load func(r *chaosRig, cfg loadgen.Config) <-chan loadgen.Report
	// check adds the scenario's own assertions after the common ones.
	check func(t *testing.T, r *chaosRig)
	// schedule, when set, replaces inject: its steps run from the start of
	// the load (randomized mode and the issue-18 scenarios), the indexer's
	// health is watched throughout, and every step must be recovered from
	// within recoveryBound.
	schedule *chaos.Schedule
	// records and rate override the mode's defaults (0: records(), rate()).
	records int64
	rate    int
}

func run(t *testing.T, sc scenario) *chaos.Ledger {
	var o rigOptions
	if sc.opts != nil {
		o = sc.opts(t)
	}
	r := newRig(t, sc.name, sc.fault, o)
	l := r.ledger
	defer func() {
		ledgerMu.Lock()
		ledgers = append(ledgers, l)
		ledgerMu.Unlock()
		if t.Failed() && l.Pass() {
			l.Fail("the run stopped before the ledger was complete")
		}
		var b bytes.Buffer
		chaos.WriteTable(&b, []*chaos.Ledger{l})
		t.Log("\n" + b.String())
		if !l.Pass() {
			t.Errorf("%s failed: %s", sc.name, strings.Join(l.Failures, "; "))
			if sc.schedule != nil {
				t.Errorf("replay it: %s\nschedule: %s", replayCommand(sc), sc.schedule)
			}
		}
	}()
	if sc.schedule != nil {
		// The schedule's clock starts with a working pipeline: the indexer
		// joined, assigned and ready (a fresh private broker creates its
		// offsets topic first), so start-up is not counted as a stall.
		for _, ix := range r.indexers {
			if err := rig.WaitHTTP(context.Background(), "http://"+ix.addr+"/readyz", 2*time.Minute); err != nil {
				t.Fatalf("%s not ready before the schedule: %v\n%s", ix.Name, err, ix.Tail(20))
			}
		}
	}
	n, rt := records(), rate()
	if sc.records > 0 {
		n = sc.records
	}
	if sc.rate > 0 {
		rt = sc.rate
	}
	runID := harness.Name(t, "run")
	span := time.Duration(float64(n) / float64(rt) * float64(time.Second))
	cfg := loadgen.Config{Records: n, Rate: rt, RunID: runID, Seed: time.Now().UnixNano(), RotateBytes: sc.rotate}
	var load <-chan loadgen.Report
	if sc.load != nil {
		load = sc.load(r, cfg)
	} else {
		load = r.writeLoad("app", cfg)
	}
	// Spans: a tenth of the records' count and rate, over OTLP/HTTP
	// through the shipper, retried until acknowledged.
	var spansDone <-chan rig.SpanReport
	sctx, spansCancel := context.WithTimeout(context.Background(), span+3*time.Minute)
	defer spansCancel()
	if r.spansTopic != "" {
		spansDone = rig.SendSpans(sctx, rig.SpanLoad{URL: "http://" + r.shipper.addr + "/v1/traces", RunID: runID,
			Spans: int(n / 10), Rate: max(1, rt/10)})
	}
	var poisonDone <-chan struct{}
	if sc.poison > 0 {
		poisonDone = r.injectPoison(runID, sc.poison, span*2/3)
	}
	var health *healthWatch
	if sc.schedule != nil {
		health = r.watchHealth()
		r.ledger.Note("schedule %s", sc.schedule)
		<-r.execute(*sc.schedule, time.Now())
	} else {
		time.Sleep(span / 3)
		if sc.inject != nil {
			sc.inject(t, r)
		}
	}
	faultEnd := time.Now()
	rep := <-load
	loadEnd := time.Now()
	if poisonDone != nil {
		<-poisonDone
	}
	l.Sent = rep.Records
	var spanRep rig.SpanReport
	if spansDone != nil {
		spanRep = <-spansDone
		if spanRep.Err != nil {
			l.Fail("spans not all acknowledged: %v", spanRep.Err)
		}
	}

	// Everything sent must arrive: poll the exact count.
	deadline := time.Now().Add(4 * time.Minute)
	if sc.schedule != nil {
		// Past recoveryBound the run fails anyway; a little longer shows
		// whether it was slow or lost records.
		deadline = loadEnd.Add(recoveryBound + 30*time.Second)
	}
	var tally = r.count(runID)
	spans := r.countSpans(runID)
	for (tally.Distinct < l.Sent || spans.Distinct < spanRep.Sent) && time.Now().Before(deadline) {
		time.Sleep(time.Second)
		tally, spans = r.count(runID), r.countSpans(runID)
	}
	l.Recovery = time.Since(faultEnd)
	if sc.schedule != nil {
		// Faults end before the load does: the pipeline must have caught
		// up with everything within recoveryBound of the load's end.
		if caught := time.Since(loadEnd); tally.Distinct >= l.Sent && caught > recoveryBound {
			l.Fail("caught up %s after the load ended, over the %s bound", caught.Round(100*time.Millisecond), recoveryBound)
		}
		health.stop()
		health.verdict(l)
		r.slow.verdict(l)
	}
	time.Sleep(2 * time.Second) // late redeliveries would show up as duplicates now
	tally = r.count(runID)
	l.Docs, l.Indexed = tally.Docs, tally.Distinct
	if r.spansTopic != "" {
		// Spans have no dead letters here: every one acknowledged must be
		// indexed exactly once.
		spans = r.countSpans(runID)
		l.Note("spans over OTLP through the shipper: %d acknowledged (%d requests retried), %d indexed, %d documents",
			spanRep.Sent, spanRep.Retries, spans.Distinct, spans.Docs)
		if lost := spanRep.Sent - spans.Distinct; lost != 0 {
			l.Fail("%d spans lost (acknowledged %d, indexed %d)", lost, spanRep.Sent, spans.Distinct)
		}
		if dup := spans.Docs - spans.Distinct; dup != 0 {
			l.Fail("%d duplicate span documents", dup)
		}
	}

	t.Logf("all %d indexed %s after the fault ended", l.Indexed, l.Recovery.Round(time.Millisecond))
	l.Acked = r.acked() // before the probe adds to it

	// Lag back to 0.
	lagDeadline := time.Now().Add(30 * time.Second)
	for {
		lag := r.lag()
		if lag == 0 {
			l.LagZero = true
			break
		}
		if time.Now().After(lagDeadline) {
			l.Fail("consumer lag %v, not 0, 30s after the run", lag)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	// A fresh probe batch is searchable within 60 s.
	probeID := runID + "-probe"
	start := time.Now()
	r.writeLoad("probe", loadgen.Config{Records: 100, RunID: probeID, Seed: 7})
	for {
		if c := r.count(probeID); c.Distinct == 100 {
			l.Probe = time.Since(start)
			break
		}
		if time.Since(start) > 60*time.Second {
			l.Probe = time.Since(start)
			l.Fail("probe batch not searchable within 60s")
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("lag 0 and probe searchable after %s", l.Probe.Round(time.Millisecond))

	// Dead letters: distinct by original partition and offset, by reason.
	seen := map[string]bool{}
	for _, m := range r.deadLetters() {
		key := kafkaclient.Header(m, kafkaclient.HeaderDLQPartition) + "/" + kafkaclient.Header(m, kafkaclient.HeaderDLQOffset)
		if key == "/" {
			key = "edge/" + kafkaclient.Header(m, publish.HeaderEventID)
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		l.DeadLetters[kafkaclient.Header(m, kafkaclient.HeaderDLQReason)]++
		if bytes.Contains(m.Value, []byte(`"loadgen.run_id":"`+runID+`"`)) {
			l.DeadRun++
		}
	}
	if rep, err := r.audit(); err != nil {
		l.Fail("indexer audit: %v", err)
	} else {
		missing := rep.Missing
		l.AuditMissing, l.AuditProducers = missing, int64(len(rep.Producers))
		if r.auditRefused = rep.Refused; rep.Refused > 0 {
			l.Note("audit: %d records refused to their clients (answered 429 or 503, sent again), not missing", rep.Refused)
		}
		// Lines copytruncate cut before the shipper read them were never
		// stamped: the audit cannot see them (the shipper reports them).
		if missing != l.Lost() && !(r.copyTruncated && missing < l.Lost()) {
			l.Fail("indexer audit reports %d missing, the ledger %d lost", missing, l.Lost())
			for _, p := range rep.Producers {
				if p.Missing > 0 || p.Surplus > 0 {
					l.Note("audit: producer %s seqs %d-%d marked %d indexed %d dead-lettered %d missing %d (tail %d) surplus %d",
						p.ID, p.FirstSeq, p.LastSeq, p.MarkedSeq, p.Indexed, p.DeadLettered, p.Missing, p.TailMissing, p.Surplus)
				}
			}
		}
	}
	r.mu.Lock()
	peaks := l.PeakRSS
	r.mu.Unlock()

	if l.Lost() != 0 && !r.copyTruncated {
		l.Fail("%d records lost (sent %d, indexed %d, dead-lettered %d)", l.Lost(), l.Sent, l.Indexed, l.DeadRun)
	}
	if l.Duplicates() != 0 {
		l.Fail("%d duplicate documents", l.Duplicates())
	}
	want := map[string]int64{}
	for k, v := range l.Poison {
		want[poisonReasons[k]] += v
	}
	for reason, n := range want {
		if l.DeadLetters[reason] != n {
			l.Fail("dead letters %s = %d, want %d (the poison injected)", reason, l.DeadLetters[reason], n)
		}
	}
	for reason, n := range l.DeadLetters {
		if want[reason] == 0 {
			l.Fail("%d unexpected dead letters with reason %s", n, reason)
		}
	}
	for k, v := range peaks {
		if v > memBound {
			l.Fail("%s peak RSS %.0f MiB over the %d MiB bound", k, v/(1<<20), memBound>>20)
		}
	}
	var dups, skipped float64
	for _, ix := range r.indexers {
		dups += r.counter(ix, indexerCounters[0])
		skipped += r.counter(ix, indexerCounters[1])
	}
	l.Note("indexer: %.0f records indexed again (409), %.0f skipped below the committed offset", dups, skipped)
	if r.kafkaProxy != nil {
		// The Kafka-link faults mean something only if the edge's traffic
		// went through the proxy (the broker advertises it).
		accepted, _ := r.kafkaProxy.Stats()
		l.Note("Kafka fault proxy accepted %d connections from the edge", accepted)
		if accepted == 0 {
			l.Fail("no connection passed the Kafka fault proxy")
		}
	}
	if r.copyTruncated {
		r.undrainedVerdict(l)
	}
	if sc.check != nil {
		sc.check(t, r)
	}
	return l
}
