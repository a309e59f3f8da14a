package msgpack

import (
	"fmt"
	"io"
	"testing"
	"time"
	"unsafe"

	"github.com/agentobs/agentobs/collector/internal/flbchunk"
	"github.com/fluent/fluent-bit-go/output"
)

// benchChunk is 1000 container-log events of ~1 KiB, v2 format, as Fluent
// Bit's tail + kubernetes filter produce them.
func benchChunk() ([]byte, int) {
	b := flbchunk.New(flbchunk.V2)
	pad := make([]byte, 600)
	for i := range pad {
		pad[i] = 'a' + byte(i%26)
	}
	for i := range 1000 {
		b.Add(time.Unix(1700000000, int64(i)), map[string]any{
			"log":    fmt.Sprintf(`{"level":"info","msg":"step %d","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","pad":"%s"}`, i, pad),
			"stream": "stdout",
			"time":   "2023-11-14T22:13:20.123456789Z",
			"kubernetes": map[string]any{
				"pod_name": "agent-7d9f", "namespace_name": "agents", "container_name": "agent",
				"labels": map[string]any{"app": "agent", "tier": "ai"},
			},
		}, nil)
	}
	return b.Bytes(), b.Len()
}

func BenchmarkDecode(b *testing.B) {
	chunk, n := benchChunk()
	b.Run("agentobs", func(b *testing.B) {
		b.SetBytes(int64(len(chunk)))
		b.ReportAllocs()
		d := NewDecoder(nil, false)
		for b.Loop() {
			d.Reset(chunk, false)
			var ev Event
			for d.Next(&ev) != io.EOF {
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
	})
	b.Run("agentobs-alias", func(b *testing.B) {
		b.SetBytes(int64(len(chunk)))
		b.ReportAllocs()
		d := NewDecoder(nil, true)
		for b.Loop() {
			own := append([]byte(nil), chunk...) // the per-flush copy of Fluent Bit's buffer
			d.Reset(own, true)
			var ev Event
			for d.Next(&ev) != io.EOF {
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
	})
	b.Run("fluent-bit-go", func(b *testing.B) {
		b.SetBytes(int64(len(chunk)))
		b.ReportAllocs()
		for b.Loop() {
			dec := output.NewDecoder(unsafe.Pointer(&chunk[0]), len(chunk))
			for {
				ret, _, _ := output.GetRecord(dec)
				if ret != 0 {
					break
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
	})
}
