package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/record"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func collect(t *testing.T, cfg Config) ([][]byte, Report) {
	t.Helper()
	var lines [][]byte
	r, err := Generate(cfg, func(l []byte) error {
		lines = append(lines, bytes.Clone(l))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines, r
}

// TestLinesParseAndReportCounts checks every line against the record core
// of the pipeline, and the Report against the lines: what a far-end test
// relies on.
func TestLinesParseAndReportCounts(t *testing.T) {
	cfg := Config{Records: 5000, Start: t0, ErrorRate: 0.1, NoTraceRate: 0.05, TrackTraces: true, TraceIDSample: 1 << 20}
	lines, rep := collect(t, cfg)
	p := record.NewParser(record.ParseOptions{})
	var bytesN, errs, noTrace int64
	traces := map[string]int64{}
	services := map[string]map[string]bool{} // trace → services
	perService := map[string]int64{}
	lastTime := map[string]time.Time{}
	seen := map[float64]bool{}
	for i, l := range lines {
		bytesN += int64(len(l))
		if l[len(l)-1] != '\n' || bytes.Count(l, []byte("\n")) != 1 {
			t.Fatalf("line %d is not one newline-terminated line: %q", i, l)
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i, err, l)
		}
		seq := m["seq"].(float64)
		if seen[seq] || seq != float64(i+1) {
			t.Fatalf("line %d has seq %v", i, seq)
		}
		seen[seq] = true
		var rec record.Record
		p.Parse(l, &rec)
		if rec.Service == "" || rec.Message == "" || rec.Timestamp.IsZero() || rec.Level == record.LevelUnknown {
			t.Fatalf("line %d parsed incompletely: %+v", i, rec)
		}
		perService[rec.Service]++
		if rec.Level == record.LevelError {
			errs++
		}
		if m["trace_id"] == nil {
			noTrace++
			if rec.TraceID != "" {
				t.Fatalf("untraced line %d got trace %s", i, rec.TraceID)
			}
			continue
		}
		if rec.TraceID != m["trace_id"] || rec.SpanID != m["span_id"] || len(rec.TraceID) != 32 || len(rec.SpanID) != 16 {
			t.Fatalf("line %d: parsed trace %q span %q from %s", i, rec.TraceID, rec.SpanID, l)
		}
		traces[rec.TraceID]++
		if services[rec.TraceID] == nil {
			services[rec.TraceID] = map[string]bool{}
		}
		services[rec.TraceID][rec.Service] = true
		if rec.Timestamp.Before(lastTime[rec.TraceID]) {
			t.Fatalf("line %d goes back in time within trace %s", i, rec.TraceID)
		}
		lastTime[rec.TraceID] = rec.Timestamp
	}
	if rep.Records != int64(len(lines)) || rep.Bytes != bytesN || rep.ErrorRecords != errs ||
		rep.NoTraceRecords != noTrace || rep.Traces != int64(len(traces)) || rep.LastSeq != int64(len(lines)) {
		t.Fatalf("report %+v does not match the lines: bytes %d errors %d no-trace %d traces %d",
			rep, bytesN, errs, noTrace, len(traces))
	}
	for id, n := range traces {
		if rep.TraceRecords[id] != n {
			t.Fatalf("trace %s: report %d, lines %d", id, rep.TraceRecords[id], n)
		}
	}
	for s, n := range perService {
		if rep.PerService[s] != n {
			t.Fatalf("service %s: report %d, lines %d", s, rep.PerService[s], n)
		}
	}
	if len(rep.TraceIDs) != len(traces) {
		t.Fatalf("trace id sample has %d of %d", len(rep.TraceIDs), len(traces))
	}
	multi := 0
	for _, s := range services {
		if len(s) > 1 {
			multi++
		}
	}
	// Delegation probability is 0.7: most traces span several services.
	if multi < len(traces)/2 {
		t.Fatalf("only %d of %d traces span several services", multi, len(traces))
	}
	if errs == 0 || noTrace == 0 || noTrace > 500 {
		t.Fatalf("mix: %d errors, %d untraced lines", errs, noTrace)
	}
}

func TestSameSeedSameBytes(t *testing.T) {
	a, _ := collect(t, Config{Records: 2000, Seed: 9, Start: t0, RecordSize: 512})
	b, _ := collect(t, Config{Records: 2000, Seed: 9, Start: t0, RecordSize: 512})
	c, _ := collect(t, Config{Records: 2000, Seed: 10, Start: t0, RecordSize: 512})
	if !bytes.Equal(bytes.Join(a, nil), bytes.Join(b, nil)) {
		t.Fatal("the same seed produced different output")
	}
	if bytes.Equal(bytes.Join(a, nil), bytes.Join(c, nil)) {
		t.Fatal("different seeds produced the same output")
	}
}

func TestRecordSize(t *testing.T) {
	for _, size := range []int{256, 1024, 4096} {
		lines, rep := collect(t, Config{Records: 1000, RecordSize: size, Start: t0})
		var exact int
		for _, l := range lines {
			if len(l) == size {
				exact++
			} else if len(l) < size {
				t.Fatalf("size %d: line of %d bytes was not padded: %s", size, len(l), l)
			}
		}
		// Lines shorter than the target are padded to it exactly; lines
		// that are naturally longer (most at 256) are left as they are.
		if avg := rep.Bytes / rep.Records; size >= 1024 && (exact < 900 || avg > int64(size)+64) {
			t.Fatalf("size %d: average line %d bytes (%d exact)", size, avg, exact)
		}
	}
}

func TestRunRateAndRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.log")
	cfg := Config{Records: 3000, Rate: 50000, RecordSize: 300, RotateBytes: 200 << 10, Start: t0}
	rep, err := RunFile(context.Background(), cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 3000 || len(rep.Files) < 4 {
		t.Fatalf("report %d records in files %v", rep.Records, rep.Files)
	}
	var n, size int64
	for _, f := range rep.Files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > cfg.RotateBytes {
			t.Fatalf("%s has %d bytes, over the rotation size", f, st.Size())
		}
		size += st.Size()
		fh, _ := os.Open(f)
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if !json.Valid(sc.Bytes()) {
				t.Fatalf("%s: broken line %q", f, sc.Text())
			}
			n++
		}
		fh.Close()
	}
	if n != rep.Records || size != rep.Bytes {
		t.Fatalf("files hold %d lines / %d bytes, report says %d / %d", n, size, rep.Records, rep.Bytes)
	}
}

func TestRunStopsOnContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	rep, err := Run(ctx, Config{Rate: 1000}, &buf)
	if err != nil || rep.Records != 0 || buf.Len() != 0 {
		t.Fatalf("cancelled run wrote %d records (%v)", rep.Records, err)
	}
}

func TestValidate(t *testing.T) {
	err := Config{Rate: -1, ErrorRate: 2, Services: []string{`a"b`}}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	if _, err := Generate(Config{}, func([]byte) error { return nil }); err == nil {
		t.Fatal("Generate without Records succeeded")
	}
}

// BenchmarkGenerate measures the generator alone at the default size and
// at the sizes the pipeline benchmarks use: records/s, bytes/s, allocations.
func BenchmarkGenerate(b *testing.B) {
	for _, size := range []int{0, 256, 1024, 4096} {
		b.Run("size="+itoa(size), func(b *testing.B) {
			g, err := NewGenerator(Config{Start: t0, RecordSize: size})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var n int64
			for b.Loop() {
				n += int64(len(g.Next().Data))
			}
			b.SetBytes(n / int64(b.N))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkRun10k runs the rate-limited writer at 10 000 records/s for
// 10 000 records (one second) into io.Discard: it shows that the pacing
// holds the target rate and what it costs.
func BenchmarkRun10k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		rep, err := Run(context.Background(), Config{Start: t0, Rate: 10000, Records: 10000, RecordSize: 512}, discard{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rep.RecordsPerSecond, "records/s")
		b.ReportMetric(rep.BytesPerSecond, "bytes/s")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func itoa(i int) string { return string(appendInt(nil, int64(i))) }

// TestGenerateFile: the corpus file holds exactly the lines Generate hands
// out, and the report counts them.
func TestGenerateFile(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Seed, cfg.Records, cfg.Start = 7, 500, t0
	path := filepath.Join(t.TempDir(), "corpus.log")
	rep, err := GenerateFile(cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if _, err := Generate(cfg, func(line []byte) error { want.Write(line); return nil }); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) || rep.Records != 500 || rep.Bytes != int64(len(got)) || bytes.Count(got, []byte("\n")) != 500 {
		t.Errorf("corpus of %d bytes (%d lines), report %d records %d bytes; want the %d bytes of Generate",
			len(got), bytes.Count(got, []byte("\n")), rep.Records, rep.Bytes, want.Len())
	}
	if _, err := GenerateFile(cfg, filepath.Join(t.TempDir(), "missing", "corpus.log")); err == nil {
		t.Error("a corpus in a missing directory must fail")
	}
}
