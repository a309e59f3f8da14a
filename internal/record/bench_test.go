package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Benchmark inputs: a ~1 KiB slog line from an agent (the common case), a
// 256 B line, and a Docker json-file line wrapping a JSON payload.
var benchLines = func() map[string][]byte {
	slog := `{"time":"2026-11-26T10:00:00.123456789Z","level":"INFO","msg":"tool call finished","service":"planner",` +
		`"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","session.id":"sess-42",` +
		`"gen_ai.operation.name":"execute_tool","gen_ai.tool.name":"web_search","gen_ai.request.model":"gpt-4o",` +
		`"gen_ai.usage.input_tokens":1234,"gen_ai.usage.output_tokens":567,"duration_ms":412.5,"attempt":1,"ok":true,` +
		`"source":{"function":"github.com/agentobs/agentobs/agent.(*Loop).act","file":"/src/agent/loop.go","line":142},` +
		`"tool.input":"{\"query\":\"kafka exactly once semantics\",\"max_results\":5}",` +
		`"result_preview":"` + strings.Repeat("Kafka provides idempotent producers and transactions. ", 8) + `"}`
	short := `{"time":"2026-11-26T10:00:00.5Z","level":"WARN","msg":"model latency high","service":"planner",` +
		`"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","latency_ms":8123.5,"model":"gpt-4o","retry":2}`
	payload, _ := json.Marshal(map[string]any{
		"log":    short[:len(short)-1] + `,"pod":"planner-7d9f"}` + "\n",
		"stream": "stdout", "time": "2026-11-26T10:00:00.500123456Z",
	})
	return map[string][]byte{"slog1k": []byte(slog), "line256": []byte(short), "docker": payload}
}()

var benchOrder = []string{"slog1k", "line256", "docker"}

// BenchmarkParseEncode measures the hot path of every front door: one line
// in, one encoded record out, reusing the Record and output buffer.
func BenchmarkParseEncode(b *testing.B) {
	for _, name := range benchOrder {
		line := benchLines[name]
		b.Run(name, func(b *testing.B) {
			p := NewParser(ParseOptions{})
			var rec Record
			var out []byte
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				p.Parse(line, &rec)
				out = rec.AppendJSON(out[:0])
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N), "ns/record")
			if !json.Valid(out) {
				b.Fatal("invalid output")
			}
		})
	}
}

// BenchmarkStdlibMapRoundTrip is the reference: encoding/json decode (with
// UseNumber, to keep big ints) into map[string]any and encode back, without
// any of the normalisation Parse does. For "docker" that decodes only the
// wrapper (the payload stays one string), which is less work than Parse
// does; "docker_inner" also decodes the payload and merges it, as Parse does.
func BenchmarkStdlibMapRoundTrip(b *testing.B) {
	for _, name := range append(benchOrder, "docker_inner") {
		line := benchLines[name]
		if name == "docker_inner" {
			line = benchLines["docker"]
		}
		b.Run(name, func(b *testing.B) {
			var out bytes.Buffer
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				var m map[string]any
				d := json.NewDecoder(bytes.NewReader(line))
				d.UseNumber()
				if err := d.Decode(&m); err != nil {
					b.Fatal(err)
				}
				if name == "docker_inner" {
					var inner map[string]any
					d := json.NewDecoder(strings.NewReader(m["log"].(string)))
					d.UseNumber()
					if err := d.Decode(&inner); err != nil {
						b.Fatal(err)
					}
					delete(m, "log")
					for k, v := range inner {
						m[k] = v
					}
				}
				out.Reset()
				if err := json.NewEncoder(&out).Encode(m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N), "ns/record")
		})
	}
}

func BenchmarkPeek(b *testing.B) {
	p := NewParser(ParseOptions{})
	var rec Record
	p.Parse(benchLines["slog1k"], &rec)
	rec.EventID = "c688861b3ff9a125c9544b13c57a57d6"
	doc := rec.AppendJSON(nil)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Peek(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPolicyApply(b *testing.B) {
	pol, err := NewPolicy(DefaultPolicyConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	p := NewParser(ParseOptions{})
	var rec Record
	line := benchLines["slog1k"]
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		p.Parse(line, &rec)
		pol.Apply(&rec)
	}
}

// BenchmarkAfterWideRecord parses and encodes the 1 KiB slog line with a
// reused Record, as every front door does, after one record of 2 000
// top-level fields went through the same Record: the cost of the lines
// after it should be BenchmarkParseEncode/slog1k's.
func BenchmarkAfterWideRecord(b *testing.B) {
	wide := []byte(wideLine(2000))
	line := benchLines["slog1k"]
	p := NewParser(ParseOptions{})
	var rec Record
	p.Parse(wide, &rec)
	var out []byte
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		p.Parse(line, &rec)
		out = rec.AppendJSON(out[:0])
	}
}

// wideLine is a JSON line with n top-level fields.
func wideLine(n int) string {
	var sb strings.Builder
	sb.WriteString(`{"msg":"wide"`)
	for i := range n {
		fmt.Fprintf(&sb, `,"f%d":%d`, i, i)
	}
	sb.WriteString("}")
	return sb.String()
}

// BenchmarkEncoder measures encoding alone, through an Encoder that
// remembers the key order (as the plugin and the shipper encode): one
// parsed record of each benchmark line, encoded again and again.
func BenchmarkEncoder(b *testing.B) {
	for _, name := range benchOrder {
		b.Run(name, func(b *testing.B) {
			var rec Record
			NewParser(ParseOptions{}).Parse(benchLines[name], &rec)
			var e Encoder
			out := e.AppendJSON(nil, &rec)
			b.SetBytes(int64(len(out)))
			for b.Loop() {
				out = e.AppendJSON(out[:0], &rec)
			}
		})
	}
}
