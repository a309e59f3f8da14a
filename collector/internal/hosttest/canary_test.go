package hosttest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/segmentio/kafka-go"
)

// TestFluentBitCanary: inside real Fluent Bit, the plugin instance sends
// end-to-end canary records through its own edge and producer to the
// records topic every Canary_Interval (marked with its source, a sequence
// of its own, not the user records' one), counts them, and sends a final
// one when Fluent Bit stops. The user lines still arrive exactly once.
func TestFluentBitCanary(t *testing.T) {
	brokers, topic, dlq, dir, logPath := tailSetup(t)
	const n = 200
	appendLines(t, logPath, "c", 0, n, nil)
	metrics := harness.FreeAddr(t)
	fb := newFluentBit(t, dir, "fluent-bit.conf", classicConf(dir, logPath, "agents", httpPort(t),
		outputProps("agents", brokers, topic, dlq, "Instance cn", "Canary_Interval 300ms", "Metrics_Addr "+metrics)), true)
	fb.start(1)
	d := delivered(t, harness.KafkaConfig(), topic, "c", n, 60*time.Second, record.FieldProducerSeq)
	d.exactlyOnce(t, n)
	const source = "collector/testhost/cn"
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		m := scrape(t, metrics)
		line := `agentobs_collector_canaries_total{outcome="ok",output="cn"} `
		i := strings.Index(m, line)
		if i < 0 {
			return false, "no canary counter:\n" + grepLines(m, "canar")
		}
		var v float64
		fmt.Sscan(m[i+len(line):], &v)
		return v >= 3, fmt.Sprintf("canaries acknowledged: %v", v)
	})
	fb.stop()

	var canaries []map[string]any
	for _, m := range harness.ConsumeAll(t, topic, n+100, 5*time.Second) {
		var doc map[string]any
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatal(err)
		}
		if doc[record.FieldCanary] != nil {
			canaries = append(canaries, doc)
			checkCanaryMessage(t, m, doc, source)
		}
	}
	if len(canaries) < 4 {
		t.Fatalf("%d canaries in %s, want at least 3 periodic and the final one", len(canaries), topic)
	}
	last, finals := 0.0, 0
	for _, c := range canaries {
		seq := c[record.FieldProducerSeq].(float64)
		last = max(last, seq)
		if c[record.FieldCanaryFinal] == true {
			finals++
			if seq != float64(len(canaries)) {
				t.Errorf("final canary has sequence %v of %d canaries: it must be the last", seq, len(canaries))
			}
		}
	}
	if finals != 1 || last != float64(len(canaries)) {
		t.Fatalf("%d final canaries, last sequence %v of %d canaries (want exactly one final, sequences 1..n without gaps)", finals, last, len(canaries))
	}
}

func checkCanaryMessage(t *testing.T, m kafka.Message, doc map[string]any, source string) {
	t.Helper()
	pid, _ := doc[record.FieldProducerID].(string)
	if doc[record.FieldCanary] != source || doc[record.FieldMessage] != publish.CanaryMessage || !strings.HasPrefix(pid, source+"/canary/") {
		t.Fatalf("canary %v", doc)
	}
	if id := string(m.Key); id == "" || id != doc[record.FieldEventID] {
		t.Fatalf("canary key %q, event.id %v: a trace-less record is keyed by its event.id", m.Key, doc[record.FieldEventID])
	}
}
