package suite

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/bulk"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
)

// BenchmarkBulkBody measures building one _bulk request body of 2000 ~1 KiB
// documents (the indexer's default batch) with bulk.AppendAction, reusing
// the buffer as the writer does. The record core and msgpack decoding have
// their own: internal/record BenchmarkParseEncode, collector/internal/msgpack
// BenchmarkDecode.
//
//	go test ./bench/internal/suite -run '^$' -bench BulkBody
func BenchmarkBulkBody(b *testing.B) {
	const n = 2000
	items := make([]*bulk.Item, n)
	size := 0
	for i := range items {
		r := &record.Record{Timestamp: time.Unix(1700000000, int64(i)).UTC(), Level: record.LevelInfo, Service: "agent-planner",
			TraceID: fmt.Sprintf("%032x", i/20+1), SpanID: fmt.Sprintf("%016x", i+1), EventID: publish.EventID("bench", uint64(i), nil),
			Message: "tool call finished", Fields: map[string]any{"tool.output": strings.Repeat("y", 700)}}
		items[i] = &bulk.Item{Index: "agentobs-logs-2023.11.14", ID: r.EventID, Op: bulk.OpCreate, Source: r.AppendJSON(nil)}
		size += len(items[i].Source)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = buf[:0]
		for _, it := range items {
			buf = bulk.AppendAction(buf, it)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "docs/s")
}
