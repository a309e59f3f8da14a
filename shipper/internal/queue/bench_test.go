package queue

import (
	"bytes"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/shipper/internal/lines"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
)

// BenchmarkBuilder is the work a file's goroutine does per line, which
// bounds one file's rate (R2 tails one): the bench's corpus lines (loadgen,
// seed 1, ~1 KiB) parsed, stamped and encoded into batches of 500, as the
// follower builds them, without Kafka.
func BenchmarkBuilder(b *testing.B) {
	cfg := loadgen.DefaultConfig()
	cfg.Records, cfg.RecordSize, cfg.Start = 1000, 1024, time.Unix(1700000000, 0)
	var corpus [][]byte
	if _, err := loadgen.Generate(cfg, func(line []byte) error {
		corpus = append(corpus, bytes.Clone(bytes.TrimSuffix(line, []byte("\n"))))
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	e, err := publish.New(publish.DefaultConfig(), "shipper", "shipper/bench", 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	fields := map[string]any{"host.name": "bench", record.FieldFilePath: "/var/log/agent.log", record.FieldSource: "/var/log/agent.log"}
	bl := NewBuilder(record.NewParser(record.ParseOptions{ReuseValues: true}), e, "bench|1:2|0", shippermetrics.InputFile, fields,
		shippermetrics.New(nil), 0)
	var pos int64
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		for _, l := range corpus {
			bl.Add(lines.Line{Data: l, Start: pos, End: pos + int64(len(l)) + 1}, pos)
			pos += int64(len(l)) + 1
			if bl.Len() == 500 {
				bt := bl.Take()
				bt.recycle()
			}
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*len(corpus)), "ns/line")
}
