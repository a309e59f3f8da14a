package msgpack

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentobs/agentobs/collector/internal/flbchunk"
)

// FuzzDecode feeds arbitrary chunks: the decoder must never panic, never
// loop, and every event it returns must have a map record whose Raw bytes
// lie inside the chunk. Seeds live in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add(flbchunk.New(flbchunk.V1).Add(time.Unix(1, 2), map[string]any{"log": "x", "n": 1}, nil).Bytes())
	f.Add(flbchunk.New(flbchunk.V2).Add(time.Unix(1, 2), map[string]any{"a": []any{1.5, nil, true}}, map[string]any{"m": 1}).Bytes())
	f.Fuzz(func(t *testing.T, chunk []byte) {
		for _, alias := range []bool{false, true} {
			d := NewDecoder(chunk, alias)
			// reuse decodes the same chunk with ReuseRecord and ReuseValues: it must return
			// exactly what the allocating decoder returns, event by event.
			reuse := NewDecoder(chunk, alias)
			reuse.ReuseRecord, reuse.ReuseValues = true, true
			// pairs hands the pairs to a sink (NextPairs) that keeps the last of
			// each key, as the plugin's record builder does.
			pairs := NewDecoder(chunk, alias)
			pairs.ReuseValues = true
			sink := mapSink{}
			for i := 0; ; i++ {
				var ev, rev, pev Event
				err := d.Next(&ev)
				rerr := reuse.Next(&rev)
				clear(sink)
				perr := pairs.NextPairs(&pev, sink)
				if (err == nil) != (perr == nil) || err != nil && err.Error() != perr.Error() {
					t.Fatalf("event %d: error %v, with NextPairs %v", i, err, perr)
				}
				if err == nil {
					pev.Record = sink
					if a, b := fmt.Sprintf("%#v", ev), fmt.Sprintf("%#v", pev); a != b {
						t.Fatalf("event %d: %#v, with NextPairs %#v", i, ev, pev)
					}
					again := map[string]any{}
					if err := pairs.FillMap(pev.Raw, again); err != nil || fmt.Sprintf("%#v", again) != fmt.Sprintf("%#v", ev.Record) {
						t.Fatalf("event %d: FillMap %#v, %v; want %#v", i, again, err, ev.Record)
					}
				}
				if (err == nil) != (rerr == nil) || err != nil && err.Error() != rerr.Error() {
					t.Fatalf("event %d: error %v, with ReuseRecord %v", i, err, rerr)
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					var se *SyntaxError
					if !errors.As(err, &se) {
						t.Fatalf("error %T %v is not a *SyntaxError", err, err)
					}
					break
				}
				if ev.Record == nil || len(ev.Raw) == 0 {
					t.Fatalf("event %d without record", i)
				}
				// fmt, not reflect.DeepEqual: a NaN is not equal to itself.
				if a, b := fmt.Sprintf("%#v", ev), fmt.Sprintf("%#v", rev); a != b {
					t.Fatalf("event %d: %#v, with ReuseRecord %#v", i, ev, rev)
				}
				if !ev.InvalidUTF8 && hasInvalidUTF8(ev.Record) {
					t.Fatalf("event %d: InvalidUTF8 false for %#v", i, ev.Record)
				}
				if i > len(chunk) {
					t.Fatal("more events than bytes")
				}
			}
		}
	})
}

// hasInvalidUTF8 reports whether a key or string anywhere in v is not
// valid UTF-8: what Event.InvalidUTF8 false rules out.
func hasInvalidUTF8(v any) bool {
	switch x := v.(type) {
	case string:
		return !utf8.ValidString(x)
	case map[string]any:
		for k, e := range x {
			if !utf8.ValidString(k) || hasInvalidUTF8(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasInvalidUTF8(e) {
				return true
			}
		}
	}
	return false
}

// mapSink keeps the last value of every key, as a map does.
type mapSink map[string]any

func (m mapSink) Add(k string, v any) { m[k] = v }
