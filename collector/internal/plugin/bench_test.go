package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/agentobs/agentobs/collector/collectormetrics"
	"github.com/agentobs/agentobs/collector/internal/flbchunk"
	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/test/harness"
)

// benchChunk is n agent log events of about 1 KiB each (v2 format, a JSON
// line in "log" as the tail input with the CRI/docker parser leaves it),
// each with its own trace.
func benchChunk(n int, base time.Time) []byte {
	b := flbchunk.New(flbchunk.V2)
	pad := strings.Repeat("lorem ipsum dolor sit amet ", 30)[:760]
	for i := range n {
		b.Add(base.Add(time.Duration(i)), map[string]any{
			"log": fmt.Sprintf(`{"time":"2025-03-01T12:00:00.%09dZ","level":"info","msg":"tool call %d done","service":"planner","trace_id":"%032x","span_id":"%016x","gen_ai.operation.name":"chat","detail":"%s"}`,
				i, i, i+1, i+1, pad),
			"stream":     "stdout",
			"kubernetes": map[string]any{"pod_name": "planner-7d9f", "namespace_name": "agents", "container_name": "planner"},
		}, nil)
	}
	return b.Bytes()
}

type nopSender struct{}

func (nopSender) Send(context.Context, []kafka.Message) error { return nil }
func (nopSender) Close() error                                { return nil }

// parsedChunk is n agent events as Fluent Bit's tail input with the json
// parser hands them over (R3's shape): the line's keys at the top level.
func parsedChunk(n int, base time.Time) []byte {
	b := flbchunk.New(flbchunk.V2)
	pad := strings.Repeat("lorem ipsum dolor sit amet ", 30)[:760]
	for i := range n {
		b.Add(base.Add(time.Duration(i)), map[string]any{
			"time": fmt.Sprintf("2025-03-01T12:00:00.%09dZ", i), "level": "info", "msg": fmt.Sprintf("tool call %d done", i),
			"service": "planner", "trace_id": fmt.Sprintf("%032x", i+1), "span_id": fmt.Sprintf("%016x", i+1),
			"gen_ai.operation.name": "chat", "seq": i, "detail": pad,
		}, nil)
	}
	return b.Bytes()
}

// agentChunk is n lines of the bench's corpus (internal/loadgen, seed 1,
// about 1 KiB) as Fluent Bit's tail input with the json parser hands them
// over: integers and floats as MessagePack numbers, levels in capitals, the
// padding as prose. The synthetic chunks above have neither floats nor
// capitals, each of which once cost the plugin an allocation per record.
func agentChunk(b *testing.B, n int) []byte {
	cfg := loadgen.DefaultConfig()
	cfg.Records, cfg.RecordSize, cfg.Start = int64(n), 1024, time.Unix(1700000000, 0)
	c := flbchunk.New(flbchunk.V2)
	i := 0
	_, err := loadgen.Generate(cfg, func(line []byte) error {
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			if num, ok := v.(json.Number); ok {
				if x, err := num.Int64(); err == nil {
					m[k] = x
				} else if f, err := num.Float64(); err == nil {
					m[k] = f
				}
			}
		}
		c.Add(cfg.Start.Add(time.Duration(i)), m, nil)
		i++
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return c.Bytes()
}

// BenchmarkFlushNoBroker measures decode → record → edge (policy, event.id,
// JSON, Kafka message) for a 1000-record chunk, without the broker: shape
// docker (a JSON line in "log"), parsed (tail + json parser, as in R3) and
// agent (R3's corpus lines so parsed).
func BenchmarkFlushNoBroker(b *testing.B) {
	const n = 1000
	for _, tc := range []struct {
		name, redact string
		chunk        []byte
	}{
		{"docker/redact=on", "on", benchChunk(n, time.Unix(1700000000, 0))},
		{"docker/redact=off", "off", benchChunk(n, time.Unix(1700000000, 0))},
		{"parsed/redact=on", "on", parsedChunk(n, time.Unix(1700000000, 0))},
		{"agent/redact=on", "on", agentChunk(b, n)},
	} {
		c, redact := tc.chunk, tc.redact
		b.Run(tc.name, func(b *testing.B) {
			o := newTestOutput(b, nopSender{}, MapConfig{"Redact": redact})
			b.SetBytes(int64(len(c)))
			b.ReportAllocs()
			for b.Loop() {
				if rc := o.Flush(context.Background(), c, "kube.agents"); rc != FLBOK {
					b.Fatal(rc)
				}
			}
			report(b, n, len(c))
		})
	}
}

func report(b *testing.B, perOp, bytesPerOp int) {
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*perOp)/sec, "records/s")
	b.ReportMetric(float64(b.N*bytesPerOp)/sec/1e6, "MB/s-in")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perOp), "ns/record")
}

// BenchmarkFlushKafka flushes 1000-record chunks of ~1 KiB records to the
// local stack's Kafka (acks=all, lz4), serially and from 4 concurrent
// flushes (Fluent Bit "workers 4"). MB/s counts encoded record bytes
// acknowledged by Kafka.
func BenchmarkFlushKafka(b *testing.B) {
	harness.RequireKafka(b)
	topic := harness.Topic(b, 6)
	const n = 1000
	for _, workers := range []int{1, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			cfg, err := ParseConfig(MapConfig{"Brokers": strings.Join(harness.Brokers(), ","), "Topic": topic, "Source": "bench"}, 0)
			if err != nil {
				b.Fatal(err)
			}
			m := collectormetrics.New(nil, cfg.Edge.Policy.ContentFields)
			o, err := New(cfg, Settings{Metrics: m})
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close(context.Background())
			chunks := make([][]byte, 8)
			for i := range chunks {
				chunks[i] = benchChunk(n, time.Unix(1700000000+int64(i), 0))
			}
			b.SetBytes(int64(len(chunks[0])))
			b.ResetTimer()
			start := time.Now()
			if workers == 1 {
				i := 0
				for b.Loop() {
					if rc := o.Flush(context.Background(), chunks[i%len(chunks)], "bench"); rc != FLBOK {
						b.Fatal(rc)
					}
					i++
				}
			} else {
				b.SetParallelism(workers / 2)
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						if rc := o.Flush(context.Background(), chunks[i%len(chunks)], "bench"); rc != FLBOK {
							b.Error(rc)
							return
						}
						i++
					}
				})
			}
			elapsed := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N*n)/elapsed, "records/s")
			b.ReportMetric(counterValue(m.Producer.Bytes)/elapsed/1e6, "MB/s-acked")
		})
	}
}
