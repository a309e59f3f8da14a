package publish

// Event identity: how every front door mints event.id, in one place.
//
// event.id makes the pipeline exactly-once at the index: it is the
// Elasticsearch _id, so a record re-sent anywhere (producer retry, Fluent
// Bit FLB_RETRY, consumer replay) overwrites itself instead of duplicating.
// The id must therefore be the same for every re-send of one record and
// different for two different records. EventID(source, position, content)
// hashes what identifies a record at its origin, never when or how often it
// was sent. Each front door chooses:
//
// Collector (Fluent Bit plugin):
//   - source: the plugin instance name + "/" + the Fluent Bit tag. The
//     instance name must differ per host (default: the node name) or two
//     Fluent Bits reading the same tag would collide.
//   - position: the Fluent Bit event timestamp in nanoseconds since the epoch.
//   - content: the raw msgpack bytes of the record followed by the 8-byte
//     big-endian occurrence index of this exact (timestamp, bytes) pair in
//     the chunk (0 for the first, 1 for the next identical one, ...).
//     A retried chunk arrives byte for byte, so the ids repeat; identical
//     lines written in the same nanosecond get different occurrence indexes
//     and both survive. The record's index in the chunk is not used, since
//     it is not stable if chunks are re-split.
//
// Shipper, files:
//   - source: host name + "|" + device:inode + "|" + file generation. The host
//     keeps two hosts with the same path apart; device:inode (not the path)
//     follows a file through rename-rotation; the generation is a counter the
//     checkpoint increments when the file shrinks below the checkpointed
//     offset (copytruncate) or an inode comes back with a different
//     fingerprint of its first bytes (inode reuse after rotation), so a
//     rewritten file never reuses the ids of its previous life.
//   - position: the byte offset of the line's first byte.
//   - content: nil. A re-read after a crash before the checkpoint yields the
//     same (file, offset) and so the same id.
//
// Shipper, HTTP NDJSON:
//   - source: "http|key:" + the client's Idempotency-Key; position: the index of
//     the line in the request body; content: nil. A retried POST with the
//     same key and body maps onto the same ids.
//   - Without a key nothing stable identifies the request: the shipper uses
//     a random source per request ("http|random:" + 128 random bits), so a client that retries after a lost
//     response creates duplicates. Clients that need exactly-once send the
//     key, or an event.id in each record.
//
// Shipper, OTLP (OTLPIDs, SpanEventID):
//   - log records: source "otlp"; position 0; content: the deterministic
//     protobuf encoding of the resource, the scope and the log record, each
//     length-prefixed, + the 8-byte occurrence index of that exact content
//     within one export request. An SDK that retries an export sends the
//     same bytes, so the ids repeat; two identical records in one request
//     get different occurrence indexes and both survive. Two identical
//     records sent in two different requests collapse into one (nothing in
//     OTLP tells them apart).
//   - spans: trace id + span id (48 hex), the identity OTel gives a span.
//
// Shipper, stdin: source host + "|stdin|" + a random id per process start,
// position the byte offset; stdin cannot be re-read, so uniqueness per run
// is all that is needed.
//
// A record that already carries an event.id (any non-empty string up to 128
// bytes, kept in Record.EventID by Parse) keeps it: the upstream producer
// knows its identity better than we do. Front doors stamp only when
// Record.EventID is empty.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
	"unsafe"

	"google.golang.org/protobuf/proto"
)

// EventID returns the deterministic event.id of a record: the first 128 bits
// of sha256(len(source) || source || position || len(content) || content),
// lengths and position as 8-byte big-endian, written as 32 lowercase hex.
// Length prefixes keep ("ab","c") and ("a","bc") apart. How each front door
// chooses source, position and content is described above; the scheme must
// never change silently, or records replayed across an upgrade would be
// duplicated (TestEventIDPinned and the front doors' pin tests hold it).
func EventID(source string, position uint64, content []byte) string {
	var buf []byte
	sum := eventSum(&buf, source, position, content, nil)
	return hex.EncodeToString(sum[:])
}

// FileSource is the event.id source of one generation of a tailed file.
func FileSource(host string, dev, inode, generation uint64) string {
	return host + "|" + strconv.FormatUint(dev, 10) + ":" + strconv.FormatUint(inode, 10) + "|" + strconv.FormatUint(generation, 10)
}

// StdinSource is the event.id source of standard input for one process
// start (epoch: random per start).
func StdinSource(host, epoch string) string { return host + "|stdin|" + epoch }

// HTTPSource is the event.id source of one HTTP request: the client's
// Idempotency-Key, or a random source when it sent none (see above).
func HTTPSource(idempotencyKey string) string {
	if idempotencyKey == "" {
		var rnd [16]byte
		_, _ = rand.Read(rnd[:])
		return "http|random:" + hex.EncodeToString(rnd[:])
	}
	return "http|key:" + idempotencyKey
}

// LineEventID is the event.id of a line read from a byte stream or request
// (files, stdin, HTTP): source identity and the line's position, no content.
func LineEventID(source string, position int64) string {
	return EventID(source, uint64(position), nil)
}

// LineIDs mints LineEventID's ids without an allocation: each id lives in
// memory of l that the next Next reuses, so it is valid only until then
// (the shipper copies it into the encoded record and the message headers
// first). Not safe for concurrent use.
type LineIDs struct {
	buf []byte // eventSum's message
	id  [32]byte
}

// Next is LineEventID(source, position).
func (l *LineIDs) Next(source string, position int64) string {
	sum := eventSum(&l.buf, source, uint64(position), nil, nil)
	hex.Encode(l.id[:], sum[:])
	return unsafe.String(&l.id[0], len(l.id))
}

// OffsetEventID is the event.id the indexer gives a record that reached
// Kafka without one (a producer other than ours): its Kafka coordinates,
// which are stable across redelivery and replay.
func OffsetEventID(topic string, partition int, offset int64) string {
	return EventID("kafka|"+topic+"|"+strconv.Itoa(partition), uint64(offset), nil)
}

// occurrences numbers repeats of the same content within one unit (a
// chunk, an export request): the id's content is the unit's content
// followed by 8 bytes for the big-endian occurrence index, 0 for the first.
// Repeats are keyed by the 128 bits of their first occurrence's id (equal
// ids mean equal content), so only repeats pay a second hash.
type occurrences struct {
	occ map[[16]byte]uint64
	buf []byte // eventSum's message
}

func (o *occurrences) next(source string, pos uint64, content []byte) [16]byte {
	if o.occ == nil {
		o.occ = make(map[[16]byte]uint64)
	}
	var k8 [8]byte
	sum := eventSum(&o.buf, source, pos, content, k8[:])
	k, seen := o.occ[sum]
	if !seen {
		o.occ[sum] = 0
		return sum
	}
	k++
	o.occ[sum] = k
	binary.BigEndian.PutUint64(k8[:], k)
	return eventSum(&o.buf, source, pos, content, k8[:])
}

// ChunkIDs mints the event.ids of the events of one Fluent Bit chunk (see
// "Collector" above): position = event time in ns, content = the event's
// raw msgpack bytes + the 8-byte occurrence index of this exact (time,
// bytes) pair in the chunk. A retried chunk is byte-identical, so it yields
// the same ids; two identical lines in the same nanosecond get different
// ids. Reset between chunks; not safe for concurrent use.
type ChunkIDs struct {
	occ occurrences
	ids []byte // the ids NextInChunk handed out since Reset
}

// Reset forgets the occurrences of the previous chunk; the ids NextInChunk
// returned before must no longer be in use.
func (c *ChunkIDs) Reset() {
	clear(c.occ.occ)
	if cap(c.ids) > 1<<20 {
		c.ids = nil // one huge chunk does not pin its ids' memory for good
	}
	if cap(c.occ.buf) > 1<<20 {
		c.occ.buf = nil // nor one huge record its hashed message's
	}
	c.ids = c.ids[:0]
}

// Next returns the id of the next event of the chunk.
func (c *ChunkIDs) Next(source string, t time.Time, raw []byte) string {
	sum := c.occ.next(source, uint64(t.UnixNano()), raw)
	return hex.EncodeToString(sum[:])
}

// NextInChunk is Next without an allocation: the id's bytes live in memory
// of c that Reset reuses, so the string is valid only until Reset (the
// plugin copies it into the encoded record and the message headers before
// the next chunk).
func (c *ChunkIDs) NextInChunk(source string, t time.Time, raw []byte) string {
	sum := c.occ.next(source, uint64(t.UnixNano()), raw)
	if cap(c.ids)-len(c.ids) < 2*len(sum) {
		// A new block: the ids handed out stay in the old one, untouched.
		c.ids = make([]byte, 0, max(1024, 2*cap(c.ids)))
	}
	start := len(c.ids)
	c.ids = hex.AppendEncode(c.ids, sum[:])
	return unsafe.String(&c.ids[start], 2*len(sum))
}

// eventSum is the 128-bit hash an event.id writes as hex: the first half of
// SHA-256 over the length-prefixed source, the position and the
// length-prefixed content = head + tail. The message is laid out in *buf
// (grown as needed, kept by the caller) and hashed in one call: cheaper
// than streaming its parts through a hash.Hash, which costs a digest on
// the heap and a call per part for every record.
func eventSum(buf *[]byte, source string, position uint64, head, tail []byte) (sum [16]byte) {
	b := (*buf)[:0]
	b = binary.BigEndian.AppendUint64(b, uint64(len(source)))
	b = append(b, source...)
	b = binary.BigEndian.AppendUint64(b, position)
	b = binary.BigEndian.AppendUint64(b, uint64(len(head)+len(tail)))
	b = append(append(b, head...), tail...)
	full := sha256.Sum256(b)
	*buf = b
	copy(sum[:], full[:])
	return sum
}

// OTLPIDs mints the event.ids of the log records of one OTLP export request
// (see "Shipper, OTLP" above). Use one per request; not safe for concurrent
// use.
type OTLPIDs struct {
	occ occurrences
	buf []byte
	// The resource and scope of consecutive records are the same messages:
	// their encodings are kept instead of marshalled per record.
	lastRes, lastScope proto.Message
	res, scope         []byte
}

// Next returns the id of the next log record (res and scope may be nil).
func (o *OTLPIDs) Next(res, scope, lr proto.Message) string {
	if res != o.lastRes || o.res == nil {
		o.res, o.lastRes = appendPrefixed(o.res[:0], res), res
	}
	if scope != o.lastScope || o.scope == nil {
		o.scope, o.lastScope = appendPrefixed(o.scope[:0], scope), scope
	}
	o.buf = append(append(o.buf[:0], o.res...), o.scope...)
	o.buf = appendPrefixed(o.buf, lr)
	sum := o.occ.next("otlp", 0, o.buf)
	return hex.EncodeToString(sum[:])
}

// appendPrefixed appends the 8-byte big-endian length and the deterministic
// protobuf encoding of m (nothing for nil or an unset message).
func appendPrefixed(buf []byte, m proto.Message) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0)
	if m != nil && m.ProtoReflect().IsValid() {
		var err error
		if buf, err = (proto.MarshalOptions{Deterministic: true}).MarshalAppend(buf, m); err != nil {
			buf = buf[:start+8]
		}
	}
	binary.BigEndian.PutUint64(buf[start:], uint64(len(buf)-start-8))
	return buf
}

// SpanEventID is the event.id (and Elasticsearch _id) of a span: its trace
// id and span id, so a span re-sent anywhere is one document.
func SpanEventID(traceID, spanID string) string { return traceID + spanID }
