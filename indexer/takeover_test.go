package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/segmentio/kafka-go"
)

// gauge reads one series from an indexer's /metrics, given as exposed
// (name{label="value"}), -1 when absent.
func gauge(addr, name string) float64 {
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func ready(addr string) bool {
	res, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// TestKillOneOfTwoTakesOver: of two indexers in one group, one is killed
// with SIGKILL (no LeaveGroup, no commit); the survivor gets every
// partition once the dead member's session (default 10s) has timed out and
// indexes what arrives after the kill, exactly once. Found: each kill -9
// stopped indexing for about 30 s (the old 30s session timeout). The bound
// asserted is loose, 2.5 session timeouts (25s; measured about 11s); the
// log shows the time measured.
func TestKillOneOfTwoTakesOver(t *testing.T) {
	kc := harness.RequireKafka(t)
	es := harness.RequireES(t)
	const parts = 4
	topic, dlq, prefix := harness.Topic(t, parts), harness.Topic(t, 1), harness.Index(t)
	names := schema.WithPrefix(prefix)
	t.Cleanup(func() { schema.Uninstall(context.Background(), es, names) })
	prod, err := kafkaclient.NewProducer(kc, kafkaclient.DefaultProducerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	base := time.Now().UTC()
	produce := func(from, to int) {
		var msgs []kafka.Message
		for i := from; i < to; i++ {
			r := record.Record{Timestamp: base.Add(time.Duration(i) * time.Microsecond), Message: "agent step",
				Level: record.LevelInfo, Service: "takeover", TraceID: fmt.Sprintf("%032x", 1+i),
				EventID: publish.EventID("takeover", uint64(i), nil)}
			msgs = append(msgs, publish.RecordMessage(topic, &r, r.AppendJSON(nil)))
		}
		if err := prod.Send(context.Background(), msgs); err != nil {
			t.Fatal(err)
		}
	}
	group := harness.Name(t, "g")
	start := func() (*exec.Cmd, string) {
		port, err := harness.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd := exec.Command(binary, "run")
		// The session timeout is the default: what is measured is what users get.
		cmd.Env = append(os.Environ(),
			"INDEXER_KAFKA_BROKERS="+strings.Join(kc.Brokers, ","), "INDEXER_ES_ADDRESSES="+harness.ESURL(),
			"INDEXER_KAFKA_TOPIC="+topic, "INDEXER_KAFKA_DLQ_TOPIC="+dlq, "INDEXER_KAFKA_GROUP="+group,
			"INDEXER_INDEX_PATTERN="+names.IndexPattern, "INDEXER_INDEX_ALIAS="+names.Alias,
			"INDEXER_INDEX_TRACES="+names.Traces, "INDEXER_INDEX_ALERTS="+names.Alerts, "INDEXER_INDEX_REPLICAS=0",
			"INDEXER_HTTP_ADDR="+addr, "INDEXER_COMMIT_INTERVAL=200ms", "INDEXER_HEALTH_POLL_INTERVAL=500ms", "INDEXER_LOG_LEVEL=warn",
			"INDEXER_KAFKA_SPANS_TOPIC=") // not the shared span topic
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
		return cmd, addr
	}
	a, addrA := start()
	_, addrB := start()
	assigned := `agentobs_indexer_assigned_partitions{topic="` + topic + `"}`
	harness.Eventually(t, 120*time.Second, func() (bool, string) {
		pa, pb := gauge(addrA, assigned), gauge(addrB, assigned)
		ok := pa > 0 && pb > 0 && pa+pb == parts && ready(addrA) && ready(addrB)
		return ok, fmt.Sprintf("assigned %v + %v of %d, ready %v %v", pa, pb, parts, ready(addrA), ready(addrB))
	})
	const n = 1000
	produce(0, n)
	harness.Eventually(t, 90*time.Second, func() (bool, string) {
		c := count(t, es, names.Alias)
		return c == n, fmt.Sprintf("%d of %d documents before the kill", c, n)
	})

	_ = a.Process.Signal(syscall.SIGKILL)
	_ = a.Wait()
	killed := time.Now()
	produce(n, 2*n)
	var took time.Duration
	harness.Eventually(t, 120*time.Second, func() (bool, string) {
		pb := gauge(addrB, assigned)
		c := count(t, es, names.Alias)
		if pb == parts && c == 2*n && took == 0 {
			took = time.Since(killed)
		}
		return took > 0 && ready(addrB), fmt.Sprintf("survivor holds %v of %d partitions, %d of %d documents, ready %v", pb, parts, c, 2*n, ready(addrB))
	})
	t.Logf("survivor took over and indexed everything %s after the kill", took.Round(100*time.Millisecond))
	if took > 25*time.Second {
		t.Errorf("takeover after a SIGKILL took %s, want under 25s (2.5 × the 10s session timeout)", took)
	}
	time.Sleep(2 * time.Second)
	if c := count(t, es, names.Alias); c != 2*n {
		t.Fatalf("documents %d, want exactly %d", c, 2*n)
	}
}
