package msgpack

import (
	"errors"
	"io"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/agentobs/agentobs/collector/internal/flbchunk"
	"github.com/vmihailenco/msgpack/v5"
)

var ts = time.Unix(1700000000, 123456789)

func sample() map[string]any {
	return map[string]any{
		"log":    "hello",
		"stream": "stdout",
		"n":      int64(-5),
		"big":    uint64(math.MaxUint64),
		"f":      1.5,
		"ok":     true,
		"nil":    nil,
		"arr":    []any{int64(1), "two", []any{}},
		"nested": map[string]any{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "deep": map[string]any{"x": int64(300)}},
	}
}

func decodeAll(t *testing.T, chunk []byte, alias bool) []Event {
	t.Helper()
	d := NewDecoder(chunk, alias)
	var out []Event
	for {
		var ev Event
		err := d.Next(&ev)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, ev)
	}
}

func TestDecodeFormats(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format flbchunk.Format
		kind   flbchunk.TimeKind
		want   time.Time
	}{
		{"v1 eventtime", flbchunk.V1, flbchunk.EventTime, ts},
		{"v2 eventtime", flbchunk.V2, flbchunk.EventTime, ts},
		{"v1 int", flbchunk.V1, flbchunk.Int, time.Unix(ts.Unix(), 0)},
		{"v2 int", flbchunk.V2, flbchunk.Int, time.Unix(ts.Unix(), 0)},
		{"v1 float", flbchunk.V1, flbchunk.Float, ts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := flbchunk.New(tc.format)
			b.Time = tc.kind
			b.Add(ts, sample(), map[string]any{"otlp": map[string]any{"k": "v"}})
			b.Add(ts.Add(time.Second), map[string]any{"log": "second"}, nil)
			for _, alias := range []bool{false, true} {
				evs := decodeAll(t, b.Bytes(), alias)
				if len(evs) != 2 {
					t.Fatalf("got %d events, want 2", len(evs))
				}
				if d := evs[0].Time.Sub(tc.want); d < -time.Microsecond || d > time.Microsecond {
					t.Errorf("time = %v, want %v", evs[0].Time, tc.want)
				}
				if !reflect.DeepEqual(evs[0].Record, sample()) {
					t.Errorf("record = %#v\nwant %#v", evs[0].Record, sample())
				}
				if tc.format == flbchunk.V2 && evs[0].Meta["otlp"] == nil {
					t.Errorf("metadata lost: %#v", evs[0].Meta)
				}
				if evs[1].Meta != nil {
					t.Errorf("empty metadata should be nil, got %#v", evs[1].Meta)
				}
				// Raw is exactly the record's encoding.
				var back map[string]any
				if err := msgpack.Unmarshal(evs[1].Raw, &back); err != nil || back["log"] != "second" {
					t.Errorf("Raw does not hold the record: %v %#v", err, back)
				}
			}
		})
	}
}

func TestDecodeBinAndExt(t *testing.T) {
	// {"b": bin8 "xy", "t": EventTime, "e": ext type 5}
	rec := []byte{0x83,
		0xa1, 'b', 0xc4, 2, 'x', 'y',
		0xa1, 't', 0xd7, 0x00, 0, 0, 0, 1, 0, 0, 0, 2,
		0xa1, 'e', 0xd4, 0x05, 'z'}
	chunk := append([]byte{0x92, 0xd7, 0x00, 0, 0, 0, 10, 0, 0, 0, 0}, rec...)
	evs := decodeAll(t, chunk, false)
	if len(evs) != 1 {
		t.Fatalf("got %d events", len(evs))
	}
	r := evs[0].Record
	if r["b"] != "xy" || r["e"] != "z" || !r["t"].(time.Time).Equal(time.Unix(1, 2)) {
		t.Errorf("record = %#v", r)
	}
	if !evs[0].Time.Equal(time.Unix(10, 0)) {
		t.Errorf("time = %v", evs[0].Time)
	}
}

func TestDecodeSkipsGroupMarkers(t *testing.T) {
	b := flbchunk.New(flbchunk.V2)
	b.AddRaw(flbchunk.GroupStart())
	b.Add(ts, map[string]any{"log": "in group"}, nil)
	evs := decodeAll(t, b.Bytes(), false)
	if len(evs) != 1 || evs[0].Record["log"] != "in group" {
		t.Fatalf("events = %#v", evs)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := flbchunk.New(flbchunk.V1).Add(ts, map[string]any{"log": "x"}, nil).Bytes()
	for _, tc := range []struct {
		name  string
		chunk []byte
	}{
		{"truncated", good[:len(good)-1]},
		{"not an array", []byte{0xa1, 'x'}},
		{"array of 3", []byte{0x93, 0x01, 0x80, 0x80}},
		{"record not a map", []byte{0x92, 0x01, 0xa1, 'x'}},
		{"bad timestamp", []byte{0x92, 0xa1, 'x', 0x80}},
		{"invalid byte", []byte{0x92, 0x01, 0x81, 0xa1, 'k', 0xc1}},
		{"huge length", []byte{0x92, 0x01, 0xdf, 0xff, 0xff, 0xff, 0xff}},
		{"deep", deep(100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev Event
			err := NewDecoder(tc.chunk, false).Next(&ev)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SyntaxError", err)
			}
		})
	}
	// Good events before the garbage are returned, then the error.
	chunk := append(append([]byte{}, good...), 0xc1)
	d := NewDecoder(chunk, false)
	var ev Event
	if err := d.Next(&ev); err != nil {
		t.Fatalf("first event: %v", err)
	}
	if d.Offset() != len(good) {
		t.Errorf("offset %d, want %d", d.Offset(), len(good))
	}
	if err := d.Next(&ev); err == nil || err == io.EOF {
		t.Fatalf("garbage: err = %v", err)
	}
}

func deep(n int) []byte {
	b := []byte{0x92, 0x01, 0x81, 0xa1, 'k'}
	for range n {
		b = append(b, 0x91)
	}
	return append(b, 0x01)
}
