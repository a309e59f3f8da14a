package kafkaclient

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go/compress"
)

// TestLZ4Codec: the codec kafka-go uses for lz4 writes frames of 64 KiB
// blocks (the frame descriptor's BD byte says 4) without a content checksum
// (the FLG byte's C.Checksum bit is clear), also with a writer taken back
// from the pool, and kafka-go's reader reads them back.
func TestLZ4Codec(t *testing.T) {
	codec := compress.Compression(compress.Lz4).Codec()
	in := []byte(strings.Repeat("agentobs record {\"trace.id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"} ", 5000))
	for i := range 2 {
		var buf bytes.Buffer
		w := codec.NewWriter(&buf)
		if _, err := w.Write(in); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		if len(b) < 6 || bd(b[5]) != 4 {
			t.Fatalf("writer %d: frame header % x: block size code %d, want 4 (64 KiB)", i, b[:min(6, len(b))], bd(b[5]))
		}
		if b[4]&flgContentChecksum != 0 {
			t.Fatalf("writer %d: frame header % x: content checksum flag set", i, b[:6])
		}
		r := codec.NewReader(bytes.NewReader(b))
		out, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("writer %d: round trip: %v, %d of %d bytes equal", i, err, len(out), len(in))
		}
	}
}

func bd(b byte) byte { return b >> 4 & 7 }

// flgContentChecksum is the C.Checksum bit of an lz4 frame's FLG byte.
const flgContentChecksum = 1 << 2
