package kafkaclient

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// This file encodes a partition's records as a Kafka record batch (magic
// 2) for a raw produce request: the bytes kafka-go's protocol.RecordSet
// writes for the same records, byte for byte (TestBatchMatchesKafkaGo),
// without its reflective encoder. kafka-go wrote each record in about
// twenty pieces through an io.Writer, the value through a bytes.Reader
// and io.Copy; here a record is five writes (its head, key, value length,
// value and headers) to the batch or the codec's writer.

// batchHeaderSize is the record batch's fixed header, after the 4-byte
// size of the record set: base offset (8), batch length (4), partition
// leader epoch (4), magic (1), CRC-32C (4), attributes (2), last offset
// delta (4), first and max timestamp (8+8), producer id (8), producer
// epoch (2), base sequence (4), record count (4).
const batchHeaderSize = 61

// Offsets in the batch, from the start of the base offset.
const (
	offBatchLength = 8
	offCRC         = 17
	offAttributes  = 21
	offLastDelta   = 23
	offFirstTime   = 27
	offMaxTime     = 35
	offCount       = 57
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batches are the record set buffers of requests in flight; a buffer goes
// back only after the request it was written for was answered.
var batches sync.Pool // *[]byte

// appender is an io.Writer appending to a byte slice: what a codec's
// writer writes the compressed records into.
type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// encodeBatch returns the record set of the messages at idx: its 4-byte
// size and one record batch, its records compressed with codec. now
// stamps the messages without a Time (kafka-go's rule).
func encodeBatch(dst []byte, codec compress.Compression, msgs []kafka.Message, idx []int32, now time.Time) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, 4+batchHeaderSize)...)
	b := dst[start+4:]
	binary.BigEndian.PutUint32(b[12:], ^uint32(0)) // partition leader epoch -1
	b[16] = 2                                      // magic
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(codec)&7)
	binary.BigEndian.PutUint64(b[43:], ^uint64(0)) // producer id -1
	binary.BigEndian.PutUint16(b[51:], ^uint16(0)) // producer epoch -1
	binary.BigEndian.PutUint32(b[53:], ^uint32(0)) // base sequence -1

	// The records go to the appender as they are, or through the codec's
	// writer (ours for lz4, lz4.go).
	out := &appender{b: dst}
	var w io.Writer = out
	var zw io.WriteCloser
	if codec != 0 {
		c := codec.Codec()
		if c == nil {
			return dst[:start], errUnknownCodec(codec)
		}
		zw = c.NewWriter(out)
		w = zw
	}

	nowMS := now.UnixMilli()
	var first, maxTS int64
	var head, vlen [32]byte
	var tail []byte
	var err error
records:
	for i, k := range idx {
		m := &msgs[k]
		ts := millis(m.Time)
		if ts == 0 {
			ts = nowMS
		}
		if i == 0 {
			first = ts
		}
		maxTS = max(maxTS, ts)
		delta := ts - first
		tail = binary.AppendVarint(tail[:0], int64(len(m.Headers)))
		for _, h := range m.Headers {
			tail = binary.AppendVarint(tail, int64(len(h.Key)))
			tail = append(tail, h.Key...)
			tail = appendVarBytesLen(tail, h.Value)
			tail = append(tail, h.Value...)
		}
		length := 1 + varintLen(delta) + varintLen(int64(i)) + varBytesLen(m.Key) + varBytesLen(m.Value) + len(tail)
		h := binary.AppendVarint(head[:0], int64(length))
		h = append(h, 0) // record attributes
		h = binary.AppendVarint(h, delta)
		h = binary.AppendVarint(h, int64(i))
		h = appendVarBytesLen(h, m.Key)
		for _, p := range [...][]byte{h, m.Key, appendVarBytesLen(vlen[:0], m.Value), m.Value, tail} {
			if _, err = w.Write(p); err != nil {
				break records
			}
		}
	}
	if zw != nil {
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return dst[:start], err
	}
	dst = out.b
	b = dst[start+4:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(b)))
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[offLastDelta:], uint32(len(idx)-1))
	binary.BigEndian.PutUint64(b[offFirstTime:], uint64(first))
	binary.BigEndian.PutUint64(b[offMaxTime:], uint64(maxTS))
	binary.BigEndian.PutUint32(b[offCount:], uint32(len(idx)))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return dst, nil
}

// millis is t in milliseconds since the epoch, 0 for the zero time.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano() / int64(time.Millisecond)
}

// appendVarBytesLen appends the length of a nullable byte string: -1 for
// nil.
func appendVarBytesLen(dst, p []byte) []byte {
	if p == nil {
		return binary.AppendVarint(dst, -1)
	}
	return binary.AppendVarint(dst, int64(len(p)))
}

// varBytesLen is the encoded size of a nullable byte string.
func varBytesLen(p []byte) int {
	if p == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(p))) + len(p)
}

// varintLen is the size of x as a zig-zag varint.
func varintLen(x int64) int {
	u := uint64(x<<1) ^ uint64(x>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

type errUnknownCodec compress.Compression

func (e errUnknownCodec) Error() string {
	return "kafka: no codec for compression " + compress.Compression(e).String()
}
