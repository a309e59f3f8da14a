package msgpack

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/agentobs/agentobs/collector/internal/flbchunk"
)

// TestReuseValues: with ReuseValues every event decodes to exactly what the
// allocating decoder returns, across slab blocks (more strings and integers
// than one block holds) and across a Reset onto another chunk; and the
// strings and integers cost no allocation of their own.
func TestReuseValues(t *testing.T) {
	chunk := func(n int, word string) []byte {
		b := flbchunk.New(flbchunk.V2)
		for i := range n {
			b.Add(time.Unix(1700000000, int64(i)), map[string]any{
				"msg": fmt.Sprintf("%s %d", word, i), "seq": 1000 + i, "neg": -1 - i, "big": int64(1) << 40,
				"nested": map[string]any{"s": word, "list": []any{word, i * 300, "x"}},
			}, map[string]any{"m": word})
		}
		return b.Bytes()
	}
	plain := NewDecoder(nil, true)
	reuse := NewDecoder(nil, true)
	reuse.ReuseRecord, reuse.ReuseValues = true, true
	for _, c := range [][]byte{chunk(700, "first"), chunk(300, "second")} {
		plain.Reset(c, true)
		reuse.Reset(c, true)
		for i := 0; ; i++ {
			var ev, rev Event
			err, rerr := plain.Next(&ev), reuse.Next(&rev)
			if err != rerr {
				t.Fatalf("event %d: %v, with ReuseValues %v", i, err, rerr)
			}
			if err == io.EOF {
				break
			}
			if a, b := fmt.Sprintf("%#v", ev), fmt.Sprintf("%#v", rev); a != b {
				t.Fatalf("event %d:\n%s\nwith ReuseValues\n%s", i, a, b)
			}
		}
	}
	flat := flbchunk.New(flbchunk.V2)
	for i := range 100 {
		flat.Add(time.Unix(1700000000, int64(i)), map[string]any{"msg": "step", "level": "info", "seq": 1000 + i}, nil)
	}
	c := flat.Bytes()
	var ev Event
	allocs := testing.AllocsPerRun(20, func() {
		reuse.Reset(c, true)
		for reuse.Next(&ev) == nil {
		}
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per chunk of 100 flat events, want 0 once the slabs are grown", allocs)
	}
}
