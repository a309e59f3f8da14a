package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/audit"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/segmentio/kafka-go"
)

// Build-2 of issue 18, with real Kafka (the marks travel through a real
// topic, published by the front doors' Marker) and a real Elasticsearch:
// a producer whose last 10 records never arrived is reported (a tail has no
// hole after it, so the gap audit alone said 0); a producer that vanished
// with none of its 20 records indexed is reported; a producer that stopped
// cleanly with everything indexed is not.
func TestAuditSeesTailLossAndVanishedProducers(t *testing.T) {
	es := harness.RequireES(t)
	kc := harness.RequireKafka(t)
	marksTopic := harness.Topic(t, 1)
	idx := harness.Index(t)
	createIndex(t, es, idx)

	prod, err := kafkaclient.NewProducer(kc, kafkaclient.DefaultProducerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	mc := publish.DefaultMarksConfig()
	mc.Topic = marksTopic
	marker, err := publish.NewMarker(mc, "test", prod, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	base, err := publish.New(publish.DefaultConfig(), "test", "base", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var body bytes.Buffer
	// stamp runs n records through the edge (the real stamping path) and
	// indexes those with seq <= indexed.
	stamp := func(e *publish.Edge, n, indexed int) {
		for i := 1; i <= n; i++ {
			rec := &record.Record{Message: "m", EventID: fmt.Sprintf("%s-%d", e.ProducerID(), i)}
			msg, _, _ := e.Message(rec, nil)
			if i > indexed {
				continue
			}
			var d map[string]any
			if err := json.Unmarshal(msg.Value, &d); err != nil {
				t.Fatal(err)
			}
			doc := fmt.Sprintf(`{"@timestamp":%q,"agentobs.producer.id":%q,"agentobs.producer.seq":%v}`,
				now.Add(-10*time.Minute+time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), d[record.FieldProducerID], d[record.FieldProducerSeq])
			fmt.Fprintf(&body, `{"create":{"_index":%q}}`+"\n%s\n", idx, doc)
		}
	}
	tail, clean, vanished := base.WithProducer("p/tail", 0), base.WithProducer("p/clean", 0), base.WithProducer("p/vanished", 0)
	for _, e := range []*publish.Edge{tail, clean, vanished} {
		marker.Track(e)
	}
	stamp(tail, 100, 90)
	stamp(clean, 50, 50)
	stamp(vanished, 20, 0)
	marker.End(clean)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := marker.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	res, err := es.Bulk(bytes.NewReader(body.Bytes()), es.Bulk.WithRefresh("true"))
	if err != nil || res.IsError() {
		t.Fatalf("bulk: %v %v", err, res)
	}
	res.Body.Close()
	marks := harness.ConsumeFrom(t, kc, marksTopic, 3, 30*time.Second)
	a := audit.New(es, idx, nil)
	a.SetMarks(func(context.Context, time.Time) (audit.Source, error) {
		return &sliceSource{msgs: append([]kafka.Message(nil), marks...)}, nil
	})
	time.Sleep(10 * time.Millisecond) // the marks' time must be before the audit's end (grace 0)
	r, got := runAudit(t, a, 0)
	f := func(id string, missing, tailMissing, marked int64, ended bool) {
		t.Helper()
		p, ok := got[id]
		if !ok && missing > 0 {
			t.Errorf("%s not in the report", id)
			return
		}
		if p.Missing != missing || p.TailMissing != tailMissing || (ok && (p.MarkedSeq != marked || p.Ended != ended)) {
			t.Errorf("%s: missing %d tail %d marked %d ended %v; want %d %d %d %v", id, p.Missing, p.TailMissing, p.MarkedSeq, p.Ended,
				missing, tailMissing, marked, ended)
		}
	}
	f("p/tail", 10, 10, 100, false)
	f("p/clean", 0, 0, 50, true)
	f("p/vanished", 20, 20, 20, false)
	if r.Missing != 30 {
		t.Errorf("total missing %d, want 30", r.Missing)
	}
}
