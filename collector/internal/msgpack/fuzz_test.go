package msgpack

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

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
			for i := 0; ; i++ {
				var ev, rev Event
				err := d.Next(&ev)
				rerr := reuse.Next(&rev)
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
				if i > len(chunk) {
					t.Fatal("more events than bytes")
				}
			}
		}
	})
}
