package kafkaclient

import (
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
const lz4BlockSize = lz4.Block64Kb

// lz4Options are the frame options of the lz4 batches we produce: blocks
// of lz4BlockSize, and no content checksum. A record batch already carries
// a CRC-32C over its records, which the broker and every consumer check;
// the frame's xxHash32 over the uncompressed bytes only added work at both
// ends (7 % of the indexer's CPU went to verifying it). librdkafka, and so
// Fluent Bit's out_kafka, writes none either; frames that have one still
// read as before.
var lz4Options = []lz4.Option{lz4.BlockSizeOption(lz4BlockSize), lz4.ChecksumOption(false)}

// lz4Codec is kafka-go's lz4 codec with lz4Options. Reading is kafka-go's
// own (any block size decodes, with or without a content checksum).
type lz4Codec struct {
	compress.Codec // kafka-go's lz4 codec: Code, Name, NewReader
}

var lz4Writers sync.Pool // *lz4.Writer with lz4BlockSize

func (lz4Codec) NewWriter(w io.Writer) io.WriteCloser {
	z, _ := lz4Writers.Get().(*lz4.Writer)
	if z == nil {
		z = lz4.NewWriter(w)
		// Only invalid options fail; these are constants.
		if err := z.Apply(lz4Options...); err != nil {
			panic(err)
		}
	} else {
		z.Reset(w)
	}
	return &lz4Writer{z}
}

type lz4Writer struct{ *lz4.Writer }

func (w *lz4Writer) Close() error {
	z := w.Writer
	if z == nil {
		return nil
	}
	w.Writer = nil
	err := z.Close()
	z.Reset(nil)
	lz4Writers.Put(z)
	return err
}

// kafka-go picks the codec of a Compression from its global table: every
// producer of this process (the plugin's instances, the shipper's) writes
// lz4 through lz4Codec.
func init() {
	compress.Codecs[compress.Lz4] = lz4Codec{&compress.Lz4Codec}
}
