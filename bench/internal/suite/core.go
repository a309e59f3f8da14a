package suite

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/agentobs/agentobs/internal/record"
)

// corpusLines reads up to n lines of the corpus into memory.
func corpusLines(c *Corpus, n int) ([][]byte, int64, error) {
	f, err := os.Open(c.Path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var lines [][]byte
	var total int64
	for len(lines) < n && sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
		total += int64(len(sc.Bytes()))
	}
	return lines, total, sc.Err()
}

// ParseEncode is the record core's hot path on lines: Parse + AppendJSON,
// reusing the Record and the output buffer (as the shipper does per line).
func ParseEncode(lines [][]byte) func(b *testing.B) {
	return func(b *testing.B) {
		p := record.NewParser(record.ParseOptions{})
		var rec record.Record
		var out []byte
		i := 0
		for b.Loop() {
			p.Parse(lines[i], &rec)
			out = rec.AppendJSON(out[:0])
			if i++; i == len(lines) {
				i = 0
			}
		}
	}
}

// StdlibRoundTrip is R4's reference: encoding/json decode (UseNumber, to
// keep big integers) into map[string]any and encode back, as
// BenchmarkStdlibMapRoundTrip in internal/record does.
func StdlibRoundTrip(lines [][]byte) func(b *testing.B) {
	return func(b *testing.B) {
		var out bytes.Buffer
		i := 0
		for b.Loop() {
			var m map[string]any
			d := json.NewDecoder(bytes.NewReader(lines[i]))
			d.UseNumber()
			if err := d.Decode(&m); err != nil {
				b.Fatal(err)
			}
			out.Reset()
			if err := json.NewEncoder(&out).Encode(m); err != nil {
				b.Fatal(err)
			}
			if i++; i == len(lines) {
				i = 0
			}
		}
	}
}

// mbps runs fn as a Go benchmark and returns input MB/s.
func mbps(fn func(*testing.B), avgLine float64) float64 {
	r := testing.Benchmark(fn)
	if r.N == 0 || r.T <= 0 {
		return 0
	}
	return float64(r.N) * avgLine / r.T.Seconds() / 1e6
}
