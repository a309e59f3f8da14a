package kafkaclient

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// TestLZ4Codec: the codec kafka-go uses for lz4 writes frames whose
// header is the one pierrec/lz4's Writer writes for 64 KiB blocks without
// a content checksum (so the descriptor's checksum byte is right), and
// both kafka-go's reader and pierrec/lz4's read them back: empty, one
// byte, a block exactly, a block and a byte, incompressible bytes (stored
// blocks), many small writes (as kafka-go writes a record), also with
// writers taken back from the pool.
func TestLZ4Codec(t *testing.T) {
	var ref bytes.Buffer
	zw := lz4.NewWriter(&ref)
	if err := zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false)); err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if got := ref.Bytes()[:len(lz4FrameHeader)]; !bytes.Equal(got, lz4FrameHeader[:]) {
		t.Fatalf("pierrec/lz4 writes the header % x, we write % x", got, lz4FrameHeader)
	}
	random := make([]byte, 200<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	text := []byte(strings.Repeat("agentobs record {\"trace.id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"} ", 5000))
	cases := []struct {
		name   string
		in     []byte
		pieces int // writes of this size (0: one write)
	}{
		{"empty", nil, 0},
		{"one byte", []byte("x"), 0},
		{"one block", text[:lz4BlockSize], 0},
		{"a block and a byte", text[:lz4BlockSize+1], 0},
		{"text", text, 0},
		{"incompressible", random, 0},
		{"small writes", text, 7},
		{"mixed", append(append([]byte(nil), random[:70<<10]...), text...), 1000},
	}
	codec := compress.Compression(compress.Lz4).Codec()
	for round := range 2 {
		for _, tc := range cases {
			var buf bytes.Buffer
			w := codec.NewWriter(&buf)
			for p := tc.in; len(p) > 0; {
				n := len(p)
				if tc.pieces > 0 {
					n = min(n, tc.pieces)
				}
				if k, err := w.Write(p[:n]); err != nil || k != n {
					t.Fatalf("%s: write: %d, %v", tc.name, k, err)
				}
				p = p[n:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("%s: second close: %v", tc.name, err)
			}
			if _, err := w.Write([]byte("late")); err == nil {
				t.Fatalf("%s: a write after close succeeded", tc.name)
			}
			b := buf.Bytes()
			if !bytes.HasPrefix(b, lz4FrameHeader[:]) {
				t.Fatalf("%s: frame starts % x", tc.name, b[:min(len(b), 8)])
			}
			r := codec.NewReader(bytes.NewReader(b))
			out, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(out, tc.in) {
				t.Fatalf("round %d, %s: kafka-go's reader: %v, %d bytes, want %d", round, tc.name, err, len(out), len(tc.in))
			}
			out, err = io.ReadAll(lz4.NewReader(bytes.NewReader(b)))
			if err != nil || !bytes.Equal(out, tc.in) {
				t.Fatalf("round %d, %s: pierrec/lz4's reader: %v, %d bytes, want %d", round, tc.name, err, len(out), len(tc.in))
			}
			if tc.name == "text" && len(b) > len(tc.in)/4 {
				t.Fatalf("text: %d bytes compressed to %d: not compressed", len(tc.in), len(b))
			}
		}
	}
}

// BenchmarkLZ4Record writes 1 KiB records the way kafka-go's encoder did, in about
// twenty pieces each, through the codec.
func BenchmarkLZ4Record(b *testing.B) {
	value := []byte(strings.Repeat("lorem ipsum dolor sit amet ", 38))
	header := []byte("4bf92f3577b34da6a3ce929d0e0e4736")
	codec := compress.Compression(compress.Lz4).Codec()
	var buf bytes.Buffer
	b.SetBytes(100 * int64(len(value)+6*len(header)+14))
	for b.Loop() {
		buf.Reset()
		w := codec.NewWriter(&buf)
		for range 100 {
			for range 8 {
				_, _ = w.Write([]byte{1})
			}
			_, _ = w.Write(value)
			for range 6 {
				_, _ = w.Write([]byte{2})
				_, _ = w.Write(header)
			}
		}
		_ = w.Close()
	}
}
