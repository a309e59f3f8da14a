package publish

import (
	"github.com/agentobs/agentobs/internal/box"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/segmentio/kafka-go"
)

// Header names on every record message. Consumers can route and correlate
// without parsing the value; Fluent Bit's own Kafka output sets none.
const (
	HeaderTraceID     = "trace_id"
	HeaderSpanID      = "span_id"
	HeaderService     = "service.name"
	HeaderEventID     = "event.id"
	HeaderSchema      = "agentobs.schema"
	HeaderContentType = "content-type"
)

// Key strategies: what the Kafka message key of a record is.
const (
	KeyTraceID = "trace_id" // trace id, else event.id (default: one trace, one partition, in order)
	KeyEventID = "event_id" // always event.id: even spread, a retried record keeps its partition
	KeyNone    = "none"     // no key: the producer's balancer spreads records
)

// Key is the Kafka message key of r under strategy: by default the trace id
// when valid, so every record of a trace lands on one partition in order;
// otherwise the event id, which spreads trace-less records evenly and keeps
// a retried record on the same partition. nil when the record has neither
// (the producer then balances).
func Key(r *record.Record, strategy string) []byte {
	switch keySource(r, strategy) {
	case keyTrace:
		return []byte(r.TraceID)
	case keyEvent:
		return []byte(r.EventID)
	}
	return nil
}

// What the key of a record is taken from (Key's decision, once).
const (
	keyNil = iota
	keyTrace
	keyEvent
)

func keySource(r *record.Record, strategy string) int {
	switch strategy {
	case KeyNone:
		return keyNil
	case KeyEventID:
	default:
		if record.ValidTraceID(r.TraceID) {
			return keyTrace
		}
	}
	if r.EventID != "" {
		return keyEvent
	}
	return keyNil
}

// RecordMessage is the Kafka message of an encoded record: key = trace id
// (else event.id), headers for correlation, value = value. Front doors get
// it from Edge.Message; tests use it to produce record fixtures.
func RecordMessage(topic string, r *record.Record, value []byte) kafka.Message {
	return recordMessage(topic, r, value, KeyTraceID, nil)
}

func recordMessage(topic string, r *record.Record, value []byte, keyStrategy string, s *Scratch) kafka.Message {
	// Every header value (and the key, which repeats one of them) is a
	// slice of one buffer: two allocations per message instead of eight,
	// none with a Scratch.
	need := len(r.TraceID) + len(r.SpanID) + len(r.Service) + len(r.EventID) +
		len(record.SchemaVersion) + len(record.ContentType)
	const numHeaders = 6
	var buf []byte
	var h []kafka.Header
	if s != nil {
		buf, h = s.take(need, numHeaders)
	} else {
		buf, h = make([]byte, 0, need), make([]kafka.Header, 0, numHeaders)
	}
	add := func(key, v string) []byte {
		start := len(buf)
		buf = append(buf, v...)
		b := buf[start:len(buf):len(buf)]
		h = append(h, kafka.Header{Key: key, Value: b})
		return b
	}
	var trace, event []byte
	if r.TraceID != "" {
		trace = add(HeaderTraceID, r.TraceID)
	}
	if r.SpanID != "" {
		add(HeaderSpanID, r.SpanID)
	}
	if r.Service != "" {
		add(HeaderService, r.Service)
	}
	event = add(HeaderEventID, r.EventID)
	add(HeaderSchema, record.SchemaVersion)
	add(HeaderContentType, record.ContentType)
	if s != nil {
		s.used(len(buf), len(h))
	}
	var key []byte
	switch keySource(r, keyStrategy) {
	case keyTrace:
		key = trace
	case keyEvent:
		key = event
	}
	return kafka.Message{Topic: topic, Key: key, Value: value, Headers: h[:len(h):len(h)]}
}

// Scratch is memory for the keys and header values of a batch of
// messages, reused batch after batch (Edge.MessageScratch): a front door
// that builds many messages allocates a few blocks per batch (none, once
// released blocks come back) instead of memory per message. It also
// encodes the records (record.Encoder, which remembers the sorted key
// order of recurring field sets). Not safe for concurrent use.
type Scratch struct {
	bytes   []byte
	headers []kafka.Header
	enc     record.Encoder // kept across Reset: it holds no message memory
	boxes   box.Boxes      // the records' sequence numbers (seq), boxed without an allocation each
	// full are the blocks filled since the last Detach or Reset, before
	// the current ones: Detach hands them on with the current ones.
	full Blocks
	// Bytes and headers handed out since the last Detach or Reset, and
	// what the last Detach found: the size of the first blocks after it,
	// so a batch's memory is about one block of each instead of a series
	// of doubling ones.
	nBytes, nHeaders       int
	nextBytes, nextHeaders int
}

// Blocks is the memory of one batch's messages, handed out by
// Scratch.Detach. Release gives it to later batches (of any Scratch) once
// nothing uses those messages any more; memory never released is left to
// the garbage collector.
type Blocks struct {
	bytes   [][]byte
	headers [][]kafka.Header
}

// The released blocks. A block too small for what a Scratch needs next is
// dropped (the garbage collector takes it), so blocks follow the size
// batches have now.
var (
	freeBytes   = NewFreeList[[]byte](FreeBlocks)
	freeHeaders = NewFreeList[[]kafka.Header](FreeBlocks)
)

// FreeBlocks is how many released blocks of each kind are kept (front
// doors that recycle more per batch, such as the shipper's message slices,
// keep as many). In a
// steady stream a batch is released as the next one starts, so two
// suffice; the blocks of a burst (a queue that filled while Kafka was
// slow) would otherwise stay idle, and the garbage collector's goal grows
// with everything held: 8 kept raised the shipper's heap goal from 10 to
// 22 MiB.
const FreeBlocks = 2

// FreeList keeps up to a fixed number of released values for reuse; what
// does not fit is left to the garbage collector. Unlike a sync.Pool it
// never holds more than its size, and a value costs no allocation to keep.
// Safe for concurrent use.
type FreeList[T any] struct{ c chan T }

// NewFreeList returns a free list of n values at most.
func NewFreeList[T any](n int) FreeList[T] { return FreeList[T]{c: make(chan T, n)} }

// Get returns a kept value, or the zero value when there is none.
func (f FreeList[T]) Get() (v T) {
	select {
	case v = <-f.c:
	default:
	}
	return v
}

// Put keeps v if there is room.
func (f FreeList[T]) Put(v T) {
	select {
	case f.c <- v:
	default:
	}
}

// Empty is whether b holds no memory (nothing was handed out, or it was
// released).
func (b *Blocks) Empty() bool { return len(b.bytes) == 0 && len(b.headers) == 0 }

// Release gives b's memory back. Call it only when no message built in it
// is in use: Kafka answered for all of them and nothing kept one, nor a
// producer whose Send gave up early (it may still be encoding them).
func (b *Blocks) Release() {
	for _, x := range b.bytes {
		freeBytes.Put(x[:0])
	}
	for _, h := range b.headers {
		clear(h) // their values point into byte blocks that move on
		freeHeaders.Put(h[:0])
	}
	*b = Blocks{}
}

// Reset makes the memory reusable. Call it only when no message built with
// it since the last Reset is in use any more (Kafka answered for them and
// nothing kept them).
func (s *Scratch) Reset() {
	// One huge batch does not pin its memory for good.
	if cap(s.bytes) > 1<<20 {
		s.bytes = nil
	}
	if cap(s.headers) > 1<<15 {
		s.headers = nil
	}
	s.bytes, s.headers = s.bytes[:0], s.headers[:0]
	s.nBytes, s.nHeaders = 0, 0
	s.full = Blocks{}
	s.boxes.Reset()
}

// Detach hands the memory given out so far to the messages that use it
// and starts afresh, for a front door whose messages outlive the next
// batch (the shipper's queue holds a batch until Kafka acknowledged it):
// such a front door detaches instead of resetting, and releases the
// returned blocks once Kafka answered for the batch.
func (s *Scratch) Detach() Blocks {
	b := s.full
	if len(s.bytes) > 0 {
		b.bytes = append(b.bytes, s.bytes)
	}
	if len(s.headers) > 0 {
		b.headers = append(b.headers, s.headers[:cap(s.headers)])
	}
	s.bytes, s.headers, s.full = nil, nil, Blocks{}
	s.nextBytes, s.nextHeaders = s.nBytes+s.nBytes/8, s.nHeaders+s.nHeaders/8
	s.nBytes, s.nHeaders = 0, 0
	s.boxes.Reset() // the records they were boxed for are encoded
	return b
}

// Int64 is any(v), boxed in s (valid until s.Reset or s.Detach), or by the
// language when s is nil: a value a front door adds to the record it
// encodes next (the shipper's log.offset).
func (s *Scratch) Int64(v int64) any {
	if s == nil {
		return v
	}
	return s.boxes.Int64(v)
}

// seq is any(seq), boxed in s (valid until s.Reset or s.Detach), or by the
// language when s is nil.
func (s *Scratch) seq(seq uint64) any {
	if s == nil {
		return seq
	}
	return s.boxes.Uint64(seq)
}

// Keep copies v into the scratch's memory, after everything handed out
// before, and returns the copy: a message value that lives as its keys and
// headers do (the shipper's batch keeps its encoded records so).
func (s *Scratch) Keep(v []byte) []byte {
	b, _ := s.take(len(v), 0)
	b = append(b, v...)
	s.used(len(v), 0)
	return b[:len(v):len(v)]
}

// take returns empty slices with room for n bytes and k headers, after
// everything handed out before: when a block is full a new one is started
// and the old one is left to the messages that use it.
func (s *Scratch) take(n, k int) ([]byte, []kafka.Header) {
	if cap(s.bytes)-len(s.bytes) < n {
		if len(s.bytes) > 0 {
			s.full.bytes = append(s.full.bytes, s.bytes)
		}
		want := max(4096, n, 2*cap(s.bytes), s.nextBytes)
		s.bytes = freeBytes.Get()
		if cap(s.bytes) < want {
			s.bytes = make([]byte, 0, want)
		}
		s.nextBytes = 0
	}
	if cap(s.headers)-len(s.headers) < k {
		if len(s.headers) > 0 {
			s.full.headers = append(s.full.headers, s.headers[:cap(s.headers)])
		}
		want := max(64, k, 2*cap(s.headers), s.nextHeaders)
		s.headers = freeHeaders.Get()
		if cap(s.headers) < want {
			s.headers = make([]kafka.Header, 0, want)
		}
		s.nextHeaders = 0
	}
	return s.bytes[len(s.bytes):len(s.bytes)], s.headers[len(s.headers):len(s.headers)]
}

// used marks n bytes and k headers after the previous ones as taken.
func (s *Scratch) used(n, k int) {
	s.nBytes += n
	s.nHeaders += k
	s.bytes = s.bytes[:len(s.bytes)+n]
	s.headers = s.headers[:len(s.headers)+k]
}
