package record

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// EventID returns the deterministic event.id of a record: the first 128 bits
// of sha256(len(source) || source || position || len(content) || content),
// lengths and position as 8-byte big-endian, written as 32 lowercase hex.
// Length prefixes keep ("ab","c") and ("a","bc") apart.
//
// The id must be the same for every re-send of one record and different for
// two different records (see PRODUCT.md, "event.id pitfalls"). Each front
// door therefore chooses the three inputs from what identifies the record at
// its source, never from when or how often it was sent:
//
// Collector (Fluent Bit plugin):
//   - source: the plugin instance name + "/" + the Fluent Bit tag. The
//     instance name must be configured per host (for example from the node
//     name) if two Fluent Bits could read the same tag, or their records
//     would collide.
//   - position: the Fluent Bit event timestamp in nanoseconds since the epoch.
//   - content: the raw msgpack bytes of the record followed by the 8-byte
//     big-endian occurrence index of this exact (timestamp, bytes) pair within
//     the chunk (0 for the first, 1 for the second identical record, ...).
//     Fluent Bit retries a chunk (FLB_RETRY) byte for byte, so the ids repeat;
//     two identical lines logged in the same nanosecond get different
//     occurrence indexes and survive. Do not use the record's position in the
//     chunk: chunks may be re-split on retry.
//
// Shipper, files:
//   - source: host name + "|" + device:inode + "|" + file generation. The host
//     keeps two hosts with the same path apart; device:inode (not the path)
//     follows a file through rename-rotation; the generation is a counter the
//     checkpoint increments whenever the file shrinks below the checkpointed
//     offset (copytruncate) or the inode is seen again with a different
//     fingerprint of its first bytes (inode reuse after rotation), so a
//     rewritten file never reuses the ids of its previous life.
//   - position: the byte offset of the line's first byte.
//   - content: nil. A re-read after a crash before the checkpoint yields the
//     same (file, offset) and therefore the same id.
//
// Shipper, HTTP NDJSON:
//   - source: "http|" + the client's Idempotency-Key header; position: the
//     index of the line in the request body; content: nil. A retried POST
//     with the same key and body maps onto the same ids.
//   - Without an idempotency key there is nothing stable to derive from: the
//     shipper must generate a random source per request, so a client retry
//     after a lost response produces duplicates. Clients that need exactly
//     once must send the key (or an event.id per record, which Parse honours).
//
// Shipper, stdin: source host + "|stdin|" + a random id per process start,
// position: byte offset; stdin cannot be re-read, so per-run uniqueness is
// all that is needed.
//
// A record that already carries an event.id (Record.EventID set by Parse)
// keeps it: the upstream producer knows its identity better than we do.
func EventID(source string, position uint64, content []byte) string {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(source)))
	h.Write(n[:])
	h.Write([]byte(source))
	binary.BigEndian.PutUint64(n[:], position)
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(len(content)))
	h.Write(n[:])
	h.Write(content)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
