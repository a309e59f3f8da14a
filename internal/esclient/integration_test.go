package esclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/esclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
)

// Canonical records indexed with go-elasticsearch into the real cluster are
// found again by trace.id, with event.id as the document id.
func TestIndexAndSearchByTraceID(t *testing.T) {
	cl := harness.RequireES(t)
	index := harness.Index(t)
	ctx := context.Background()
	if err := esclient.Ping(ctx, cl); err != nil {
		t.Fatal(err)
	}
	mapping := `{"mappings":{"properties":{"trace":{"properties":{"id":{"type":"keyword"}}},"@timestamp":{"type":"date_nanos"}}}}`
	res, err := cl.Indices.Create(index, cl.Indices.Create.WithBody(strings.NewReader(mapping)))
	if err != nil || res.IsError() {
		t.Fatalf("create index: %v %v", err, res)
	}
	res.Body.Close()

	traceA, traceB := "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7a3ce929d0e0e4736"
	var body bytes.Buffer
	for i := 0; i < 30; i++ {
		tr := traceA
		if i%3 == 0 {
			tr = traceB
		}
		r := record.Record{Timestamp: time.Date(2026, 11, 26, 9, 0, 0, i, time.UTC), Message: fmt.Sprintf("line %d", i),
			Level: record.LevelInfo, Service: "svc", TraceID: tr, EventID: publish.EventID("esx-itest", uint64(i), nil)}
		fmt.Fprintf(&body, `{"create":{"_index":%q,"_id":%q}}`+"\n", index, r.EventID)
		body.Write(r.AppendJSON(nil))
		body.WriteByte('\n')
	}
	res, err = cl.Bulk(bytes.NewReader(body.Bytes()), cl.Bulk.WithRefresh("true"))
	if err != nil {
		t.Fatal(err)
	}
	var bulk struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int `json:"status"`
		} `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&bulk); err != nil || bulk.Errors || len(bulk.Items) != 30 {
		t.Fatalf("bulk: err=%v errors=%v items=%d", err, bulk.Errors, len(bulk.Items))
	}
	res.Body.Close()

	q := fmt.Sprintf(`{"query":{"term":{"trace.id":%q}},"sort":[{"@timestamp":"asc"}],"size":100}`, traceA)
	res, err = cl.Search(cl.Search.WithIndex(index), cl.Search.WithBody(strings.NewReader(q)))
	if err != nil || res.IsError() {
		t.Fatalf("search: %v %v", err, res)
	}
	defer res.Body.Close()
	var sr struct {
		Hits struct {
			Hits []struct {
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&sr); err != nil {
		t.Fatal(err)
	}
	if len(sr.Hits.Hits) != 20 {
		t.Fatalf("trace %s: %d hits, want 20", traceA, len(sr.Hits.Hits))
	}
	for _, h := range sr.Hits.Hits {
		m, err := record.Peek(h.Source)
		if err != nil || m.TraceID != traceA || m.EventID != h.ID {
			t.Fatalf("hit %s: meta %+v err %v", h.ID, m, err)
		}
	}
}

func TestValidate(t *testing.T) {
	c := esclient.Config{Addresses: []string{"localhost:9200"}, Password: "x", APIKey: "y"}
	err := c.Validate()
	for _, want := range []string{"es.addresses", "not both", "es.username", "request-timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
}
