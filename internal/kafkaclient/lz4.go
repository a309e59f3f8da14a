package kafkaclient

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// lz4BlockSize is the frame block size of the lz4 batches we produce:
// 64 KiB, what librdkafka (LZ4F's default) writes. pierrec/lz4's default
// is 4 MiB, and kafka-go takes one such block buffer per partition batch it
// compresses at once: inside Fluent Bit (Workers 2, 6 partitions) those
// buffers were 16 MiB of the plugin's live heap and most of its allocated
// bytes, for no better ratio (lz4 matches reach back 64 KiB at most).
const lz4BlockSize = 64 << 10

// lz4FrameHeader starts every lz4 frame we write: the magic number
// 0x184D2204 (little-endian); FLG 0x60: version 01, blocks independent, no
// block checksums, no content size, no content checksum; BD 0x40: blocks
// of at most lz4BlockSize; 0x82, the descriptor's checksum (the second
// byte of xxHash32 over FLG and BD). A record batch already carries a
// CRC-32C over its records, which the broker and every consumer check; a
// content checksum, an xxHash32 over the uncompressed bytes, only added
// work at both ends (7 % of the indexer's CPU went to verifying it).
// librdkafka, and so Fluent Bit's out_kafka, writes none either.
var lz4FrameHeader = [...]byte{0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82}

// lz4Uncompressed marks a block stored as is, in its 4-byte size.
const lz4Uncompressed = 1 << 31

// lz4Codec is kafka-go's lz4 codec with our writer. Reading is kafka-go's
// own (any block size decodes, with or without a content checksum).
type lz4Codec struct {
	compress.Codec // kafka-go's lz4 codec: Code, Name, NewReader
}

var lz4Writers = sync.Pool{New: func() any {
	return &lz4Writer{block: make([]byte, 0, lz4BlockSize), out: make([]byte, 4+lz4.CompressBlockBound(lz4BlockSize))}
}}

func (lz4Codec) NewWriter(w io.Writer) io.WriteCloser {
	z := lz4Writers.Get().(*lz4Writer)
	z.w, z.started, z.err = w, false, nil
	return &lz4Frame{z}
}

// lz4Frame is one frame's hold on a pooled writer: a second Close must not
// return a writer to the pool that another frame took meanwhile.
type lz4Frame struct{ *lz4Writer }

func (f *lz4Frame) Write(p []byte) (int, error) {
	if f.lz4Writer == nil {
		return 0, errLZ4Closed
	}
	return f.lz4Writer.Write(p)
}

var errLZ4Closed = errors.New("lz4: write to a closed frame")

func (f *lz4Frame) Close() error {
	z := f.lz4Writer
	if z == nil {
		return nil
	}
	f.lz4Writer = nil
	err := z.finish()
	lz4Writers.Put(z)
	return err
}

// lz4Writer writes one lz4 frame of independent lz4BlockSize blocks. It
// replaces pierrec/lz4's Writer, which paid a deferred state check on every
// Write: kafka-go's encoder wrote each record in about twenty pieces
// (varints, key, value, each header's key and value), and that bookkeeping
// cost as much as a third of the compression itself. Here a Write appends
// to the block and a full block is compressed at once.
type lz4Writer struct {
	w       io.Writer
	block   []byte // the block being filled, cap lz4BlockSize
	out     []byte // a block's 4-byte size and its compressed bytes
	c       lz4.Compressor
	started bool // the frame header is written
	err     error
}

func (z *lz4Writer) Write(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	n := len(p)
	for len(p) > 0 {
		m := copy(z.block[len(z.block):cap(z.block)], p)
		z.block, p = z.block[:len(z.block)+m], p[m:]
		if len(z.block) == cap(z.block) {
			if err := z.flushBlock(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// flushBlock writes the frame header (first time) and the block.
func (z *lz4Writer) flushBlock() error {
	if !z.started {
		z.started = true
		if _, z.err = z.w.Write(lz4FrameHeader[:]); z.err != nil {
			return z.err
		}
	}
	if len(z.block) == 0 {
		return nil
	}
	// out holds CompressBlockBound bytes after the size, so compression
	// cannot run out of room; a block that did not shrink is stored as is.
	n, err := z.c.CompressBlock(z.block, z.out[4:])
	if err != nil || n == 0 || n >= len(z.block) {
		binary.LittleEndian.PutUint32(z.out, uint32(len(z.block))|lz4Uncompressed)
		if _, z.err = z.w.Write(z.out[:4]); z.err == nil {
			_, z.err = z.w.Write(z.block)
		}
	} else {
		binary.LittleEndian.PutUint32(z.out, uint32(n))
		_, z.err = z.w.Write(z.out[:4+n])
	}
	z.block = z.block[:0]
	return z.err
}

// finish writes the last block and the end mark.
func (z *lz4Writer) finish() error {
	err := z.err
	if err == nil {
		if err = z.flushBlock(); err == nil {
			var end [4]byte
			_, err = z.w.Write(end[:])
		}
	}
	z.w, z.block = nil, z.block[:0]
	return err
}

// kafka-go picks the codec of a Compression from its global table: every
// producer of this process (the plugin's instances, the shipper's) writes
// lz4 through lz4Codec.
func init() {
	compress.Codecs[compress.Lz4] = lz4Codec{&compress.Lz4Codec}
}
