package publish

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/record"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

func TestCanaryMessages(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TopicField = record.FieldDataset // a canary has no dataset: it takes the records topic
	base, err := New(cfg, "test", "test/h/files", 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []kafka.Message
	fail := false
	deliver := func(_ context.Context, m kafka.Message) error {
		if fail {
			return errors.New("broker down")
		}
		got = append(got, m)
		return nil
	}
	vec, err := NewCanaryCounter(nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCanary(DefaultCanaryConfig(), base, "test/h", "ep", deliver, vec.WithLabelValues(CanaryOK), vec.WithLabelValues(CanaryError), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, final := range []bool{false, false, true} {
		if err := c.Emit(context.Background(), final); err != nil {
			t.Fatal(err)
		}
	}
	fail = true
	if err := c.Emit(context.Background(), false); err == nil {
		t.Fatal("failed delivery not reported")
	}
	if ok, bad := testutil.ToFloat64(vec.WithLabelValues(CanaryOK)), testutil.ToFloat64(vec.WithLabelValues(CanaryError)); ok != 3 || bad != 1 {
		t.Fatalf("outcomes ok=%v error=%v, want 3 and 1", ok, bad)
	}
	ids := map[string]bool{}
	for i, m := range got {
		var doc map[string]any
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatal(err)
		}
		if m.Topic != cfg.Topic || doc[record.FieldCanary] != "test/h" || doc[record.FieldMessage] != CanaryMessage {
			t.Fatalf("canary %d: topic %s doc %v", i, m.Topic, doc)
		}
		if doc[record.FieldProducerID] != "test/h/canary/ep" || doc[record.FieldProducerSeq] != float64(i+1) {
			t.Fatalf("canary %d stamp: %v %v", i, doc[record.FieldProducerID], doc[record.FieldProducerSeq])
		}
		if id := doc[record.FieldEventID].(string); id != LineEventID(CanaryIDSource("test/h", "ep"), int64(i+1)) || ids[id] {
			t.Fatalf("canary %d event.id %s", i, id)
		} else {
			ids[id] = true
		}
		if final := doc[record.FieldCanaryFinal] == true; final != (i == 2) {
			t.Fatalf("canary %d final=%v", i, final)
		}
		ts, err := time.Parse(time.RFC3339Nano, doc[record.FieldTimestamp].(string))
		if err != nil || time.Since(ts) > time.Minute {
			t.Fatalf("canary %d emit time %v %v", i, doc[record.FieldTimestamp], err)
		}
	}
	if base.Seq() != 7 {
		t.Fatalf("the base producer's sequence moved to %d: canaries must not take user sequence numbers", base.Seq())
	}
}

func TestUserRecordsCannotPoseAsCanaries(t *testing.T) {
	e, err := New(DefaultConfig(), "test", "test/h/files", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRec("spoof", map[string]any{record.FieldCanary: "x", record.FieldCanaryFinal: true,
		"agentobs": map[string]any{"canary": "y", "other": 1}})
	msg, _, _ := e.Message(rec, nil)
	if m, err := record.Peek(msg.Value); err != nil || m.Canary {
		t.Fatalf("user record still marked: %s (%v)", msg.Value, err)
	}
	var doc map[string]any
	_ = json.Unmarshal(msg.Value, &doc)
	if a := doc["agentobs"].(map[string]any); a["canary"] != nil || a["other"] != float64(1) {
		t.Fatalf("nested marker: %v", a)
	}
}

func TestCanaryConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		d  time.Duration
		ok bool
	}{{0, true}, {time.Second, true}, {-time.Second, false}, {time.Millisecond, false}} {
		if err := (CanaryConfig{Interval: tc.d}).Validate(); (err == nil) != tc.ok {
			t.Errorf("interval %s: %v", tc.d, err)
		}
	}
}
