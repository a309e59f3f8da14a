package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/agentobs/agentobs/internal/esclient"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/elastic/go-elasticsearch/v8"
)

// Duplicate is a record Elasticsearch refused as already there (409 on
// create: its event.id was indexed before), with the stamp it came with.
//
// A record re-sent by another producer epoch carries another stamp: real
// Fluent Bit killed mid-flush flushes the chunk again after its restart,
// and the new plugin epoch stamps its own sequence numbers on it. Those
// numbers never reach a document of their own, so the audit saw a hole in
// the new producer's sequence: a loss reported where nothing was lost.
// NoteDuplicates records such stamps on the document that holds the
// record (record.FieldProducerDupID and ...DupSeq), and the audit counts
// them for their producer.
type Duplicate struct {
	Index, ID string
	Producer  string
	Seq       int64
}

// DuplicateOf returns the Duplicate for a refused document's source; false
// when the record carries no stamp.
func DuplicateOf(index, id string, source []byte) (Duplicate, bool) {
	p, seq, ok := Stamp(source)
	return Duplicate{Index: index, ID: id, Producer: p, Seq: seq}, ok
}

// NoteDuplicates reads the stamps of the documents dups collided with and,
// where a duplicate's stamp differs (another producer, or another number),
// writes it onto the document. It returns how many it wrote. A duplicate
// with the document's own stamp (a redelivery, a retry with the same
// numbers) is no hole and is left alone; a document noted twice keeps the
// last stamp (the earlier one's producer then shows one record missing).
func NoteDuplicates(ctx context.Context, es *elasticsearch.Client, dups []Duplicate) (int, error) {
	if len(dups) == 0 {
		return 0, nil
	}
	type ref struct {
		Index  string   `json:"_index"`
		ID     string   `json:"_id"`
		Source []string `json:"_source"`
	}
	refs := make([]ref, len(dups))
	for i, d := range dups {
		refs[i] = ref{Index: d.Index, ID: d.ID, Source: []string{record.FieldProducerID, record.FieldProducerSeq}}
	}
	var got struct {
		Docs []struct {
			Found  bool            `json:"found"`
			Source json.RawMessage `json:"_source"`
		} `json:"docs"`
	}
	if err := esclient.Do(ctx, es, http.MethodPost, "/_mget", map[string]any{"docs": refs}, &got); err != nil {
		return 0, fmt.Errorf("duplicate stamps: read the documents: %w", err)
	}
	if len(got.Docs) != len(dups) {
		return 0, fmt.Errorf("duplicate stamps: %d documents asked, %d answered", len(dups), len(got.Docs))
	}
	var body bytes.Buffer
	n := 0
	for i, d := range dups {
		doc := got.Docs[i]
		if !doc.Found {
			continue
		}
		if p, seq, ok := Stamp(doc.Source); ok && p == d.Producer && seq == d.Seq {
			continue
		}
		// retry_on_conflict: another bulk may be writing the same document
		// (a summary or a later duplicate's note); the update is a merge of
		// two fields, safe to apply again on the newer version.
		meta, _ := json.Marshal(map[string]any{"update": map[string]any{"_index": d.Index, "_id": d.ID, "retry_on_conflict": 3}})
		upd, _ := json.Marshal(map[string]any{"doc": map[string]any{record.FieldProducerDupID: d.Producer, record.FieldProducerDupSeq: d.Seq}})
		body.Write(meta)
		body.WriteByte('\n')
		body.Write(upd)
		body.WriteByte('\n')
		n++
	}
	if n == 0 {
		return 0, nil
	}
	var res struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Error json.RawMessage `json:"error"`
		} `json:"items"`
	}
	if err := esclient.Do(ctx, es, http.MethodPost, "/_bulk?filter_path=errors,items.*.error", &body, &res); err != nil {
		return 0, fmt.Errorf("duplicate stamps: write %d: %w", n, err)
	}
	if res.Errors {
		for _, it := range res.Items {
			for _, r := range it {
				if len(r.Error) > 0 {
					return 0, fmt.Errorf("duplicate stamps: write %d: %s", n, r.Error)
				}
			}
		}
	}
	return n, nil
}
