package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/audit"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/segmentio/kafka-go"
)

type sliceSource struct{ msgs []kafka.Message }

func (s *sliceSource) Fetch(context.Context) (kafka.Message, error) {
	if len(s.msgs) == 0 {
		return kafka.Message{}, io.EOF
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return m, nil
}
func (s *sliceSource) Close() error { return nil }

// TestAuditFindsGaps indexes three producers into a real Elasticsearch:
// one complete, one with a hole of 5 of which 2 are dead letters and 1 a
// quarantined document (indexed, and its original dead-lettered), one with
// records newer than the grace period missing (in flight, not lost).
func TestAuditFindsGaps(t *testing.T) {
	es := harness.RequireES(t)
	idx := harness.Index(t)
	createIndex(t, es, idx)
	now := time.Now().UTC()
	var body bytes.Buffer
	var dead []kafka.Message
	doc := func(id string, seq int, age time.Duration, extra string) []byte {
		return []byte(fmt.Sprintf(`{"@timestamp":%q,"agentobs.producer.id":%q,"agentobs.producer.seq":%d%s}`,
			now.Add(-age).Format(time.RFC3339Nano), id, seq, extra))
	}
	add := func(id string, seq int, age time.Duration, extra string) {
		fmt.Fprintf(&body, `{"create":{"_index":%q}}`+"\n%s\n", idx, doc(id, seq, age, extra))
	}
	for i := 1; i <= 100; i++ {
		add("p/complete", i, 30*time.Minute-time.Duration(i)*time.Second, "")
	}
	for i := 1; i <= 100; i++ {
		age := 30*time.Minute - time.Duration(i)*time.Second
		switch {
		case i >= 40 && i <= 41: // dead-lettered, not indexed
			dead = append(dead, kafka.Message{Value: doc("p/gappy", i, age, "")})
		case i == 42: // quarantined: indexed and dead-lettered
			add("p/gappy", i, age, `,"_conflicts":{"x":"1"}`)
			dead = append(dead, kafka.Message{Value: doc("p/gappy", i, age, "")}, kafka.Message{Value: doc("p/gappy", i, age, "")})
		case i >= 43 && i <= 44: // lost
		default:
			add("p/gappy", i, age, "")
		}
	}
	for i := 1; i <= 50; i++ {
		if i == 45 { // newer than grace: in flight
			continue
		}
		add("p/fresh", i, time.Duration(50-i)*15*time.Second, "")
	}
	dead = append(dead, kafka.Message{Value: []byte(`{not json`)})
	res, err := es.Bulk(bytes.NewReader(body.Bytes()), es.Bulk.WithRefresh("true"))
	if err != nil || res.IsError() {
		t.Fatalf("bulk: %v %v", err, res)
	}
	var br struct{ Errors bool }
	_ = json.NewDecoder(res.Body).Decode(&br)
	res.Body.Close()
	if br.Errors {
		t.Fatal("bulk had item errors")
	}
	a := audit.New(es, idx, func(context.Context, time.Time) (audit.Source, error) {
		return &sliceSource{msgs: append([]kafka.Message(nil), dead...)}, nil
	})
	r, got := runAudit(t, a, 2*time.Minute)
	f := func(id string, indexed, deadN, missing int64) {
		t.Helper()
		p := got[id]
		if p.Indexed != indexed || p.DeadLettered != deadN || p.Missing != missing {
			t.Errorf("%s: indexed %d dead %d missing %d, want %d %d %d", id, p.Indexed, p.DeadLettered, p.Missing, indexed, deadN, missing)
		}
	}
	f("p/complete", 100, 0, 0)
	f("p/gappy", 96, 2, 2)
	if p, ok := got["p/fresh"]; !ok || p.Missing != 0 || p.LastSeq >= 45 {
		t.Errorf("p/fresh: %+v (records newer than grace are in flight)", got["p/fresh"])
	}
	if r.Missing != 2 || r.Unattributed != 1 {
		t.Errorf("total missing %d unattributed %d, want 2 and 1", r.Missing, r.Unattributed)
	}
}

// TestAuditCountsDuplicatesOfAnotherEpoch: Fluent Bit killed mid-flush
// flushes the chunk again after its restart, and the plugin's new epoch (B)
// stamps its own numbers on records the old epoch (A) had delivered: their
// event.ids exist, Elasticsearch answers 409, and B's numbers 21-40 are on
// no document. The audit reported them missing; with their stamps noted on
// the documents they duplicated it counts them as B's. A redelivery with
// the document's own stamp is not noted.
func TestAuditCountsDuplicatesOfAnotherEpoch(t *testing.T) {
	es := harness.RequireES(t)
	idx := harness.Index(t)
	createIndex(t, es, idx)
	ctx := context.Background()
	ts := time.Now().UTC().Add(-30 * time.Minute).Format(time.RFC3339Nano)
	bulk := func(lines func(add func(id, producer string, seq int))) []audit.Duplicate {
		t.Helper()
		var body bytes.Buffer
		var sources [][]byte
		var ids []string
		lines(func(id, producer string, seq int) {
			src := fmt.Sprintf(`{"@timestamp":%q,"agentobs.producer.id":%q,"agentobs.producer.seq":%d}`, ts, producer, seq)
			fmt.Fprintf(&body, "{\"create\":{\"_index\":%q,\"_id\":%q}}\n%s\n", idx, id, src)
			sources, ids = append(sources, []byte(src)), append(ids, id)
		})
		res, err := es.Bulk(bytes.NewReader(body.Bytes()), es.Bulk.WithRefresh("true"))
		if err != nil || res.IsError() {
			t.Fatalf("bulk: %v %v", err, res)
		}
		defer res.Body.Close()
		var br struct {
			Items []map[string]struct {
				Status int `json:"status"`
			} `json:"items"`
		}
		if err := json.NewDecoder(res.Body).Decode(&br); err != nil {
			t.Fatal(err)
		}
		var dups []audit.Duplicate
		for i, it := range br.Items {
			switch st := it["create"].Status; st {
			case 201:
			case 409:
				if d, ok := audit.DuplicateOf(idx, ids[i], sources[i]); ok {
					dups = append(dups, d)
				}
			default:
				t.Fatalf("item %d: status %d", i, st)
			}
		}
		return dups
	}
	bulk(func(add func(string, string, int)) {
		for i := 1; i <= 100; i++ {
			add(fmt.Sprintf("e%d", i), "fb/A", i)
		}
	})
	dups := bulk(func(add func(string, string, int)) {
		for i := 1; i <= 50; i++ {
			id := fmt.Sprintf("b%d", i)
			if i > 20 && i <= 40 {
				id = fmt.Sprintf("e%d", i-20) // A's records, flushed again
			}
			add(id, "fb/B", i)
		}
		add("e50", "fb/A", 50) // a redelivery: the document's own stamp
	})
	if len(dups) != 21 {
		t.Fatalf("%d duplicates, want 21", len(dups))
	}
	a := audit.New(es, idx, nil)
	if _, got := runAudit(t, a, 2*time.Minute); got["fb/B"].Missing != 20 {
		t.Fatalf("before the stamps are noted: B missing %d, want 20 (the test's premise)", got["fb/B"].Missing)
	}
	n, err := audit.NoteDuplicates(ctx, es, dups)
	if err != nil || n != 20 {
		t.Fatalf("noted %d (%v), want 20: the redelivery keeps its own stamp", n, err)
	}
	if res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(idx)); err == nil {
		res.Body.Close()
	}
	_, got := runAudit(t, a, 2*time.Minute)
	for id, want := range map[string]int64{"fb/A": 100, "fb/B": 50} {
		if p := got[id]; p.Missing != 0 || p.Surplus != 0 || p.Indexed != want || p.FirstSeq != 1 || p.LastSeq != want {
			t.Errorf("%s: %+v, want seqs 1-%d all found, nothing missing", id, p, want)
		}
	}
	// Noting again (a redelivered batch) changes nothing.
	if n, err := audit.NoteDuplicates(ctx, es, dups); err != nil || n != 20 {
		t.Fatalf("noted again: %d (%v)", n, err)
	}
}

// createIndex creates idx with the producer-stamp mapping the audit reads.
func createIndex(t *testing.T, es *elasticsearch.Client, idx string) {
	t.Helper()
	mapping := `{"mappings":{"properties":{"@timestamp":{"type":"date_nanos"},"_conflicts":{"type":"flattened"},
		"agentobs":{"properties":{"producer":{"properties":{"id":{"type":"keyword"},"seq":{"type":"long"},
		"dup":{"properties":{"id":{"type":"keyword"},"seq":{"type":"long"}}}}}}}}}}`
	res, err := es.Indices.Create(idx, es.Indices.Create.WithBody(strings.NewReader(mapping)))
	if err != nil || res.IsError() {
		t.Fatalf("create %s: %v %v", idx, err, res)
	}
	res.Body.Close()
	t.Cleanup(func() { _, _ = es.Indices.Delete([]string{idx}) })
}

// runAudit runs a over the last hour, logs the table and returns the
// report and its producers by id.
func runAudit(t *testing.T, a *audit.Auditor, grace time.Duration) (audit.Report, map[string]audit.Producer) {
	t.Helper()
	r, err := a.Run(context.Background(), time.Hour, grace)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	audit.WriteTable(&out, r)
	t.Log("\n" + out.String())
	got := map[string]audit.Producer{}
	for _, p := range r.Producers {
		got[p.ID] = p
	}
	return r, got
}
