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
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/segmentio/kafka-go"
)

// Build-2 of issue 18, with real Kafka (the marks travel through a real
// topic, published by the front doors' Marker) and a real Elasticsearch:
// a producer whose last 10 records never arrived is reported (a tail has no
// hole after it, so the gap audit alone said 0); a producer that vanished
// with none of its 20 records indexed is reported; a producer that stopped
// cleanly with everything indexed is not.
func TestAuditSeesTailLossAndVanishedProducers(t *testing.T) {
	rig := newMarksRig(t)
	stamp := func(e *publish.Edge, n, indexed int) { rig.stamp(e, n, func(i int) bool { return i <= indexed }) }
	tail, clean, vanished := rig.producer("p/tail"), rig.producer("p/clean"), rig.producer("p/vanished")
	stamp(tail, 100, 90)
	stamp(clean, 50, 50)
	stamp(vanished, 20, 0)
	rig.marker.End(clean)
	r, got := rig.audit(3)
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

// marksRig is a real Elasticsearch index and a marks topic on the real
// Kafka, with a Marker publishing to it.
type marksRig struct {
	t          *testing.T
	es         *elasticsearch.Client
	kc         kafkaclient.Config
	idx        string
	marksTopic string
	marker     *publish.Marker
	prod       *kafkaclient.Producer
	base       *publish.Edge
	body       bytes.Buffer // bulk creates of the records stamp indexes
}

func newMarksRig(t *testing.T) *marksRig {
	r := &marksRig{t: t, es: harness.RequireES(t), kc: harness.RequireKafka(t), marksTopic: harness.Topic(t, 1), idx: harness.Index(t)}
	createIndex(t, r.es, r.idx)
	prod, err := kafkaclient.NewProducer(r.kc, kafkaclient.DefaultProducerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.prod = prod
	t.Cleanup(func() { prod.Close() })
	mc := publish.DefaultMarksConfig()
	mc.Topic = r.marksTopic
	if r.marker, err = publish.NewMarker(mc, "test", prod, nil, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if r.base, err = publish.New(publish.DefaultConfig(), "test", "base", 0, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

// producer is a new producer id, tracked by the marker.
func (r *marksRig) producer(id string) *publish.Edge {
	e := r.base.WithProducer(id, 0)
	r.marker.Track(e)
	return e
}

// stamp runs n records through e (the real stamping path) and keeps, for
// the audit's bulk load, each record i (1..n) that index says is indexed.
func (r *marksRig) stamp(e *publish.Edge, n int, index func(i int) bool) {
	t := r.t
	t.Helper()
	now := time.Now().UTC()
	for i := 1; i <= n; i++ {
		rec := &record.Record{Message: "m", EventID: fmt.Sprintf("%s-%d", e.ProducerID(), i)}
		msg, _, _ := e.Message(rec, nil)
		if !index(i) {
			continue
		}
		var d map[string]any
		if err := json.Unmarshal(msg.Value, &d); err != nil {
			t.Fatal(err)
		}
		doc := fmt.Sprintf(`{"@timestamp":%q,"agentobs.producer.id":%q,"agentobs.producer.seq":%v}`,
			now.Add(-10*time.Minute+time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), d[record.FieldProducerID], d[record.FieldProducerSeq])
		fmt.Fprintf(&r.body, `{"create":{"_index":%q}}`+"\n%s\n", r.idx, doc)
	}
}

// indexDup keeps, for the audit's bulk load, a document of producer id
// and seq that also carries producer dupID's dupSeq (the indexer's note on
// a document another epoch's copy of the record made, NoteDuplicates).
func (r *marksRig) indexDup(id string, seq int, dupID string, dupSeq int) {
	fmt.Fprintf(&r.body, `{"create":{"_index":%q}}`+"\n"+`{"@timestamp":%q,%q:%q,%q:%d,%q:%q,%q:%d}`+"\n", r.idx,
		time.Now().UTC().Add(-5*time.Minute).Format(time.RFC3339Nano), record.FieldProducerID, id, record.FieldProducerSeq, seq,
		record.FieldProducerDupID, dupID, record.FieldProducerDupSeq, dupSeq)
}

// publish writes mk to the marks topic as a front door would.
func (r *marksRig) publish(mk publish.Mark) {
	r.t.Helper()
	mk.Component, mk.At = "test", time.Now().UTC()
	v, _ := json.Marshal(mk)
	if err := r.prod.Send(context.Background(), []kafka.Message{{Topic: r.marksTopic, Key: []byte(mk.ProducerID), Value: v}}); err != nil {
		r.t.Fatal(err)
	}
}

// audit publishes the stopping marks (nMarks of them), indexes what stamp
// kept and runs an audit (grace 0) with the marks read back from Kafka.
func (r *marksRig) audit(nMarks int) (audit.Report, map[string]audit.Producer) {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.marker.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	res, err := r.es.Bulk(bytes.NewReader(r.body.Bytes()), r.es.Bulk.WithRefresh("true"))
	if err != nil || res.IsError() {
		t.Fatalf("bulk: %v %v", err, res)
	}
	res.Body.Close()
	marks := harness.ConsumeFrom(t, r.kc, r.marksTopic, nMarks, 30*time.Second)
	a := audit.New(r.es, r.idx, nil)
	a.SetMarks(func(context.Context, time.Time) (audit.Source, error) {
		return &sliceSource{msgs: append([]kafka.Message(nil), marks...)}, nil
	})
	time.Sleep(10 * time.Millisecond) // the marks' time must be before the audit's end (grace 0)
	return runAudit(t, a, 0)
}

// Records a front door stamped and then refused to its client (an HTTP
// request answered 503: the client sends them again under new numbers)
// are not missing: the marks carry their numbers and the audit counts
// those found nowhere as refused, inside the range, in the tail and for a
// producer with nothing indexed; refused records that arrived anyway count
// as indexed; what else is absent is still missing. Real Kafka carries the
// marks, a real Elasticsearch the records.
func TestAuditCountsRefusedRecordsApart(t *testing.T) {
	rig := newMarksRig(t)
	in := func(lo, hi int) func(int) bool { return func(i int) bool { return i >= lo && i <= hi } }
	not := func(f func(int) bool) func(int) bool { return func(i int) bool { return !f(i) } }
	for _, p := range []struct {
		id      string
		n       int
		index   func(int) bool
		refused []publish.SeqRange
	}{
		{"p/gap", 100, not(in(41, 60)), []publish.SeqRange{{First: 41, Last: 60}}},
		{"p/tail", 100, in(1, 80), []publish.SeqRange{{First: 81, Last: 100}}},
		{"p/arrived", 100, in(1, 100), []publish.SeqRange{{First: 41, Last: 60}}},
		// 31-40 and 91-100 are lost; 41-60 refused (two overlapping notes).
		{"p/mixed", 100, func(i int) bool { return in(1, 30)(i) || in(61, 90)(i) },
			[]publish.SeqRange{{First: 41, Last: 55}, {First: 50, Last: 60}}},
		{"p/all-refused", 20, in(0, 0), []publish.SeqRange{{First: 1, Last: 20}}},
		// 81-100 refused, then delivered after the client's retry had
		// made their documents: they are on those as duplicate stamps.
		{"p/dup-arrived", 100, in(1, 80), []publish.SeqRange{{First: 81, Last: 100}}},
	} {
		e := rig.producer(p.id)
		rig.stamp(e, p.n, p.index)
		rig.marker.Refuse(e, p.refused)
	}
	for i := 1; i <= 20; i++ {
		rig.indexDup("p/retry", i, "p/dup-arrived", 80+i)
	}
	// A fresh front door's first mark, sent right after a refusal, names
	// no number yet (last 0, first 1) but carries the refusal; the next
	// one (its last) carries none.
	early := rig.base.WithProducer("p/early", 0)
	rig.stamp(early, 30, not(in(11, 20)))
	rig.publish(publish.Mark{ProducerID: "p/early", FirstSeq: 1, LastSeq: 0, Refused: []publish.SeqRange{{First: 11, Last: 20}}})
	rig.publish(publish.Mark{ProducerID: "p/early", FirstSeq: 1, LastSeq: 30})
	r, got := rig.audit(8)
	for _, w := range []struct {
		id                                 string
		missing, tailMissing, refused, sur int64
	}{
		{"p/gap", 0, 0, 20, 0},
		{"p/tail", 0, 0, 20, 0},
		{"p/arrived", 0, 0, 0, 0},
		{"p/mixed", 20, 10, 20, 0},
		{"p/all-refused", 0, 0, 20, 0},
		{"p/dup-arrived", 0, 0, 0, 0},
		{"p/early", 0, 0, 10, 0},
	} {
		p := got[w.id]
		if p.Missing != w.missing || p.TailMissing != w.tailMissing || p.Refused != w.refused || p.Surplus != w.sur {
			t.Errorf("%s: missing %d tail %d refused %d surplus %d; want %d %d %d %d", w.id, p.Missing, p.TailMissing, p.Refused, p.Surplus,
				w.missing, w.tailMissing, w.refused, w.sur)
		}
	}
	if r.Missing != 20 || r.Refused != 90 {
		t.Errorf("totals: missing %d refused %d, want 20 and 90", r.Missing, r.Refused)
	}
}
