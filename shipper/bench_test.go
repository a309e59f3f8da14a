package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/test/harness"
)

// BenchmarkFileToKafka measures file → Kafka acknowledgement for 1 KiB
// JSON lines: b.N lines are written first, then the shipper (in-process)
// tails them until Kafka acknowledged all. Reports lines/s, MB/s (SetBytes)
// and the process's peak RSS (VmHWM, includes the test binary).
//
//	go test ./shipper -run '^$' -bench FileToKafka -benchtime 200000x
func BenchmarkFileToKafka(b *testing.B) {
	brokers := harness.RequireKafka(b).Brokers
	topic := harness.Topic(b, 6)
	dir := b.TempDir()
	path := filepath.Join(dir, "bench.log")
	cfg := loadgen.DefaultConfig()
	cfg.Records, cfg.RecordSize = int64(b.N), 1024
	rep, err := loadgen.RunFile(b.Context(), cfg, path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(rep.Bytes / int64(b.N))
	scfg := testConfig(b, brokers, topic, path)
	b.ResetTimer()
	start := time.Now()
	_, reg, stop := startApp(b, scfg)
	for value(b, reg, "agentobs_shipper_records_produced_total", "outcome", "ok") < float64(b.N) {
		time.Sleep(5 * time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	stop()
	b.ReportMetric(float64(b.N)/el.Seconds(), "lines/s")
	b.ReportMetric(float64(rep.Bytes)/el.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(vmHWM()), "peak-RSS-KiB")
}

func vmHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
