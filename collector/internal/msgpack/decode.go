// Package msgpack decodes the chunks Fluent Bit hands to an output plugin:
// a concatenation of MessagePack-encoded log events, each either
//
//	[timestamp, record]                    (Fluent Bit < 2.1, "v1")
//	[[timestamp, metadata], record]        (Fluent Bit >= 2.1, "v2")
//
// where timestamp is the EventTime extension (type 0: uint32 seconds and
// uint32 nanoseconds, big-endian), an integer or a float of seconds.
// See https://github.com/fluent/fluent-bit/blob/master/include/fluent-bit/flb_log_event.h
// and the Forward protocol spec for EventTime.
//
// It exists because fluent-bit-go's decoder copies the chunk and decodes every
// event by reflection into map[interface{}]interface{} with []byte strings,
// which the record core then has to convert again. This decoder walks the
// chunk in place and produces exactly the shapes record.Parser.FromMap works
// with (map[string]any, string, int64, uint64, float64, bool, []any, nil,
// time.Time). It keeps the raw bytes of each record map, which the collector
// hashes into the deterministic event.id.
package msgpack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unsafe"

	"github.com/agentobs/agentobs/internal/box"
	"github.com/agentobs/agentobs/internal/textscan"
)

// MaxDepth bounds the nesting of arrays and maps; deeper input is rejected
// rather than recursed into (Fluent Bit never produces it, a fuzzer does).
const MaxDepth = 64

// Group markers: Fluent Bit (>= 3.0) frames OpenTelemetry groups with
// events whose timestamp is -1 (start) or -2 (end). They carry resource
// metadata, not log lines, and are skipped.
const (
	groupStart = -1
	groupEnd   = -2
)

// Event is one decoded log event.
type Event struct {
	// Time is the Fluent Bit event time.
	Time time.Time
	// Meta is the v2 metadata map; nil for v1 events or when empty.
	Meta map[string]any
	// Record is the log record. With Decoder.ReuseRecord it is valid only
	// until the next call of Next; nil from NextPairs.
	Record map[string]any
	// Raw is the MessagePack encoding of Record. It aliases the chunk.
	Raw []byte
	// InvalidUTF8 reports that a key or string decoded for Record was not
	// valid UTF-8 (binary data, a cut multi-byte sequence). False means
	// every key and string in Record is valid, so it needs no repair; true
	// only that one may not be (a duplicate key may have replaced it).
	InvalidUTF8 bool
}

// SyntaxError reports malformed input at a byte offset of the chunk.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "msgpack: " + e.Msg + " at offset " + strconv.Itoa(e.Offset)
}

// ErrTruncated is wrapped by a SyntaxError when the chunk ends inside a value.
var ErrTruncated = errors.New("unexpected end of chunk")

// Decoder reads events from one chunk. It is not safe for concurrent use;
// reuse one per goroutine with Reset.
type Decoder struct {
	buf    []byte
	off    int
	alias  bool
	intern map[string]string
	// ReuseRecord makes every event's top-level Record the same map,
	// cleared by Next: one map allocation (and its growth) per chunk
	// instead of per event, for callers that copy what they keep (the
	// collector turns each event into a record before the next).
	ReuseRecord bool
	record      map[string]any
	// ReuseValues makes the decoded strings and integers (the interface
	// values in Record, Meta and everything nested) point into memory that
	// is reused for the next event, instead of one allocation each: every
	// decoded value is then valid only until the next event is decoded or
	// the next Reset (internal/box). The memory is one event's, not a
	// chunk's: kept for a whole chunk it was a fifth of the plugin's live
	// heap.
	ReuseValues bool
	boxes       box.Boxes
	// sink takes the pairs for NextPairs; invalid is set by str for a
	// string that is not valid UTF-8.
	sink    PairSink
	invalid bool
}

// PairSink takes the top-level pairs of a record one by one, in the order
// of the chunk (record.ObjectBuilder).
type PairSink interface {
	Add(key string, value any)
}

// NewDecoder returns a decoder over chunk. With alias set, decoded strings
// point into chunk instead of being copied: the caller promises chunk is
// Go memory that is never modified while any decoded value is in use (the
// collector copies Fluent Bit's C buffer once per flush and aliases that
// copy, saving one allocation per string).
func NewDecoder(chunk []byte, alias bool) *Decoder {
	return &Decoder{buf: chunk, alias: alias, intern: make(map[string]string, 32)}
}

// Reset points the decoder at a new chunk, keeping its key cache. With
// alias, cached keys may point into an old chunk, so the cache is dropped.
func (d *Decoder) Reset(chunk []byte, alias bool) {
	d.buf, d.off, d.alias = chunk, 0, alias
	d.boxes.Reset()
	if alias || len(d.intern) > 1024 {
		clear(d.intern)
	}
}

// NextPairs is Next with the record's top-level pairs handed to sink
// instead of put in a map (ev.Record is nil). A repeated key is handed over
// again; keeping the last is the sink's business.
func (d *Decoder) NextPairs(ev *Event, sink PairSink) error {
	d.sink = sink
	err := d.Next(ev)
	d.sink = nil
	return err
}

// FillMap decodes raw, the Raw of an event this decoder returned since its
// last Reset, into m (pairs already in m stay unless the record has the
// same key): for a caller whose sink could not use the pairs (NextPairs)
// and needs the record as a map after all.
func (d *Decoder) FillMap(raw []byte, m map[string]any) error {
	buf, off, invalid := d.buf, d.off, d.invalid
	defer func() { d.buf, d.off, d.invalid = buf, off, invalid }()
	d.buf, d.off = raw, 0
	if len(raw) == 0 || !isMap(raw[0]) {
		return d.errAt(0, "raw record is not a map")
	}
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	return d.fill(m, n, 0)
}

// Offset is the number of bytes consumed so far.
func (d *Decoder) Offset() int { return d.off }

// Next decodes the next event into ev. It returns io.EOF at the end of the
// chunk and a *SyntaxError for malformed input; after an error the rest of
// the chunk cannot be decoded (msgpack has no resynchronisation point).
func (d *Decoder) Next(ev *Event) error {
	for {
		if d.off >= len(d.buf) {
			return io.EOF
		}
		skip, err := d.event(ev)
		if err != nil || !skip {
			return err
		}
	}
}

func (d *Decoder) event(ev *Event) (skip bool, err error) {
	if d.ReuseValues {
		d.boxes.Reset() // the last event's values are done with
	}
	start := d.off
	n, err := d.arrayLen()
	if err != nil {
		return false, err
	}
	if n != 2 {
		return false, d.errAt(start, fmt.Sprintf("event is an array of %d, want 2", n))
	}
	*ev = Event{}
	// Header: a timestamp (v1) or [timestamp, metadata] (v2).
	if d.off < len(d.buf) && isArray(d.buf[d.off]) {
		hdr := d.off
		hn, err := d.arrayLen()
		if err != nil {
			return false, err
		}
		if hn < 1 {
			return false, d.errAt(hdr, "event header is an empty array")
		}
		ts, group, err := d.timestamp()
		if err != nil {
			return false, err
		}
		ev.Time, skip = ts, group
		for i := 1; i < hn; i++ {
			if d.skipEmptyMap() { // nothing to keep, and no map to make
				continue
			}
			v, err := d.value(1)
			if err != nil {
				return false, err
			}
			if m, ok := v.(map[string]any); ok && i == 1 && len(m) > 0 {
				ev.Meta = m
			}
		}
	} else {
		ts, group, err := d.timestamp()
		if err != nil {
			return false, err
		}
		ev.Time, skip = ts, group
	}
	recStart := d.off
	if d.off >= len(d.buf) {
		return false, d.errAt(d.off, ErrTruncated.Error())
	}
	if !isMap(d.buf[d.off]) {
		return false, d.errAt(d.off, fmt.Sprintf("record is type 0x%02x, want a map", d.buf[d.off]))
	}
	d.invalid = false
	// A group marker's record (skip) is decoded and dropped: its pairs must
	// not reach the sink, which the next event's pairs go to.
	if d.sink != nil && !skip {
		n, err := d.mapLen()
		if err != nil {
			return false, err
		}
		for range n {
			k, err := d.key(1)
			if err != nil {
				return false, err
			}
			v, err := d.value(1)
			if err != nil {
				return false, err
			}
			d.sink.Add(k, v)
		}
	} else if d.ReuseRecord {
		n, err := d.mapLen()
		if err != nil {
			return false, err
		}
		if d.record == nil {
			d.record = make(map[string]any, n)
		}
		clear(d.record)
		if err := d.fill(d.record, n, 0); err != nil {
			return false, err
		}
		ev.Record = d.record
	} else {
		v, err := d.value(0)
		if err != nil {
			return false, err
		}
		ev.Record = v.(map[string]any)
	}
	ev.Raw = d.buf[recStart:d.off:d.off]
	ev.InvalidUTF8 = d.invalid
	return skip, nil
}

// timestamp reads an EventTime, an integer or a float of seconds. group
// reports a Fluent Bit group marker.
func (d *Decoder) timestamp() (t time.Time, group bool, err error) {
	at := d.off
	// EventTime (fixext8, type 0), what every Fluent Bit ≥ 1.x writes:
	// decoded in place, without boxing a time.Time into an interface.
	if len(d.buf)-at >= 10 && d.buf[at] == 0xd7 && d.buf[at+1] == 0 {
		p := d.buf[at+2 : at+10]
		d.off = at + 10
		return time.Unix(int64(binary.BigEndian.Uint32(p)), int64(binary.BigEndian.Uint32(p[4:]))), false, nil
	}
	v, err := d.value(1)
	if err != nil {
		return time.Time{}, false, err
	}
	switch x := v.(type) {
	case time.Time:
		return x, false, nil
	case int64:
		if x == groupStart || x == groupEnd {
			return time.Time{}, true, nil
		}
		return time.Unix(x, 0), false, nil
	case uint64:
		if x > math.MaxInt64/2 {
			return time.Time{}, false, d.errAt(at, "timestamp out of range")
		}
		return time.Unix(int64(x), 0), false, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1e15 {
			return time.Time{}, false, d.errAt(at, "timestamp out of range")
		}
		sec := math.Floor(x)
		return time.Unix(int64(sec), int64((x-sec)*1e9)), false, nil
	}
	return time.Time{}, false, d.errAt(at, fmt.Sprintf("timestamp is %T, want EventTime, integer or float", v))
}

// skipEmptyMap skips an empty map in any of its encodings and reports
// whether there was one: the metadata of nearly every event. Fluent Bit
// 5's log event encoder writes it as a map16 header (its pairs are counted
// after the header is reserved), older writers as a fixmap.
func (d *Decoder) skipEmptyMap() bool {
	b := d.buf[d.off:]
	var n int
	switch {
	case len(b) >= 1 && b[0] == 0x80:
		n = 1
	case len(b) >= 3 && b[0] == 0xde && b[1]|b[2] == 0:
		n = 3
	case len(b) >= 5 && b[0] == 0xdf && b[1]|b[2]|b[3]|b[4] == 0:
		n = 5
	default:
		return false
	}
	d.off += n
	return true
}

func isArray(b byte) bool { return b&0xf0 == 0x90 || b == 0xdc || b == 0xdd }
func isMap(b byte) bool   { return b&0xf0 == 0x80 || b == 0xde || b == 0xdf }

func (d *Decoder) errAt(off int, msg string) error { return &SyntaxError{Offset: off, Msg: msg} }

func (d *Decoder) need(n int) ([]byte, error) {
	if n < 0 || len(d.buf)-d.off < n {
		return nil, d.errAt(d.off, ErrTruncated.Error())
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b, nil
}

func (d *Decoder) arrayLen() (int, error) {
	b, err := d.need(1)
	if err != nil {
		return 0, err
	}
	switch c := b[0]; {
	case c&0xf0 == 0x90:
		return int(c & 0x0f), nil
	case c == 0xdc:
		return d.length(2)
	case c == 0xdd:
		return d.length(4)
	default:
		return 0, d.errAt(d.off-1, fmt.Sprintf("type 0x%02x, want an array", c))
	}
}

// length reads a big-endian length of size bytes and checks it against the
// remaining input (every element takes at least one byte), so a hostile
// length never allocates more than the chunk could hold.
func (d *Decoder) length(size int) (int, error) {
	b, err := d.need(size)
	if err != nil {
		return 0, err
	}
	var n uint64
	switch size {
	case 1:
		n = uint64(b[0])
	case 2:
		n = uint64(binary.BigEndian.Uint16(b))
	case 4:
		n = uint64(binary.BigEndian.Uint32(b))
	}
	if n > uint64(len(d.buf)-d.off) {
		return 0, d.errAt(d.off-size, ErrTruncated.Error())
	}
	return int(n), nil
}

func (d *Decoder) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if !d.invalid && !textscan.ValidUTF8(b) {
		d.invalid = true
	}
	if d.alias {
		return unsafe.String(&b[0], len(b))
	}
	return string(b)
}

// key decodes a map key. Keys repeat in every record of a chunk, so short
// ones are interned: one allocation per distinct key, not per record.
func (d *Decoder) key(depth int) (string, error) {
	if d.off < len(d.buf) {
		c := d.buf[d.off]
		var n, hdr int
		switch {
		case c&0xe0 == 0xa0:
			n, hdr = int(c&0x1f), 1
		case c == 0xd9 || c == 0xc4:
			if d.off+1 < len(d.buf) {
				n, hdr = int(d.buf[d.off+1]), 2
			}
		}
		if hdr > 0 && n <= 64 && d.off+hdr+n <= len(d.buf) {
			b := d.buf[d.off+hdr : d.off+hdr+n]
			d.off += hdr + n
			if d.alias {
				return d.str(b), nil
			}
			if !d.invalid && !textscan.ValidUTF8(b) {
				d.invalid = true
			}
			if s, ok := d.intern[string(b)]; ok {
				return s, nil
			}
			s := string(b)
			if len(d.intern) < 4096 {
				d.intern[s] = s
			}
			return s, nil
		}
	}
	v, err := d.value(depth)
	if err != nil {
		return "", err
	}
	switch k := v.(type) {
	case string:
		return k, nil
	case nil:
		return "null", nil
	default:
		return fmt.Sprint(k), nil
	}
}

// value decodes any value. depth counts enclosing containers.
func (d *Decoder) value(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, d.errAt(d.off, "nesting deeper than "+strconv.Itoa(MaxDepth))
	}
	b, err := d.need(1)
	if err != nil {
		return nil, err
	}
	c := b[0]
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return d.boxInt(int64(int8(c))), nil
	case c&0xe0 == 0xa0:
		s, err := d.need(int(c & 0x1f))
		if err != nil {
			return nil, err
		}
		return d.boxStr(d.str(s)), nil
	case c&0xf0 == 0x90:
		return d.array(int(c&0x0f), depth)
	case c&0xf0 == 0x80:
		return d.mapN(int(c&0x0f), depth)
	}
	switch c {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xcc, 0xcd, 0xce, 0xcf:
		size := 1 << (c - 0xcc)
		p, err := d.need(size)
		if err != nil {
			return nil, err
		}
		u := beUint(p)
		if u <= math.MaxInt64 {
			return d.boxInt(int64(u)), nil
		}
		return u, nil
	case 0xd0, 0xd1, 0xd2, 0xd3:
		size := 1 << (c - 0xd0)
		p, err := d.need(size)
		if err != nil {
			return nil, err
		}
		u := beUint(p)
		shift := 64 - 8*size
		return d.boxInt(int64(u<<shift) >> shift), nil
	case 0xca:
		p, err := d.need(4)
		if err != nil {
			return nil, err
		}
		return d.boxFloat(float64(math.Float32frombits(binary.BigEndian.Uint32(p)))), nil
	case 0xcb:
		p, err := d.need(8)
		if err != nil {
			return nil, err
		}
		return d.boxFloat(math.Float64frombits(binary.BigEndian.Uint64(p))), nil
	case 0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6:
		size := 1
		switch c {
		case 0xda, 0xc5:
			size = 2
		case 0xdb, 0xc6:
			size = 4
		}
		n, err := d.length(size)
		if err != nil {
			return nil, err
		}
		s, err := d.need(n)
		if err != nil {
			return nil, err
		}
		return d.boxStr(d.str(s)), nil
	case 0xdc, 0xdd:
		n, err := d.length(2 << (c - 0xdc))
		if err != nil {
			return nil, err
		}
		return d.array(n, depth)
	case 0xde, 0xdf:
		n, err := d.length(2 << (c - 0xde))
		if err != nil {
			return nil, err
		}
		if n > (len(d.buf)-d.off)/2 {
			return nil, d.errAt(d.off, ErrTruncated.Error())
		}
		return d.mapN(n, depth)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return d.ext(1 << (c - 0xd4))
	case 0xc7, 0xc8, 0xc9:
		n, err := d.length(1 << (c - 0xc7))
		if err != nil {
			return nil, err
		}
		return d.ext(n)
	}
	return nil, d.errAt(d.off-1, fmt.Sprintf("invalid type byte 0x%02x", c))
}

func beUint(p []byte) uint64 {
	var u uint64
	for _, x := range p {
		u = u<<8 | uint64(x)
	}
	return u
}

// ext decodes an extension of n data bytes. Type 0 with 8 bytes is Fluent
// Bit's EventTime; any other extension is kept as its raw data.
func (d *Decoder) ext(n int) (any, error) {
	t, err := d.need(1)
	if err != nil {
		return nil, err
	}
	p, err := d.need(n)
	if err != nil {
		return nil, err
	}
	if t[0] == 0 && n == 8 {
		sec := binary.BigEndian.Uint32(p)
		nsec := binary.BigEndian.Uint32(p[4:])
		return time.Unix(int64(sec), int64(nsec)), nil
	}
	return d.str(p), nil
}

func (d *Decoder) array(n, depth int) (any, error) {
	out := make([]any, n)
	for i := range out {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (d *Decoder) mapN(n, depth int) (any, error) {
	out := d.newMap(n)
	if err := d.fill(out, n, depth); err != nil {
		return nil, err
	}
	return out, nil
}

// mapLen reads a map header (the caller checked isMap).
func (d *Decoder) mapLen() (int, error) {
	b, err := d.need(1)
	if err != nil {
		return 0, err
	}
	if c := b[0]; c&0xf0 == 0x80 {
		return int(c & 0x0f), nil
	}
	n, err := d.length(2 << (b[0] - 0xde))
	if err != nil {
		return 0, err
	}
	if n > (len(d.buf)-d.off)/2 {
		return 0, d.errAt(d.off, ErrTruncated.Error())
	}
	return n, nil
}

// fill decodes n key/value pairs into out.
func (d *Decoder) fill(out map[string]any, n, depth int) error {
	for range n {
		k, err := d.key(depth + 1)
		if err != nil {
			return err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return err
		}
		out[k] = v
	}
	return nil
}
