package hosttest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/collector/internal/flbchunk"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
)

// TestHostBrokerOutage stages a broker outage in the middle of a run: the
// first chunk is delivered, then the broker becomes unreachable and flushes
// return FLB_RETRY (within Timeout, nothing buffered), the host re-sends the
// same chunk as Fluent Bit does, the broker comes back and every chunk ends
// FLB_OK. Consuming the topic: every record arrived, duplicates only as
// repeats of the same event.id.
func TestHostBrokerOutage(t *testing.T) {
	b := startPrivateBroker(t)
	topic, dlq := harness.Name(t, "t"), harness.Name(t, "dlq")
	b.createTopic(t, topic, 3)
	b.createTopic(t, dlq, 1)
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	const chunks, perChunk = 6, 50
	args := []string{"-retry-max", "200", "-retry-wait-ms", "250", "-interval-ms", "300", "-i", "o",
		"-p", "Brokers=" + b.Addr(), "-p", "Topic=" + topic, "-p", "DLQ_Topic=" + dlq, "-p", "Source=testhost",
		"-p", "Timeout=2s", "-tag", "outage", "-repeat", "6"}
	for c := range chunks {
		args = append(args, "-chunk", writeChunk(t, flbchunk.V2, flbchunk.EventTime,
			agentRecords(strings.Repeat("o", c+1), perChunk), base.Add(time.Duration(c)*time.Second)))
	}
	cmd, lines, stderr := startHost(t, args...)

	var seen []string
	wait := func(what string, timeout time.Duration) {
		t.Helper()
		deadline := time.After(timeout)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("host ended before %q:\n%s\n%s", what, strings.Join(seen, "\n"), stderr)
				}
				seen = append(seen, l)
				if strings.Contains(l, what) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q within %s:\n%s", what, timeout, strings.Join(seen, "\n"))
			}
		}
	}
	wait("iter=0 attempt=0 rc=1", 30*time.Second) // delivered while the broker is up
	b.proxy.Cut()
	wait("rc=2", 30*time.Second)
	wait("rc=2", 30*time.Second) // at least two retries of the same chunk
	if err := b.proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		seen = append(seen, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("host: %v\n%s\n%s", err, strings.Join(seen, "\n"), stderr)
	}
	out := strings.Join(seen, "\n")
	t.Logf("host output:\n%s", tail(out, 40))
	if !strings.Contains(out, "done instance=o ok=6 error=0 gaveup=0") {
		t.Fatalf("not every chunk ended FLB_OK:\n%s", out)
	}
	retries := strings.Count(out, "rc=2")

	msgs := b.consume(t, topic, 3, chunks*perChunk, 30*time.Second)
	ids := map[string]string{}
	dups := 0
	for _, m := range msgs {
		id := kafkaclient.Header(m, publish.HeaderEventID)
		var doc map[string]any
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatal(err)
		}
		text := doc[record.FieldMessage].(string)
		if prev, ok := ids[id]; ok {
			dups++
			if prev != text {
				t.Fatalf("event.id %s names two different records: %q and %q", id, prev, text)
			}
		}
		ids[id] = text
	}
	t.Logf("sent %d records, %d retries, read %d messages, %d distinct, %d duplicates (same event.id)",
		chunks*perChunk, retries, len(msgs), len(ids), dups)
	if len(ids) != chunks*perChunk {
		t.Fatalf("%d distinct records arrived, want %d: records were lost", len(ids), chunks*perChunk)
	}
}
