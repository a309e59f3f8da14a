// Package flbchunk encodes log events exactly as Fluent Bit hands them to an
// output plugin, for tests, benchmarks and the host program's chunk files:
// EventTime as fixext8 type 0 (uint32 seconds, uint32 nanoseconds, big
// endian), events as [time, record] (v1) or [[time, metadata], record] (v2).
package flbchunk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Format is the event layout.
type Format int

const (
	V1 Format = 1 // [time, record], Fluent Bit < 2.1
	V2 Format = 2 // [[time, metadata], record], Fluent Bit >= 2.1
)

// TimeKind is how the timestamp is encoded.
type TimeKind int

const (
	EventTime TimeKind = iota // ext type 0, what Fluent Bit writes
	Int                       // integer seconds (old forward clients)
	Float                     // float seconds
)

// Builder appends events to a chunk.
type Builder struct {
	buf    bytes.Buffer
	Format Format
	Time   TimeKind
	n      int
}

// New returns a builder for format with EventTime timestamps.
func New(f Format) *Builder { return &Builder{Format: f} }

// Add appends one event. meta is used by V2 only (nil: empty map).
func (b *Builder) Add(ts time.Time, record map[string]any, meta map[string]any) *Builder {
	if b.Format == V2 {
		b.buf.WriteByte(0x92) // [header, record]
		b.buf.WriteByte(0x92) // header: [time, metadata]
		b.time(ts)
		if meta == nil {
			meta = map[string]any{}
		}
		b.value(meta)
	} else {
		b.buf.WriteByte(0x92)
		b.time(ts)
	}
	b.value(record)
	b.n++
	return b
}

// AddRaw appends bytes as they are (for garbage and group markers).
func (b *Builder) AddRaw(p []byte) *Builder { b.buf.Write(p); return b }

// Len is the number of events added with Add.
func (b *Builder) Len() int { return b.n }

// Bytes is the chunk.
func (b *Builder) Bytes() []byte { return b.buf.Bytes() }

func (b *Builder) time(ts time.Time) {
	switch b.Time {
	case Int:
		b.value(ts.Unix())
	case Float:
		b.value(float64(ts.UnixNano()) / 1e9)
	default:
		var p [10]byte
		p[0], p[1] = 0xd7, 0x00
		binary.BigEndian.PutUint32(p[2:], uint32(ts.Unix()))
		binary.BigEndian.PutUint32(p[6:], uint32(ts.Nanosecond()))
		b.buf.Write(p[:])
	}
}

func (b *Builder) value(v any) {
	enc := msgpack.NewEncoder(&b.buf)
	enc.SetSortMapKeys(true) // deterministic bytes: a re-built chunk equals the original
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("flbchunk: encode %T: %v", v, err))
	}
}

// GroupStart is a Fluent Bit group-start marker event (timestamp -1), as
// the OpenTelemetry input writes them; outputs skip these.
func GroupStart() []byte {
	var buf bytes.Buffer
	buf.Write([]byte{0x92, 0x92})
	enc := msgpack.NewEncoder(&buf)
	_ = enc.Encode(int64(-1))
	_ = enc.Encode(map[string]any{"resource": map[string]any{"service.name": "grp"}})
	_ = enc.Encode(map[string]any{})
	return buf.Bytes()
}
